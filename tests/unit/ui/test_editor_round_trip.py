"""The pipeline editor changes only what the user changed: opening a pipeline, applying every stage's form
without touching it and saving stores the JSON it had, byte for byte.

The forms are submitted as a browser would: the controls are read from the rendered page (a checkbox is
sent only when checked, a text area loses the line break after its opening tag and sends CRLF line ends,
a menu sends its selected option), so what is tested is what people get. The pipelines are every config
the project's tests and examples hold: JSON files with `stages`, and the dict and list literals in test
modules that are pipeline configs or stage lists.
"""

from __future__ import annotations

import ast
import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from gennaker.model.pipeline import PipelineValidationError, assign_ref_ids
from gennaker.runtime import Runtime
from gennaker.store import codec
from gennaker.ui.stage_forms import form_fields, parse
from tests.api_support import as_user

ADMIN = as_user("admin")
APP = "roundtrip"
ROOT = Path(__file__).resolve().parents[3]
BOOKKEEPING = ("updateTs", "lastModifiedBy")


# -- the pipelines ----------------------------------------------------------------------------------------


def _literal(node: ast.AST) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def _is_stage_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(s, dict) and "type" in s for s in value)


def project_pipelines() -> list[tuple[str, dict[str, Any]]]:
    """(where, config) for every pipeline config in tests/ and examples/, each once."""
    found: list[tuple[str, dict[str, Any]]] = []
    for path in sorted([*(ROOT / "tests").rglob("*.json"), *(ROOT / "examples").rglob("*.json")]):
        try:
            data = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError):
            continue
        if isinstance(data, dict) and _is_stage_list(data.get("stages")):
            found.append((str(path.relative_to(ROOT)), data))
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Dict) and any(
                isinstance(k, ast.Constant) and k.value == "stages" for k in node.keys
            ):
                data = _literal(node)
                if isinstance(data, dict) and _is_stage_list(data.get("stages")):
                    found.append((where, data))
            elif isinstance(node, ast.List):
                data = _literal(node)
                if _is_stage_list(data) and all("refId" in s for s in data):
                    found.append((where, {"stages": data}))
    unique: dict[str, tuple[str, dict[str, Any]]] = {}
    for where, config in found:
        unique.setdefault(json.dumps(config, sort_keys=True), (where, config))
    return list(unique.values())


PIPELINES = project_pipelines()


def test_the_project_holds_pipelines_of_every_kind_to_round_trip() -> None:
    types = {s["type"] for _, config in PIPELINES for s in config["stages"]}
    assert len(PIPELINES) >= 50
    assert {"wait", "manualJudgment", "checkPreconditions", "evaluateVariables", "deployManifest"} <= types


# -- a browser ---------------------------------------------------------------------------------------------


class Page(HTMLParser):
    """The editor's controls, by the form they belong to (`form` attribute, else the enclosing form)."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.html = html
        self.controls: dict[str, list[tuple[str, str]]] = {}
        self.buttons: dict[str, list[tuple[str, str]]] = {}
        self._form: str | None = None
        self._textarea: tuple[str, str, list[str]] | None = None
        self._select: tuple[str, str, list[tuple[str, bool]]] | None = None
        self.feed(html)
        self.close()

    def _owner(self, attrs: dict[str, str | None]) -> str:
        return str(attrs.get("form") or self._form or "")

    def handle_starttag(self, tag: str, attr_list: list[tuple[str, str | None]]) -> None:
        attrs = dict(attr_list)
        name = attrs.get("name")
        if tag == "form":
            self._form = attrs.get("id")
        elif tag == "input" and name:
            kind = (attrs.get("type") or "text").lower()
            value = attrs.get("value") or ""
            if kind == "checkbox":
                if "checked" in attrs:
                    self.controls.setdefault(self._owner(attrs), []).append((name, value or "on"))
            else:
                if kind == "text":
                    value = value.replace("\r", "").replace("\n", "")  # the value sanitization of text inputs
                self.controls.setdefault(self._owner(attrs), []).append((name, value))
        elif tag == "textarea" and name:
            self._textarea = (self._owner(attrs), name, [])
        elif tag == "select" and name:
            self._select = (self._owner(attrs), name, [])
        elif tag == "option" and self._select is not None:
            self._select[2].append((attrs.get("value") or "", "selected" in attrs))
        elif tag == "button" and name:
            self.buttons.setdefault(self._owner(attrs), []).append((name, attrs.get("value") or ""))

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._textarea[2].append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "textarea" and self._textarea is not None:
            owner, name, parts = self._textarea
            text = "".join(parts)
            text = text[1:] if text.startswith("\n") else text  # the parser drops this line break
            self.controls.setdefault(owner, []).append((name, text.replace("\r\n", "\n").replace("\n", "\r\n")))
            self._textarea = None
        elif tag == "select" and self._select is not None:
            owner, name, options = self._select
            chosen = next((value for value, selected in options if selected), options[0][0] if options else "")
            self.controls.setdefault(owner, []).append((name, chosen))
            self._select = None

    def values(self, form: str, *also: str) -> list[tuple[str, str]]:
        """A form's successful controls; `also` adds the main form's controls htmx includes by name."""
        return self.controls.get(form, []) + [c for c in self.controls.get("editor", []) if c[0] in also]

    def draft(self) -> dict[str, Any]:
        return json.loads(dict(self.controls["editor"])["draft"].replace("\r\n", "\n"))

    def stage_forms(self) -> list[str]:
        return sorted((f for f in self.controls if f.startswith("stage-form-")), key=lambda f: int(f.rsplit("-", 1)[1]))


def post(api: TestClient, fields: list[tuple[str, str]], action: str) -> Page:
    body: dict[str, list[str]] = {}
    for name, value in [*fields, ("action", action)]:
        body.setdefault(name, []).append(value)
    response = api.post(f"/ui/applications/{APP}/pipelines/edit", data=body, headers={**ADMIN, "HX-Request": "true"})
    assert response.status_code == 200, response.text
    return Page(response.text)


def open_editor(api: TestClient, name: str) -> Page:
    response = api.get(f"/ui/applications/{APP}/pipelines/{quote(name, safe='')}/edit", headers=ADMIN)
    assert response.status_code == 200, response.text
    return Page(response.text)


def apply_every_stage_form(api: TestClient, page: Page) -> Page:
    """Click every stage's Apply button without changing anything."""
    for index in range(len(page.stage_forms())):
        form = f"stage-form-{index}"
        button = next(value for name, value in page.buttons.get(form, []) if name == "action")
        page = post(api, page.values(form, "draft", "csrf", "pipelineName"), button)
    return page


def save(api: TestClient, page: Page) -> Page:
    return post(api, page.values("editor"), "save")


def stored(runtime: Runtime, name: str) -> dict[str, Any]:
    with runtime.db.read() as conn:
        config = runtime.pipelines.get_by_name(conn, APP, name)
    assert config is not None
    return config


def without_bookkeeping(config: dict[str, Any]) -> str:
    return codec.dumps({k: v for k, v in config.items() if k not in BOOKKEEPING})


def store_directly(runtime: Runtime, config: dict[str, Any]) -> dict[str, Any]:
    """Store a config as it is (invalid ones too: the editor must open them unchanged as well)."""
    with runtime.db.transaction() as conn:
        if runtime.applications.get(conn, APP) is None:
            runtime.applications.save(conn, APP, {}, "admin")
        return runtime.pipelines.save(conn, assign_ref_ids(config), "admin")


# -- round trips -------------------------------------------------------------------------------------------


def test_opening_and_saving_every_project_pipeline_stores_the_same_json(api: TestClient, runtime: Runtime) -> None:
    saved_through_editor = 0
    for number, (where, original) in enumerate(PIPELINES):
        config = {**original, "application": APP, "name": f"pipeline {number}"}
        before = store_directly(runtime, config)
        page = apply_every_stage_form(api, open_editor(api, config["name"]))
        assert codec.dumps(page.draft()) == codec.dumps(before), f"the stage forms changed {where}"
        page = save(api, page)
        if "Saved." in page.html:
            saved_through_editor += 1
            assert without_bookkeeping(stored(runtime, config["name"])) == without_bookkeeping(before), where
        else:
            with pytest.raises(PipelineValidationError):  # the editor refuses what the API refuses
                runtime.save_pipeline(json.loads(json.dumps(before)), "admin")
    assert saved_through_editor >= len(PIPELINES) // 2


# -- the bugs this fixed, and edits that do change the config ------------------------------------------------

DEPLOY = {
    "refId": "1",
    "type": "deployManifest",
    "name": "Deploy",
    "account": "prod",
    "cloudProvider": "kubernetes",
    "manifests": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}}],
}
CHILD = {"refId": "2", "type": "pipeline", "name": "Child", "requisiteStageRefIds": ["1"], "pipeline": "abc"}


def _stage_form(page: Page, index: int) -> list[tuple[str, str]]:
    return page.values(f"stage-form-{index}", "draft", "csrf", "pipelineName")


def _replace(fields: list[tuple[str, str]], name: str, value: str | None) -> list[tuple[str, str]]:
    kept = [f for f in fields if f[0] != name]
    return kept if value is None else [*kept, (name, value)]


def _checkbox(html: str, stage_index: int, key: str) -> str:
    section = html.split(f'form="stage-form-{stage_index}"', 1)[1]
    return section.split(f'type="checkbox" name="f.{key}"', 1)[1].split(">", 1)[0]


def test_renaming_a_stage_writes_nothing_else(api: TestClient, runtime: Runtime) -> None:
    before = store_directly(runtime, {"application": APP, "name": "rename", "stages": [DEPLOY, CHILD]})
    page = open_editor(api, "rename")
    page = post(api, _replace(_stage_form(page, 0), "name", "Deploy web"), "stage:1")
    save(api, page)
    after = stored(runtime, "rename")
    assert after["stages"][0] == {**DEPLOY, "name": "Deploy web"}  # no skipExpressionEvaluation, no moniker
    assert after["stages"][1] == CHILD  # waitForCompletion still absent
    assert [k for k in after if k not in BOOKKEEPING] == [k for k in before if k not in BOOKKEEPING]


def test_an_unset_boolean_shows_orca_default_and_stays_unset(api: TestClient, runtime: Runtime) -> None:
    store_directly(runtime, {"application": APP, "name": "flags", "stages": [DEPLOY, CHILD]})
    html = api.get(f"/ui/applications/{APP}/pipelines/flags/edit", headers=ADMIN).text
    assert "checked" not in _checkbox(html, 0, "skipExpressionEvaluation")  # Orca's default: false
    assert "checked" in _checkbox(html, 1, "waitForCompletion")  # Orca's default: true
    page = save(api, apply_every_stage_form(api, Page(html)))
    assert "Saved." in page.html
    after = stored(runtime, "flags")
    assert "skipExpressionEvaluation" not in after["stages"][0] and "waitForCompletion" not in after["stages"][1]


def test_clicking_a_checkbox_writes_the_flag(api: TestClient, runtime: Runtime) -> None:
    store_directly(runtime, {"application": APP, "name": "click", "stages": [DEPLOY, CHILD]})
    page = open_editor(api, "click")
    fields = _stage_form(page, 1)
    assert ("f.waitForCompletion", "true") in fields
    unchecked = [f for f in fields if f != ("f.waitForCompletion", "true")]
    page = post(api, unchecked, "stage:2")
    fields = [*_stage_form(page, 0), ("f.skipExpressionEvaluation", "true")]
    draft = post(api, fields, "stage:1").draft()
    assert draft["stages"][1]["waitForCompletion"] is False
    assert draft["stages"][0]["skipExpressionEvaluation"] is True


def test_cleared_fields_are_removed_and_edited_ones_parsed(api: TestClient, runtime: Runtime) -> None:
    wait = {"refId": "1", "type": "wait", "name": "Pause", "waitTime": 30, "comments": "kept"}
    store_directly(runtime, {"application": APP, "name": "edits", "stages": [wait]})
    page = open_editor(api, "edits")
    assert ("f.waitTime", "30") in _stage_form(page, 0)
    draft = post(api, _replace(_stage_form(page, 0), "f.waitTime", ""), "stage:1").draft()
    assert draft["stages"][0] == {"refId": "1", "type": "wait", "name": "Pause", "comments": "kept"}
    page = post(api, _replace(_stage_form(page, 0), "f.waitTime", "${parameters.pause}"), "stage:1")
    assert page.draft()["stages"][0]["waitTime"] == "${parameters.pause}"
    typo = post(api, _replace(_stage_form(page, 0), "f.waitTime", "soon"), "stage:1")
    assert typo.draft()["stages"][0]["waitTime"] == "soon"  # kept as typed; the validation names the problem
    assert "waitTime: must be a number from 0 to 31622400, or an expression, not &#39;soon&#39;" in typo.html


def test_a_value_the_widget_cannot_show_is_shown_as_text_and_kept(api: TestClient, runtime: Runtime) -> None:
    child = {**CHILD, "requisiteStageRefIds": [], "waitForCompletion": "${parameters.wait}"}
    store_directly(runtime, {"application": APP, "name": "expr", "stages": [child]})
    page = open_editor(api, "expr")
    assert ("f.waitForCompletion", "${parameters.wait}") in _stage_form(page, 0)
    assert post(api, _stage_form(page, 0), "stage:2").draft()["stages"][0] == child
    edited = post(api, _replace(_stage_form(page, 0), "f.waitForCompletion", "false"), "stage:2")
    assert edited.draft()["stages"][0]["waitForCompletion"] is False


# Values of every shape a stage may hold where a form field is: the widgets must show each so that an
# unchanged submit gives it back (or fall back to text or YAML when they cannot).
AWKWARD: list[Any] = [
    None,
    "${parameters.x}",
    "  padded  ",
    "two\nlines\r\nand a CR",
    "<b>tag</b> & 'single' \"double\" ${x}",
    "",
    "30",
    "1e30",
    "false",
    1.5,
    0,
    True,
    False,
    [],
    {},
    [{"value": "a, b"}, {"value": " c"}, {"value": "d", "extra": 1}],
    [{"key": "k", "value": 5, "description": "d"}, {"key": "a=b", "value": "x"}],
    {"nested": {"list": [1, "two", None, 2.5]}, "unicode": "é ✓"},
    [{"kind": "ConfigMap"}, "${manifest}", None],
]


def _with(stage: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    *parents, last = key.split(".")
    target = stage
    for part in parents:
        target = target.setdefault(part, {})
    target[last] = value
    return stage


@pytest.mark.parametrize("value", AWKWARD, ids=[f"v{i}" for i in range(len(AWKWARD))])
def test_any_value_in_any_form_field_survives_opening_and_applying(
    api: TestClient, runtime: Runtime, value: Any
) -> None:
    schemas = runtime.registry.context_schemas()
    stages = []
    for number, stage_type in enumerate(sorted(runtime.registry.stages)):
        stage: dict[str, Any] = {"refId": str(number), "type": stage_type, "name": f"{stage_type} {number}"}
        for field in form_fields(schemas[stage_type]):
            _with(stage, field.key, json.loads(json.dumps(value)))
        stages.append(stage)
    name = f"awkward {AWKWARD.index(value)}"
    before = store_directly(runtime, {"application": APP, "name": name, "stages": stages})
    page = apply_every_stage_form(api, open_editor(api, name))
    assert codec.dumps(page.draft()) == codec.dumps(before)


# -- what a user types is read within budgets -----------------------------------------------------------------


def _alias_bomb(levels: int) -> str:
    """A few hundred bytes of YAML aliases that stand for 10**levels items."""
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, levels)]
    return "\n".join(lines)


@pytest.mark.parametrize("kind", ["yaml", "documents"])
def test_yaml_fields_refuse_alias_bombs_and_deep_nesting(kind: str) -> None:
    with pytest.raises(ValueError, match="aliases expanded"):
        parse(kind, _alias_bomb(9))
    with pytest.raises(ValueError, match="nests deeper"):
        parse(kind, "[" * 5000)
    assert parse(kind, "a: &a [1]\nb: *a\n") == ({"a": [1], "b": [1]} if kind == "yaml" else [{"a": [1], "b": [1]}])


def test_json_fields_refuse_deep_nesting() -> None:
    with pytest.raises(ValueError, match="nests too deeply"):
        parse("json", "[" * 100_000)
