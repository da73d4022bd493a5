"""Template behaviours that no single conformance case shows (orca.md §5)."""

from __future__ import annotations

from gennaker.expressions import Expressions, plain_root, stage_root

EXPRESSIONS = Expressions()


def test_map_keys_are_evaluated() -> None:
    source = {"${replaceMe}": "somevalue", "${replaceMe}again": {"inner": "${replaceMe}"}}
    result = EXPRESSIONS.process(source, plain_root({"replaceMe": "newVal"})).value
    assert result == {"newVal": "somevalue", "newValagain": {"inner": "newVal"}}


def test_whole_typed_composite_text_and_failures_in_the_summary() -> None:
    root = plain_root({"n": 17, "flag": True})
    result = EXPRESSIONS.process({"a": "${n}", "b": "n=${n}", "c": "${missing}", "comments": "${n.nope()}"}, root)
    assert result.value == {"a": 17, "b": "n=17", "c": "${missing}", "comments": "${n.nope()}"}
    assert result.summary["missing"][0]["level"] == "INFO"
    error = result.summary["n.nope()"][0]
    assert error["level"] == "ERROR" and error["description"].startswith("Failed to evaluate [comments]")
    assert "$" not in error["description"]


def test_escaping_a_template_marker_with_a_string_literal() -> None:
    assert EXPRESSIONS.process("${'${'}literal}", plain_root({})).value == "${literal}"


def test_unknown_keys_forbidden_at_trigger_time() -> None:
    strict = EXPRESSIONS.process("${trigger.nope}", plain_root({"trigger": {}}), allow_unknown_keys=False)
    assert strict.value == "${trigger.nope}" and strict.summary["trigger.nope"][0]["level"] == "ERROR"


def test_ancestor_outputs_are_a_fallback_for_missing_keys() -> None:
    execution = {
        "id": "e",
        "trigger": {"parameters": {"p": "1"}},
        "stages": [
            {
                "id": "a",
                "refId": "1",
                "type": "evaluateVariables",
                "status": "SUCCEEDED",
                "context": {},
                "outputs": {"fromA": "x", "shadowed": "a"},
                "requisiteStageRefIds": [],
            },
            {
                "id": "b",
                "refId": "2",
                "type": "wait",
                "status": "RUNNING",
                "context": {"shadowed": "own"},
                "outputs": {},
                "requisiteStageRefIds": ["1"],
            },
            {
                "id": "c",
                "refId": "3",
                "type": "wait",
                "status": "SUCCEEDED",
                "context": {},
                "outputs": {"unrelated": "no"},
                "requisiteStageRefIds": [],
            },
        ],
    }
    root = stage_root(execution, execution["stages"][1])
    result = EXPRESSIONS.process(["${fromA}", "${shadowed}", "${unrelated}", "${parameters.p}"], root).value
    assert result == ["x", "own", "${unrelated}", "1"]


def test_evaluate_variables_sees_earlier_variables() -> None:
    variables = [{"key": "a", "value": "${10}"}, {"key": "b", "value": "${a * 2}"}, {"key": "c", "value": "${nope.x}"}]
    evaluated, summary = EXPRESSIONS.evaluate_variables(variables, plain_root({}))
    assert [v["value"] for v in evaluated] == [10, 20, "${nope.x}"]
    assert evaluated[1]["sourceValue"] == "{a * 2}" and "nope.x" in summary


def test_stage_enabled_needs_a_literal_true() -> None:
    root = plain_root({"parameters": {"deploy": "true"}, "count": 2})
    assert EXPRESSIONS.stage_enabled("parameters.deploy == 'true'", root)
    assert not EXPRESSIONS.stage_enabled("count", root)
    assert not EXPRESSIONS.stage_enabled("broken(", root)


def test_dates_and_allowed_types() -> None:
    root = plain_root({})
    today = EXPRESSIONS.evaluate("T(java.time.LocalDate).now().toString()", root)
    assert len(today) == 10 and today[4] == "-"
    formatted = EXPRESSIONS.evaluate("new java.text.SimpleDateFormat('yyyy-MM-dd').format(new java.util.Date(0))", root)
    assert formatted == "1970-01-01"
    assert (
        EXPRESSIONS.evaluate("T(java.time.LocalDate).parse('2026-01-30').plusMonths(1).toString()", root)
        == "2026-02-28"
    )
    assert EXPRESSIONS.evaluate("T(Math).max(3, 7) + T(java.lang.Integer).parseInt('5')", root) == 12
    assert EXPRESSIONS.evaluate("T(java.net.URLEncoder).encode('a b&c', 'UTF-8')", root) == "a+b%26c"
