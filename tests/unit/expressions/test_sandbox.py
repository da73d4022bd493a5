"""Escape routes out of the sandbox, and the limits (orca.md §4.6; issue 3, item 4). Every one must fail."""

from __future__ import annotations

import pytest

from gennaker.expressions import ExpressionError, Expressions, plain_root
from gennaker.expressions.limits import MAX_EXPRESSION_LENGTH

ROOT = plain_root({"text": "abc", "items": [1, 2, 3], "status": "TERMINAL", "nested": {"status": "x"}})


def evaluate(expression: str) -> object:
    return Expressions().evaluate(expression, ROOT)


@pytest.mark.parametrize(
    "expression",
    [
        "text.__class__",
        "text['__class__']",
        "text.__class__.__mro__",
        "items.__len__()",
        "text.getClass()",
        "text.getClass().forName('java.lang.Runtime')",
        "T(java.lang.System).exit(1)",
        "T(java.lang.Runtime).getRuntime().exec('id')",
        "T(java.lang.ProcessBuilder)",
        "T(java.lang.Class).forName('java.lang.Runtime')",
        "T(java.lang.Boolean).forName('java.net.URI')",
        "T(java.lang.Boolean).getBoolean('x')",
        "T(java.lang.Integer).getInteger('x')",
        "new java.net.URL('http://example.com').openConnection()",
        "new java.io.File('/etc/passwd')",
        "new java.lang.ProcessBuilder('id').start()",
        "new java.lang.Integer(1).wait(100000)",
        "new java.lang.Integer(1).notify()",
        "status.metaClass",
        "status.getMetaClass()",
        "nested.status.metaClass",
        "text.format('%s')",
        "#eval('1')",
        "__import__('os')",
        "T(os).system('id')",
        "items.pop()",
        "text.encode()",
        "{'a': 1}.update({'b': 2})",
        "{'a': 1}.__setitem__('a', 2)",
    ],
)
def test_escape_routes_fail(expression: str) -> None:
    with pytest.raises(ExpressionError):
        evaluate(expression)


@pytest.mark.parametrize("expression", ["#root.__dict__", "#this.__init__", "#root['__class__']", "__builtins__"])
def test_python_internals_are_just_missing_keys(expression: str) -> None:
    assert evaluate(expression) is None


def test_nothing_is_mutated() -> None:
    context = {"items": [1, 2], "map": {"a": 1}, "${key}": "${items.size()}"}
    before = repr(context)
    result = Expressions().process(context, plain_root({**context, "key": "k"}))
    assert repr(context) == before
    assert result.value["k"] == 2


def test_length_limit() -> None:
    fits = "1" + "+1" * ((MAX_EXPRESSION_LENGTH - 1) // 2)
    assert len(fits) <= MAX_EXPRESSION_LENGTH and evaluate(fits) == (MAX_EXPRESSION_LENGTH - 1) // 2 + 1
    with pytest.raises(ExpressionError, match="exceeds the maximum"):
        evaluate("1" + "+1" * (MAX_EXPRESSION_LENGTH // 2))


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("'x'.concat('y')" + ".concat(#root['text'])" * 3, None),
        (
            "{1,2,3,4,5,6,7,8,9,10}.![" * 5 + "#this" + "]" * 5,
            "budget",
        ),
        (
            "'a' + 'a'.replaceAll('a', '" + "a" * 100 + "')",
            None,
        ),
        ("2 ^ 100000", "integer overflow"),
        ("(" * 150 + "1" + ")" * 150, "nests deeper"),
    ],
)
def test_budgets(expression: str, message: str | None) -> None:
    if message is None:
        evaluate(expression)
        return
    with pytest.raises(ExpressionError, match=message):
        evaluate(expression)


def test_output_size_budget() -> None:
    root = plain_root({"big": "x" * 600_000})
    with pytest.raises(ExpressionError, match="would exceed 1000000 characters"):
        Expressions().evaluate("big + big", root)


def test_catastrophic_regex_runs_in_linear_time() -> None:
    assert (
        Expressions().evaluate("('a' * 1) matches '(a+)+$'".replace("('a' * 1)", "'" + "a" * 5000 + "!'"), ROOT)
        is False
    )


def test_yaml_is_parsed_safely() -> None:
    for helper in ("#readYaml", "#readAllYaml"):
        with pytest.raises(ExpressionError):
            evaluate(f"{helper}('!!python/object/apply:os.system [\"id\"]')")
