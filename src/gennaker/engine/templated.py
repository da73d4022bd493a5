"""Templated pipelines (managed pipeline templates v2) against the stored templates: planning one before it
runs, checking one when it is saved, and saving and deleting the templates themselves with their checks.

The rules live in `gennaker.model.pipeline_templates` and the copies in `gennaker.store.templates`; this
joins them to the expression language and to a database connection the caller holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import Connection

from gennaker.engine.registry import Registry
from gennaker.expressions import Expressions, plain_root
from gennaker.model.pipeline import FieldError
from gennaker.model.pipeline_templates import (
    SCHEMA,
    Evaluate,
    Summary,
    TemplateError,
    TemplateReference,
    parse_reference,
    plan,
    references,
    save_problems,
    tag_problems,
    template_key,
    template_problems,
)
from gennaker.store.templates import TemplateConflict, TemplateStore


def template_evaluator(expressions: Expressions) -> Evaluate:
    """Template rendering's use of the expression language: plain map roots, `strict` = no unknown keys."""

    def evaluate(value: Any, root: Mapping[str, Any], *, strict: bool) -> tuple[Any, Summary]:
        processed = expressions.process(value, plain_root(root), allow_unknown_keys=not strict)
        return processed.value, processed.summary

    return evaluate


class PipelineTemplates:
    def __init__(self, expressions: Expressions | None = None, store: TemplateStore | None = None):
        self.store = store or TemplateStore()
        self.evaluate = template_evaluator(expressions or Expressions())

    def plan(
        self,
        conn: Connection,
        config: Mapping[str, Any],
        trigger: Mapping[str, Any] | None = None,
        *,
        planning: bool = False,
    ) -> dict[str, Any]:
        """The plain pipeline a templated config renders to with the stored templates; raises TemplateError."""
        return plan(config, lambda ref: self.store.resolve(conn, ref), self.evaluate, trigger, planning=planning)

    def save_problems(self, conn: Connection, config: Mapping[str, Any], errors: list[FieldError]) -> list[FieldError]:
        """The errors of a templated config about to be saved (see `pipeline_templates.save_problems`)."""
        return save_problems(config, errors, lambda ref: self.store.resolve(conn, ref), self.evaluate)

    def save(
        self,
        conn: Connection,
        template: Mapping[str, Any],
        tag: str | None,
        user: str | None,
        *,
        create: bool,
        registry: Registry,
        plan_dependents: bool = True,
    ) -> dict[str, Any]:
        """Check and store a template (the tag comes from `tag`, else the body's `tag`; a missing `schema` is
        `v2`; its stages are checked with the `registry`'s stage types and schemas). Unless `plan_dependents`
        is off, the pipelines using a copy this save rewrites must still render. Raises TemplateError (400) or
        TemplateConflict (`create` of an existing key)."""
        content = dict(template)
        body_tag = content.pop("tag", None)
        tag = tag or (body_tag if isinstance(body_tag, str) and body_tag else None)
        content.setdefault("schema", SCHEMA)
        if content["schema"] != SCHEMA:
            raise TemplateError([FieldError("schema", "Pipeline template schema version is invalid")])
        errors = tag_problems(tag) + template_problems(content, registry.stage_types, registry.context_schemas())
        if errors:
            raise TemplateError(errors)
        if plan_dependents:
            self._check_dependents(conn, content, tag)
        return self.store.save(conn, content, tag, user, create=create)

    def _check_dependents(self, conn: Connection, template: dict[str, Any], tag: str | None) -> None:
        template_id = str(template["id"])
        rewritten = {template_key(template_id, tag), template_key(template_id, "latest")}

        def fetch(reference: TemplateReference) -> dict[str, Any] | None:
            return template if reference.key in rewritten else self.store.resolve(conn, reference)

        broken: list[FieldError] = []
        for config in self.store.dependents(conn, template_id):
            reference = references(config) or ""
            if parse_reference(reference).key not in rewritten:
                continue
            try:
                plan(config, fetch, self.evaluate, planning=True)
            except TemplateError as error:
                where = f"dependents[{config.get('application')}/{config.get('name')}]"
                broken += [FieldError(where, f"{e.field}: {e.problem}") for e in error.errors]
        if broken:
            raise TemplateError(broken)

    def delete(self, conn: Connection, template_id: str, tag: str | None = None, digest: str | None = None) -> bool:
        """Delete one stored copy, unless pipeline configs use it (TemplateConflict)."""
        users = self.store.dependents(conn, template_id, template_key(template_id, tag, digest))
        if users:
            names = ", ".join(f"{c.get('application')}/{c.get('name')}" for c in users)
            raise TemplateConflict(f"The following pipeline configs depend on this template: {names}")
        return self.store.delete(conn, template_id, tag, digest)
