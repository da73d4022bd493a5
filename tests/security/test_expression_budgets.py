"""Expression budgets hold for every operation: anyone who may read a pipeline can evaluate an expression
(`GET /pipelines/{id}/evaluateExpression`), so no single expression may stall the server or exhaust its memory.

Each attack must end in a clear ExpressionError. That the refusal comes *before* the work is checked by the
memory the evaluation allocates (tracemalloc), not by timing; the clock test drives a fake clock.
"""

from __future__ import annotations

import threading
import tracemalloc
from typing import Any

import pytest

from gennaker.expressions import ExpressionError, Expressions, compiler, javalike, plain_root
from gennaker.expressions.limits import MAX_DEPTH, MAX_TEXT
from tests.security.conftest import Server
from tests.support import wait_status

PEAK_BYTES = 8_000_000  # far below what any of these attacks builds when it is not refused up front


def deep_list(levels: int) -> Any:
    value: Any = []
    for _ in range(levels):
        value = [value]
    return value


ROOT = plain_root(
    {
        "S": "a" * 5_000,
        "commas": "," * 200_000,
        "huge": 2**100_000,
        "deep": deep_list(MAX_DEPTH + 50),
    }
)
TEN = "{1,2,3,4,5,6,7,8,9,10}"
A150, A200 = "'" + "a" * 150 + "'", "'" + "a" * 200 + "'"  # S.replace('a', A150) has 750,000 characters


def refused(expression: str, root: Any = ROOT, expressions: Expressions | None = None) -> str:
    """The error message of an expression that must fail, after checking it was refused cheaply. The clock is
    generous here (tracing memory is slow): each test meets the budget it is about, not the wall clock."""
    evaluator = expressions or Expressions(time_limit_s=600)
    tracemalloc.start()
    try:
        with pytest.raises(ExpressionError) as caught:
            evaluator.evaluate(expression, root)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < PEAK_BYTES, f"refusing {expression[:60]!r} allocated {peak} bytes first"
    return str(caught.value)


def billion_laughs(levels: int) -> str:
    """A one-line YAML document of a few hundred characters whose aliases expand to 10 * 9**(levels + 1)."""
    entries = ["l0: &l0 [" + ",".join(["xxxxxxxxxx"] * 9) + "]"]
    entries += [f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, levels + 1)]
    return "{" + ", ".join(entries) + "}"


# -- integers: (9^4096)^4096 held the GIL for minutes -------------------------------------------------------------
@pytest.mark.parametrize(
    "expression",
    [
        "(9^4096)^4096",  # the reported attack
        "9^4096",
        "(9^4096)^2",
        "2^64",
        "(-2)^64",
        "huge * huge",
        "huge + 1",
        "-huge",
        "huge ^ 2",
    ],
)
def test_integer_power_and_huge_operands_are_refused_before_computing(expression: str) -> None:
    assert "integer overflow" in refused(expression)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("9223372036854775807 + 1", None),
        ("-9223372036854775807 - 2", None),
        ("3037000500 * 3037000500", None),
        ("99999999999999999999", None),
        ("2^62", 2**62),
        ("(-2)^63", -(2**63)),
        ("3^39", 3**39),
        ("9223372036854775807 - 1", 2**63 - 2),
        ("T(Long).parseLong('9223372036854775807')", 2**63 - 1),
    ],
)
def test_integers_stay_within_a_java_long(expression: str, expected: int | None) -> None:
    if expected is None:
        with pytest.raises(ExpressionError, match=r"overflow|cannot be parsed as a long"):
            Expressions().evaluate(expression, ROOT)
    else:
        assert Expressions().evaluate(expression, ROOT) == expected


@pytest.mark.parametrize(
    "expression", ["T(Long).parseLong('99999999999999999999')", "#toInt('1' + S)", "T(Integer).parseInt(S, 16)"]
)
def test_parsing_an_integer_beyond_a_long_is_a_number_format_error(expression: str) -> None:
    assert "NumberFormatException" in refused(expression)


def test_float_powers_follow_java_instead_of_raising() -> None:
    evaluate = Expressions().evaluate
    assert evaluate("10.0 ^ 400", ROOT) == float("inf")
    assert evaluate("T(Math).pow(-10, 401)", ROOT) == float("-inf")
    assert str(evaluate("T(Math).pow(-8, 0.5)", ROOT)) == "nan"


# -- YAML: aliases and merge keys ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "expression",
    [
        "#readYaml(#root.doc)",
        "#toJson(#readYaml(#root.doc))",
        "#readYaml(#root.doc).toString()",
        "#readYaml(#root.doc).hashCode()",
        "#readAllYaml(#root.doc)",
    ],
)
def test_yaml_alias_bomb_is_refused(expression: str) -> None:
    document = billion_laughs(5)  # about 350 characters standing for 5 million
    assert len(document) < 500
    message = refused(expression, plain_root({"doc": document}))
    assert message == f"YAML input (YAML, aliases expanded) is larger than {MAX_TEXT} characters"


def test_yaml_merge_key_bomb_is_refused_before_merging() -> None:
    lines = ["m0: &m0 {k0: 1, k1: 2}"] + [f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}]}}" for i in range(1, 21)]
    assert "aliases expanded) is larger than" in refused("#readYaml(#root.doc)", plain_root({"doc": "\n".join(lines)}))


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("&a [*a]", "contains itself"),
        ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), f"nests deeper than {MAX_DEPTH} levels"),
        ("a: " + "x" * MAX_TEXT, f"longer than {MAX_TEXT} characters"),
    ],
)
def test_recursive_deep_or_long_yaml_is_refused(document: str, message: str) -> None:
    assert message in refused("#readYaml(#root.doc)", plain_root({"doc": document}))


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), f"nests deeper than {MAX_DEPTH} levels"),
        ('{"a": "' + "x" * MAX_TEXT + '"}', f"longer than {MAX_TEXT} characters"),
    ],
)
def test_deep_or_long_json_is_refused(document: str, message: str) -> None:
    assert message in refused("#readJson(#root.doc)", plain_root({"doc": document}))


def test_plain_yaml_with_aliases_still_reads() -> None:
    assert Expressions().evaluate("#readYaml('{base: &b [x, y], copy: *b}')", ROOT) == {
        "base": ["x", "y"],
        "copy": ["x", "y"],
    }


# -- strings and lists: sized before they are built -----------------------------------------------------------------
@pytest.mark.parametrize(
    "expression",
    [
        "S.replace('a', S)",  # the reported attack: 25 million characters
        "S.replace('', S)",
        "S.replaceAll('a', S)",
        "S.replaceAll('(a)', S)",
        "S.replace('a', S.replace('a', 'aaaaaaaaaa'))",
        f"S.replace('a', {A150}).concat(S.replace('a', {A150}))",
        f"S.replace('a', {A150}) + S.replace('a', {A150})",
        "T(String).join(S, #root.S.split(''))",
        f"#toBase64(S.replace('a', {A200}))",
    ],
)
def test_long_strings_are_refused_before_they_are_built(expression: str) -> None:
    assert f"result would exceed {MAX_TEXT} characters" in refused(expression)


@pytest.mark.parametrize(
    "expression",
    ["commas.split(',', -1)", "commas.split(',+?', -1)", "(commas + S).toCharArray()", "commas.replaceAll('(,)', 'x')"],
)
def test_long_lists_are_refused_before_they_are_built(expression: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(javalike, "MAX_ITEMS", 1_000)  # the same checks, without 100,000 traced matches
    assert "result would exceed 1000 " in refused(expression)


@pytest.mark.parametrize(
    "expression",
    [
        f"{TEN}.![{TEN}.![{TEN}.![{TEN}.![#root.S]]]]",  # 10,000 references to one string: 50 million characters
        f"{TEN}.![{TEN}.![{TEN}.![{TEN}.![#root.S]]]].toString()",
        f"#toJson({TEN}.![{TEN}.![{TEN}.![{TEN}.![#root.S]]]])",
        f"{TEN}.![{TEN}.![{TEN}.![{TEN}.![#root.S]]]].hashCode()",
        f"T(String).valueOf({TEN}.![{TEN}.![{TEN}.![{TEN}.![#root.S]]]])",
    ],
)
def test_shared_references_cannot_render_huge(expression: str) -> None:
    assert f"is larger than {MAX_TEXT} characters" in refused(expression)


@pytest.mark.parametrize("expression", ["deep.hashCode()", "deep.toString()", "#toJson(deep)", "deep"])
def test_deep_structures_are_refused_before_rendering(expression: str) -> None:
    assert f"nests deeper than {MAX_DEPTH} levels" in refused(expression)


def test_a_template_of_many_expressions_is_sized_as_a_whole() -> None:
    template = "${#root.S.replace('a', 'aaaaaaaaaaaaaaaaaaaa')}" * 20  # each part fits, together they do not
    processed = Expressions().process({"field": template}, ROOT)
    assert processed.value == {"field": template}
    [entry] = processed.summary[template]
    assert f"would exceed {MAX_TEXT} characters" in entry["description"]


# -- the clock ------------------------------------------------------------------------------------------------------
class FakeTime:
    """A clock that moves ten seconds each time it is read."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        self.now += 10.0
        return self.now


@pytest.mark.parametrize(
    "expression",
    [
        f"{TEN}.![#this * 2]",
        "commas.replaceAll('(,)', 'x')",  # one call: the regex loop checks the clock as matches come
        "#readYaml('[' + S.replace('a', '1,') + '1]')",  # one call: the YAML loader checks it per node
    ],
)
def test_slow_evaluations_stop_at_the_wall_clock_budget(expression: str, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeTime()
    monkeypatch.setattr(compiler, "time", clock)
    message = refused(expression, expressions=Expressions(time_limit_s=60))
    assert message == "expression took longer than 60 s"
    assert clock.now < 100  # it stopped as soon as the budget was spent


def test_waiting_on_the_network_does_not_count(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeTime()
    monkeypatch.setattr(compiler, "time", clock)
    deadline = compiler.Deadline(30)
    with deadline.paused():
        clock.now += 1_000  # a slow response
    deadline.check()
    with pytest.raises(ExpressionError, match="took longer than 30 s"):
        clock.now += 1_000  # CPU work
        deadline.check()


def test_budget_failures_are_reported_per_field() -> None:
    context = {"power": "${9^4096 * 9}", "replace": "${S.replace('a', S)}", "fine": "${1 + 1}"}
    processed = Expressions().process(context, ROOT)
    assert processed.value["fine"] == 2
    assert processed.value["power"] == context["power"]
    assert processed.value["replace"] == context["replace"]
    assert "integer overflow" in processed.summary["9^4096 * 9"][0]["description"]
    assert "would exceed" in processed.summary["S.replace('a', S)"][0]["description"]
    assert all(entries[0]["exceptionType"] for entries in processed.summary.values())


def test_an_evaluation_in_progress_does_not_hold_others(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """The evaluate endpoint runs off the event loop: while one evaluation is stuck inside a helper, the
    server still answers. If it ran on the loop, the second request could not finish and the helper would
    give up waiting."""
    assert server.client.post(
        "/pipelines",
        json={"application": "mine", "name": "p", "stages": [{"refId": "1", "type": "wait", "waitTime": 0}]},
        headers=server.headers("alice"),
    ).is_success
    started = server.client.post("/pipelines/mine/p", json={}, headers=server.headers("alice")).json()
    wait_status(server.rt, started["id"], "SUCCEEDED")
    other_request_done = threading.Event()
    lookups = server.rt.expressions.processor.functions
    monkeypatch.setitem(lookups, "applicationMetadata", lambda scope, app: other_request_done.wait(10))
    answers: list[Any] = []
    stuck = threading.Thread(
        target=lambda: answers.append(
            server.client.get(
                f"/pipelines/{started['id']}/evaluateExpression",
                params={"expression": "#applicationMetadata('mine')"},
                headers=server.headers("alice"),
            ).json()
        )
    )
    stuck.start()
    assert server.client.get("/applications/mine", headers=server.headers("alice")).status_code == 200
    other_request_done.set()
    stuck.join(15)
    assert answers == [{"result": True, "detail": None}]
