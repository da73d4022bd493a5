"""References, digests, template checks, and the stored copies (echo-igor.md §6.1, §6.2, §6.4)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Connection

from gennaker.engine.templated import PipelineTemplates
from gennaker.model.pipeline import FieldError
from gennaker.model.pipeline_templates import (
    Evaluate,
    TemplateError,
    TemplateReference,
    parse_reference,
    save_problems,
    template_digest,
    template_problems,
)
from gennaker.runtime import Runtime
from gennaker.store.templates import TemplateConflict, TemplateStore
from tests.support import make_runtime
from tests.unit.templates.builders import config, template


# -- references and digests ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("spinnaker://deploy", TemplateReference("deploy")),
        ("spinnaker://deploy:stable", TemplateReference("deploy", tag="stable")),
        ("spinnaker://deploy@sha256:" + "a" * 64, TemplateReference("deploy", digest="a" * 64)),
    ],
)
def test_references(text: str, expected: TemplateReference) -> None:
    assert parse_reference(text) == expected
    assert str(expected) == text


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("spinnaker://a:b:c", "Malformed Front50 artifact reference: spinnaker://a:b:c"),
        ("spinnaker://a:b@sha256:" + "a" * 64, "Malformed Front50 artifact reference"),
        ("spinnaker://a@md5:abc", "Malformed Front50 artifact reference"),
        ("github://org/repo/template.json", "it must start with spinnaker://"),
        ("", "is required"),
    ],
)
def test_bad_references(text: str, problem: str) -> None:
    with pytest.raises(TemplateError) as error:
        parse_reference(text)
    assert error.value.errors[0].field == "template.reference" and problem in error.value.errors[0].problem


def test_the_digest_ignores_key_order_white_space_and_bookkeeping() -> None:
    one = {"id": "t", "pipeline": {"stages": [], "description": "a b"}, "schema": "v2"}
    two = {"schema": "v2", "pipeline": {"description": "ab", "stages": []}, "id": "t", "lastModified": 5, "tag": "x"}
    assert template_digest(one) == template_digest(two)
    assert template_digest(one) != template_digest({**one, "id": "u"})
    assert len(template_digest(one)) == 64


# -- template checks -------------------------------------------------------------------------------------------
def test_a_good_template_has_no_problems() -> None:
    assert template_problems(template(), {"wait"}, {}) == []


def test_template_problems() -> None:
    bad = template(
        schema="v1",
        id="has:colon",
        protect="yes",
        variables=[{"name": "bad-name"}, {"name": "ok"}, {"name": "ok"}],
    )
    bad["pipeline"]["stages"].append({"refId": "x", "type": "nope", "inject": {"after": "wait1"}})
    found = {(e.field, e.problem) for e in template_problems(bad, {"wait"}, {})}
    assert ("schema", "template schema version is unsupported: expected 'v2', got 'v1'") in found
    assert any(field == "id" for field, _ in found)
    assert ("protect", "must be true or false") in found
    assert ("variables[0].name", "must match ^[a-zA-Z0-9_]+$") in found
    assert ("variables[2].name", "duplicate variable 'ok'") in found
    assert ("pipeline.stages[2].inject", "after must be a list of stage refIds") in found
    assert ("pipeline.stages[2].type", "unknown stage type 'nope'") in found
    assert [e.field for e in template_problems({"schema": "v2", "id": "t"})] == ["pipeline"]


# -- saving a templated config: requisites on template stages are fine ----------------------------------------------
def test_save_problems_accept_requisites_on_template_stages(evaluate: Evaluate) -> None:
    added = {"refId": "x", "type": "wait", "waitTime": 1, "requisiteStageRefIds": ["wait1", "ghost"]}
    plain = [
        FieldError("stages[0].requisiteStageRefIds[0]", "no stage has refId 'wait1'"),
        FieldError("stages[0].requisiteStageRefIds[1]", "no stage has refId 'ghost'"),
    ]
    found = save_problems(config(stages=[added]), plain, lambda _: template(), evaluate)
    assert found[0] == plain[1]  # a requisite no stage has stays an error
    assert [e.field for e in found] == ["stages[0].requisiteStageRefIds[1]", "stages"]


def test_save_problems_name_a_missing_template(evaluate: Evaluate) -> None:
    assert save_problems(config(), [], lambda _: None, evaluate) == [
        FieldError("template.reference", "Configured pipeline template not found: spinnaker://deploy-service")
    ]


# -- stored copies ---------------------------------------------------------------------------------------------
def stored(store: TemplateStore, conn: Connection, **version: str) -> dict[str, Any]:
    found = store.get(conn, "deploy-service", **version)
    assert found is not None
    return found


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    rt = make_runtime(tmp_path)
    yield rt
    rt.close()


@pytest.fixture
def conn(runtime: Runtime) -> Iterator[Connection]:
    with runtime.db.transaction() as connection:
        yield connection


def test_a_save_writes_the_plain_latest_and_digest_copies(conn: Connection) -> None:
    store = TemplateStore()
    saved = store.save(conn, template(), None, "ann", create=True)
    digest = saved["digest"]
    copies = store.copies(conn)  # by key: `<id>`, `<id>:latest`, `<id>@sha256:<digest>`
    assert [(c.get("tag"), c["digest"]) for c in copies] == [(None, digest), ("latest", digest), (None, digest)]
    assert store.get(conn, "deploy-service") == {k: v for k, v in saved.items() if k not in ("tag", "digest")}
    assert store.get(conn, "deploy-service", tag="latest") is not None
    assert stored(store, conn, digest=digest)["lastModifiedBy"] == "ann"
    with pytest.raises(TemplateConflict, match="A pipeline template with the id deploy-service already exists"):
        store.save(conn, template(), None, "ann", create=True)


def test_tags_and_digests_keep_versions(conn: Connection) -> None:
    store = TemplateStore()
    first = store.save(conn, template(), "stable", "ann", create=True)
    assert store.get(conn, "deploy-service") is None  # only the tagged copies exist
    changed = template(metadata={"name": "v2 of it"})
    second = store.save(conn, changed, "stable", "bob", create=False)
    assert first["digest"] != second["digest"]
    assert stored(store, conn, tag="stable")["metadata"]["name"] == "v2 of it"
    assert stored(store, conn, tag="latest")["metadata"]["name"] == "v2 of it"
    assert stored(store, conn, digest=first["digest"])["metadata"]["name"] == "Deploy service"
    assert store.versions(conn)["deploy-service"][0]["id"] == "deploy-service"
    assert store.copies(conn, ["GLOBAL"]) and store.copies(conn, ["other"]) == []


def test_saving_checks_tags_schema_stages_and_dependents(runtime: Runtime, conn: Connection) -> None:
    templates = PipelineTemplates(runtime.expressions)
    with pytest.raises(TemplateError, match="The provided tag newest is not supported"):
        templates.save(conn, template(), "newest", "ann", create=True, registry=runtime.registry)
    with pytest.raises(TemplateError, match="Pipeline template schema version is invalid"):
        templates.save(conn, template(schema="v1"), None, "ann", create=True, registry=runtime.registry)
    schemaless = template()
    del schemaless["schema"]
    saved = templates.save(conn, {**schemaless, "tag": "test"}, None, "ann", create=True, registry=runtime.registry)
    assert saved["schema"] == "v2" and saved["tag"] == "test"  # the body's tag, and v2 by default

    runtime.pipelines.save(conn, config(), "ann")
    broken = template(variables=[{"name": "needed"}])
    with pytest.raises(TemplateError) as error:
        templates.save(conn, broken, None, "ann", create=False, registry=runtime.registry)
    assert error.value.errors[0].field == "dependents[shop/Deploy]"
    assert "Missing variable values for: needed" in error.value.errors[0].problem
    templates.save(conn, broken, None, "ann", create=False, registry=runtime.registry, plan_dependents=False)


def test_a_copy_in_use_cannot_be_deleted(runtime: Runtime, conn: Connection) -> None:
    templates = PipelineTemplates(runtime.expressions)
    templates.save(conn, template(), None, "ann", create=True, registry=runtime.registry)
    runtime.pipelines.save(conn, config(), "ann")
    runtime.pipelines.save(
        conn, config(name="Other", id="config-2", template={"reference": "spinnaker://deploy-service-2"}), "ann"
    )
    assert [c["name"] for c in templates.store.dependents(conn, "deploy-service")] == ["Deploy"]
    with pytest.raises(TemplateConflict, match="The following pipeline configs depend on this template: shop/Deploy"):
        templates.delete(conn, "deploy-service")
    assert templates.delete(conn, "deploy-service", tag="latest")
    assert not templates.delete(conn, "deploy-service", tag="latest")


@pytest.mark.postgres
def test_copies_and_dependents_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    rt = make_runtime(tmp_path, postgres_url)
    try:
        with rt.db.transaction() as conn:
            templates = PipelineTemplates(rt.expressions)
            saved = templates.save(conn, template(), "stable", "ann", create=True, registry=rt.registry)
            rt.pipelines.save(conn, config(template={"reference": "spinnaker://deploy-service:stable"}), "ann")
            rt.pipelines.save(
                conn, config(name="Other", id="config-2", template={"reference": "spinnaker://deploy_x"}), "ann"
            )
        with rt.db.read() as conn:
            assert stored(templates.store, conn, digest=saved["digest"])["id"] == "deploy-service"
            assert [c["name"] for c in templates.store.dependents(conn, "deploy-service")] == ["Deploy"]
            assert templates.plan(conn, rt.pipelines.get(conn, "config-1") or {})["stages"][0]["waitTime"] == 30
    finally:
        rt.close()
