"""`gennaker pipeline-template …`: managed pipeline templates (v2), as `spin pipeline-template` (echo-igor.md §6.5).

`save`, `get`, `list`, `delete` and `plan` act on the local database or the server (`gennaker login`); `use`
works offline and prints the skeleton of a pipeline config that uses a template.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from gennaker.cli.common import backend, console, fail, load_document, print_json, reports_errors
from gennaker.model.pipeline_templates import ARTIFACT_ACCOUNT, ARTIFACT_TYPE, REFERENCE_PREFIX, SCHEMA, template_key

app = typer.Typer(help="Managed pipeline templates (v2), in Spinnaker's JSON shape.", no_args_is_help=True)


FILE = typer.Option(..., "-f", "--file", exists=True, dir_okay=False, help="JSON or YAML")


@app.command("save")
@reports_errors
def save(
    file: Path = FILE,
    tag: str | None = typer.Option(None, "--tag", help="latest, stable, unstable, experimental, test or canary"),
) -> None:
    """Create a template, or replace the stored one with the same id (and tag)."""
    saved = backend().save_template(load_document(file, "pipeline template"), tag)
    key = template_key(str(saved.get("id")), saved.get("tag"))
    console.print(f"saved pipeline template [bold]{key}[/bold] (sha256:{saved.get('digest')})")


@app.command("get")
@reports_errors
def get(
    template_id: str = typer.Argument(..., metavar="ID"),
    tag: str | None = typer.Option(None, "--tag"),
    digest: str | None = typer.Option(None, "--digest", help="The sha256 digest (hex) of a saved content"),
) -> None:
    """Print a template as JSON: the plain id's copy, or the copy of a tag or digest."""
    if tag and digest:
        raise fail("give --tag or --digest, not both")
    found = backend().template(template_id, tag, digest)
    if found is None:
        raise fail(f"pipeline template {template_key(template_id, tag, digest)} not found")
    print_json(found)


@app.command("list")
@reports_errors
def list_templates(
    scopes: list[str] = typer.Option([], "--scopes", help="Only templates in these scopes; repeatable"),
    output: str = typer.Option("table", "-o", "--output", help="table or json"),
) -> None:
    """List every stored copy of the templates: plain id, tags and digests."""
    copies = backend().templates([s for value in scopes for s in value.split(",") if s])
    if output == "json":
        print_json(copies)
        return
    table = Table("ID", "TAG", "DIGEST", "NAME", "SCOPES", "UPDATED BY")
    for copy in copies:
        found = copy.get("metadata")
        metadata: dict[str, Any] = found if isinstance(found, dict) else {}
        table.add_row(
            str(copy.get("id")),
            str(copy.get("tag") or ""),
            str(copy.get("digest") or "")[:12],
            str(metadata.get("name") or ""),
            ",".join(str(s) for s in metadata.get("scopes") or []),
            str(copy.get("lastModifiedBy") or ""),
        )
    console.print(table)


@app.command("plan")
@reports_errors
def plan(file: Path = FILE) -> None:
    """Print the pipeline a templated pipeline config renders to (the one that would run)."""
    print_json(backend().plan_pipeline(load_document(file, "pipeline config")))


@app.command("delete")
@reports_errors
def delete(
    template_id: str = typer.Argument(..., metavar="ID"),
    tag: str | None = typer.Option(None, "--tag"),
    digest: str | None = typer.Option(None, "--digest"),
) -> None:
    """Delete one stored copy of a template (refused while pipelines use it)."""
    if tag and digest:
        raise fail("give --tag or --digest, not both")
    key = template_key(template_id, tag, digest)
    if not backend().delete_template(template_id, tag, digest):
        raise fail(f"pipeline template {key} not found")
    console.print(f"deleted pipeline template {key}")


def parse_sets(values: list[str]) -> dict[str, str]:
    """`--set a=1,b=2` (repeatable) as string values."""
    found: dict[str, str] = {}
    for value in values:
        for pair in value.split(","):
            key, sep, item = pair.partition("=")
            if not sep or not key.strip():
                raise ValueError(f"--set '{pair}' must look like KEY=VALUE")
            found[key.strip()] = item
    return found


@app.command("use")
@reports_errors
def use(
    template_id: str = typer.Argument(..., metavar="ID"),
    application: str = typer.Option(..., "-a", "--application"),
    name: str = typer.Option(..., "-n", "--name"),
    tag: str | None = typer.Option(None, "-t", "--tag"),
    description: str = typer.Option("", "-d", "--description"),
    template_type: str = typer.Option(ARTIFACT_TYPE, "--type"),
    artifact_account: str = typer.Option(ARTIFACT_ACCOUNT, "--artifact-account"),
    sets: list[str] = typer.Option([], "--set", help="KEY=VALUE[,KEY=VALUE…]; repeatable; wins over --values"),
    values: list[Path] = typer.Option([], "--values", exists=True, dir_okay=False, help="JSON or YAML; repeatable"),
) -> None:
    """Print a pipeline config that uses the template (nothing is saved; edit it, then `pipeline save`)."""
    variables: dict[str, Any] = {}
    for path in values:
        variables.update(load_document(path, "variables"))
    variables.update(parse_sets(sets))
    reference = template_id if "://" in template_id else REFERENCE_PREFIX + template_key(template_id, tag)
    print_json(
        {
            "template": {"artifactAccount": artifact_account, "type": template_type, "reference": reference},
            "schema": SCHEMA,
            "application": application,
            "name": name,
            "description": description,
            "variables": variables,
            "exclude": [],
            "triggers": [],
            "parameters": [],
            "notifications": [],
            "stages": [],
        }
    )
