"""Parsed expressions compiled into Python closures, cached by text.

Each node becomes a function of the evaluation `Scope`. Evaluation counts steps, watches the clock and checks
the size of what it builds before building it (`limits.py`), so no expression can run or grow without bound;
property and method access go only through the data and the tables in `javalike`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from lark import Token, Tree
from lark.exceptions import LarkError

from gennaker.expressions.grammar import parser
from gennaker.expressions.javalike import (
    CLOCK,
    CLOCKED_METHODS,
    CONSTRUCTORS,
    DATA_VIEWS,
    STATICS,
    ExpressionError,
    JavaObject,
    call_method,
    compare,
    concatenate,
    ensure_items,
    ensure_text,
    equal,
    float_power,
    full_match,
    java_long,
    overflow,
    resolve_class,
    to_text,
    type_name,
)
from gennaker.expressions.limits import (
    LONG_MAX,
    LONG_MIN,
    MAX_EXPRESSION_LENGTH,
    MAX_ITEMS,
    MAX_NESTING,
    MAX_STEPS,
    MAX_TEXT,
    TIME_LIMIT_S,
)

Compiled = Callable[["Scope"], Any]
CHAINS = {"add", "sub", "mul", "or_", "and_"}  # left-associative binary operators
FunctionTable = Mapping[str, Callable[..., Any]]


class Deadline:
    """The wall-clock budget of one evaluation call, shared by every expression the call evaluates."""

    __slots__ = ("end", "seconds")

    def __init__(self, seconds: float = TIME_LIMIT_S):
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def check(self) -> None:
        if time.monotonic() > self.end:
            raise ExpressionError(f"expression took longer than {self.seconds:g} s")

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Waiting on the network (the URL helpers, with their own timeout) does not hold the server."""
        started = time.monotonic()
        try:
            yield
        finally:
            self.end += time.monotonic() - started


class Scope:
    """What one evaluation sees: the root, `#this`, helper functions and its budget."""

    __slots__ = ("allow_unknown_keys", "deadline", "functions", "root", "steps", "this", "variables")

    def __init__(
        self,
        root: Any,
        functions: FunctionTable,
        allow_unknown_keys: bool = True,
        variables: dict[str, Any] | None = None,
        deadline: Deadline | None = None,
    ):
        self.root = self.this = root
        self.functions = functions
        self.allow_unknown_keys = allow_unknown_keys
        self.variables = variables or {}
        self.deadline = deadline or Deadline()
        self.steps = 0

    def tick(self, count: int = 1) -> None:
        self.steps += count
        if self.steps > MAX_STEPS:
            raise ExpressionError(f"expression exceeded its budget of {MAX_STEPS} steps")
        if time.monotonic() > self.deadline.end:  # Deadline.check, inlined: this runs at every step
            self.deadline.check()


class StaticClass(JavaObject):
    """`T(java.lang.Math)`: the static members of an allow-listed class."""

    def __init__(self, name: str):
        self.java_class = name
        members = STATICS[name]
        self.methods = {k: v for k, v in members.items() if callable(v) and not isinstance(v, JavaObject)}
        self.constants = {k: v for k, v in members.items() if k not in self.methods}

    def to_text(self) -> str:
        return f"class {self.java_class}"


def checked(value: Any) -> Any:
    """The last guard on what a call returns: the builders refuse before allocating, but some results (a
    fetched URL, a string from the data) arrive already built."""
    kind = type(value)
    if kind is str and len(value) > MAX_TEXT:
        ensure_text(len(value))
    elif kind is list and len(value) > MAX_ITEMS:
        ensure_items(len(value))
    return value


# -- reading data -------------------------------------------------------------------------------------------
def read_property(target: Any, name: str, scope: Scope) -> Any:
    kind = type(target)
    if kind is dict:  # the common cases first, without the Mapping ABC check
        if name in target:
            return target[name]
        if scope.allow_unknown_keys:
            return None
    elif kind in DATA_VIEWS:
        found, value = target.lookup(name)
        if found:
            return value
        if scope.allow_unknown_keys:
            return None
    if target is None:
        raise ExpressionError(f"EL1007E: Property or field '{name}' cannot be found on null")
    if isinstance(target, Mapping):
        if name in target:
            return target[name]
        if scope.allow_unknown_keys:
            return None
        raise ExpressionError(
            f"EL1008E: Property or field '{name}' cannot be found on object of type '{type_name(target)}'"
        )
    if isinstance(target, StaticClass) and name in target.constants:
        return target.constants[name]
    raise ExpressionError(
        f"EL1008E: Property or field '{name}' cannot be found on object of type '{type_name(target)}'"
    )


def read_index(target: Any, key: Any) -> Any:
    if target is None:
        raise ExpressionError("EL1012E: Cannot index into a null value")
    if isinstance(target, Mapping):
        return target.get(key)
    if isinstance(target, list | str):
        if isinstance(key, bool) or not isinstance(key, int):
            raise ExpressionError(f"cannot index a {type_name(target)} with {type_name(key)}")
        if not 0 <= key < len(target):
            raise ExpressionError(f"EL1025E: The collection has '{len(target)}' elements, index '{key}' is invalid")
        return target[key]
    raise ExpressionError(f"EL1027E: Indexing into type '{type_name(target)}' is not supported")


def as_bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    raise ExpressionError(f"EL1001E: {where} needs a boolean, got {type_name(value)}")


def number(value: Any, operator: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ExpressionError(
            f"EL1030E: The operator '{operator}' is not supported between objects of type {type_name(value)}"
        )
    return value


# -- arithmetic with Java's rules (int division truncates toward zero) -----------------------------------------
# Integers are Java longs: an operand or result beyond one fails (where Java would wrap around), so no Python
# operation ever starts on or builds a number wider than 64 bits.
def long_operands(a: int | float, b: int | float) -> bool:
    """Whether integer arithmetic applies; the operands are checked first (data may hold a huge number)."""
    if isinstance(a, int) and isinstance(b, int):
        if not (LONG_MIN <= a <= LONG_MAX and LONG_MIN <= b <= LONG_MAX):
            raise overflow()
        return True
    return False


def add(left: Any, right: Any) -> Any:
    if isinstance(left, str) or isinstance(right, str):
        return concatenate(to_text(left), to_text(right))
    return arithmetic("+", left, right)


def arithmetic(operator: str, left: Any, right: Any) -> Any:
    a, b = number(left, operator), number(right, operator)
    if long_operands(a, b):
        result = _long_arithmetic(operator, int(a), int(b))
        if LONG_MIN <= result <= LONG_MAX:
            return result
        raise overflow()
    return _float_arithmetic(operator, a, b)


def _long_arithmetic(operator: str, a: int, b: int) -> int:
    if operator == "+":
        return a + b
    if operator == "-":
        return a - b
    if operator == "*":
        return a * b
    if b == 0:
        raise ExpressionError("ArithmeticException: / by zero", "ArithmeticException")
    if operator in ("/", "div"):
        quotient = abs(a) // abs(b)
        return quotient if (a >= 0) == (b >= 0) else -quotient
    if operator in ("%", "mod"):
        return abs(a) % abs(b) * (1 if a >= 0 else -1)
    raise ExpressionError(f"unknown operator {operator}")


def _float_arithmetic(operator: str, a: float, b: float) -> float:
    if operator == "+":
        return a + b
    if operator == "-":
        return a - b
    if operator == "*":
        return a * b
    if operator in ("/", "div"):
        return a / b if b else (math.inf if a > 0 else -math.inf if a < 0 else math.nan)
    if operator in ("%", "mod"):
        return math.fmod(a, b) if b and math.isfinite(a) else math.nan
    raise ExpressionError(f"unknown operator {operator}")


def power(left: Any, right: Any) -> Any:
    a, b = number(left, "^"), number(right, "^")
    if long_operands(a, b) and b >= 0:
        base, exponent = int(a), int(b)
        if abs(base) > 1 and (abs(base).bit_length() - 1) * exponent >= 64:
            raise overflow()  # |base|^exponent >= 2^64: refused before Python would compute it
        return java_long(base**exponent)
    return float_power(a, b)


def negate(value: Any) -> Any:
    a = number(value, "-")
    return java_long(-java_long(a)) if isinstance(a, int) else -a


RELATIONS: dict[str, Callable[[Any, Any], bool]] = {
    "==": equal,
    "eq": equal,
    "!=": lambda a, b: not equal(a, b),
    "ne": lambda a, b: not equal(a, b),
    "<": lambda a, b: compare(a, b) < 0,
    "lt": lambda a, b: compare(a, b) < 0,
    ">": lambda a, b: compare(a, b) > 0,
    "gt": lambda a, b: compare(a, b) > 0,
    "<=": lambda a, b: compare(a, b) <= 0,
    "le": lambda a, b: compare(a, b) <= 0,
    ">=": lambda a, b: compare(a, b) >= 0,
    "ge": lambda a, b: compare(a, b) >= 0,
}


# -- compiling ------------------------------------------------------------------------------------------------
def _unquote(token: str) -> str:
    quote = token[0]
    return token[1:-1].replace(quote * 2, quote)


class Compiler:
    """Turns a lark tree into a closure, node by node."""

    def compile(self, node: Tree | Token) -> Compiled:
        if isinstance(node, Token):
            raise ExpressionError(f"unexpected token {node}")
        if node.data in CHAINS:
            return self._chain(node)
        handler = getattr(self, f"n_{node.data}", None)
        if handler is None:
            raise ExpressionError(f"unsupported construct '{node.data}'")
        result: Compiled = handler(*node.children)
        return result

    def _args(self, args: Tree | None) -> list[Compiled]:
        return [self.compile(child) for child in args.children] if args is not None else []

    # literals
    def n_string(self, token: Token) -> Compiled:
        value = _unquote(str(token))
        return lambda scope: value

    def n_int(self, token: Token) -> Compiled:
        digits = str(token).rstrip("lL")
        value = int(digits) if len(digits) <= len(str(LONG_MAX)) else LONG_MAX + 1
        if value > LONG_MAX:
            raise ExpressionError(f"EL1035E: The value '{digits}' cannot be parsed as a long", "SpelParseException")
        return lambda scope: value

    def n_float(self, token: Token) -> Compiled:
        value = float(str(token).rstrip("dDfF"))
        return lambda scope: value

    def n_true(self) -> Compiled:
        return lambda scope: True

    def n_false(self) -> Compiled:
        return lambda scope: False

    def n_null(self) -> Compiled:
        return lambda scope: None

    def n_empty_list(self) -> Compiled:
        return lambda scope: []

    def n_empty_map(self) -> Compiled:
        return lambda scope: {}

    def n_inline_list(self, args: Tree) -> Compiled:
        items = self._args(args)
        return lambda scope: [item(scope) for item in items]

    def n_inline_map(self, *entries: Tree) -> Compiled:
        pairs = []
        for entry in entries:
            key_token, value = entry.children
            assert isinstance(key_token, Token)
            key: Any = _unquote(str(key_token)) if key_token.type == "STRING" else str(key_token)
            pairs.append((int(key) if key_token.type == "INT" else key, self.compile(value)))
        return lambda scope: {key: value(scope) for key, value in pairs}

    # names and variables
    def n_name(self, token: Token) -> Compiled:
        name = str(token)
        if name == "deployedServerGroups":  # Orca rewrites the bare word into the helper call
            return lambda scope: (
                read_property(scope.this, name, scope)
                if isinstance(scope.this, Mapping) and name in scope.this
                else call_function(scope, name, [])
            )
        return lambda scope: read_property(scope.this, name, scope)

    def n_variable(self, token: Token) -> Compiled:
        name = str(token)
        if name == "root":
            return lambda scope: scope.root
        if name == "this":
            return lambda scope: scope.this
        return lambda scope: scope.variables.get(name)

    def n_function(self, token: Token, args: Tree | None) -> Compiled:
        name, compiled = str(token), self._args(args)
        return lambda scope: checked(call_function(scope, name, [a(scope) for a in compiled]))

    # access
    def n_prop(self, target: Tree, token: Token) -> Compiled:
        of, name = self.compile(target), str(token)
        return lambda scope: read_property(of(scope), name, scope)

    def n_safe_prop(self, target: Tree, token: Token) -> Compiled:
        of, name = self.compile(target), str(token)

        def read(scope: Scope) -> Any:
            value = of(scope)
            return None if value is None else read_property(value, name, scope)

        return read

    def n_call(self, target: Tree, token: Token, args: Tree | None) -> Compiled:
        of, name, compiled = self.compile(target), str(token), self._args(args)

        invoke = invoke_clocked if name in CLOCKED_METHODS else invoke_plain

        def call(scope: Scope) -> Any:
            scope.tick()
            return invoke(scope, of(scope), name, [a(scope) for a in compiled])

        return call

    def n_safe_call(self, target: Tree, token: Token, args: Tree | None) -> Compiled:
        of, name, compiled = self.compile(target), str(token), self._args(args)

        invoke = invoke_clocked if name in CLOCKED_METHODS else invoke_plain

        def call(scope: Scope) -> Any:
            scope.tick()
            value = of(scope)
            return None if value is None else invoke(scope, value, name, [a(scope) for a in compiled])

        return call

    def n_index(self, target: Tree, key: Tree) -> Compiled:
        of, index = self.compile(target), self.compile(key)
        return lambda scope: read_index(of(scope), index(scope))

    # selection and projection (orca.md §4.4)
    def _each(self, target: Tree, body: Tree) -> tuple[Compiled, Compiled]:
        return self.compile(target), self.compile(body)

    @staticmethod
    def _with_this(scope: Scope, value: Any, body: Compiled) -> Any:
        saved = scope.this
        scope.this = value
        try:
            scope.tick()
            return body(scope)
        finally:
            scope.this = saved

    def _select(self, target: Tree, body: Tree, pick: str, safe: bool = False) -> Compiled:
        of, predicate = self._each(target, body)

        def select(scope: Scope) -> Any:
            source = of(scope)
            if source is None:
                if safe:
                    return None
                raise ExpressionError("EL1027E: Selection on a null value")
            if not isinstance(source, list | Mapping):
                raise ExpressionError(f"EL1027E: Selection is not supported on type '{type_name(source)}'")
            ensure_items(len(source))
            if isinstance(source, Mapping):
                chosen_map = {
                    k: v
                    for k, v in source.items()
                    if as_bool(self._with_this(scope, {"key": k, "value": v}, predicate), "selection")
                }
                return chosen_map if pick == "all" else _pick(list(chosen_map.items()), pick, as_map=True)
            chosen = [item for item in source if as_bool(self._with_this(scope, item, predicate), "selection")]
            return chosen if pick == "all" else _pick(chosen, pick)

        return select

    def n_select_all(self, target: Tree, body: Tree) -> Compiled:
        return self._select(target, body, "all")

    def n_safe_select_all(self, target: Tree, body: Tree) -> Compiled:
        return self._select(target, body, "all", safe=True)

    def n_select_first(self, target: Tree, body: Tree) -> Compiled:
        return self._select(target, body, "first")

    def n_select_last(self, target: Tree, body: Tree) -> Compiled:
        return self._select(target, body, "last")

    def _project(self, target: Tree, body: Tree, safe: bool) -> Compiled:
        of, mapper = self._each(target, body)

        def project(scope: Scope) -> Any:
            source = of(scope)
            if source is None:
                if safe:
                    return None
                raise ExpressionError("EL1027E: Projection on a null value")
            if not isinstance(source, list | Mapping):
                raise ExpressionError(f"EL1027E: Projection is not supported on type '{type_name(source)}'")
            ensure_items(len(source))
            if isinstance(source, Mapping):
                return [self._with_this(scope, {"key": k, "value": v}, mapper) for k, v in source.items()]
            return [self._with_this(scope, item, mapper) for item in source]

        return project

    def n_project(self, target: Tree, body: Tree) -> Compiled:
        return self._project(target, body, safe=False)

    def n_safe_project(self, target: Tree, body: Tree) -> Compiled:
        return self._project(target, body, safe=True)

    # operators
    def n_ternary(self, condition: Tree, yes: Tree, no: Tree) -> Compiled:
        test, when_true, when_false = self.compile(condition), self.compile(yes), self.compile(no)
        return lambda scope: when_true(scope) if as_bool(test(scope), "ternary") else when_false(scope)

    def n_elvis(self, left: Tree, right: Tree) -> Compiled:
        first, fallback = self.compile(left), self.compile(right)

        def elvis(scope: Scope) -> Any:
            value = first(scope)
            return fallback(scope) if value is None or value == "" else value

        return elvis

    def _chain(self, node: Tree) -> Compiled:
        """A left-associative run such as `a + b - c + …`, compiled without recursing down its spine
        (a 10,000-character sum would otherwise nest thousands of calls deep)."""
        steps: list[tuple[str, str, Tree]] = []
        while isinstance(node, Tree) and node.data in CHAINS:
            children = node.children
            operator = str(children[1]) if len(children) == 3 else node.data
            steps.append((node.data, operator, children[-1]))
            node = children[0]
        first = self.compile(node)
        folds = [(kind, operator, self.compile(right)) for kind, operator, right in reversed(steps)]

        def run(scope: Scope) -> Any:
            value = first(scope)
            for kind, operator, right in folds:
                if kind == "or_":
                    value = as_bool(value, "or") or as_bool(right(scope), "or")
                elif kind == "and_":
                    value = as_bool(value, "and") and as_bool(right(scope), "and")
                elif kind == "add":  # may build a string: a step
                    scope.tick()
                    value = add(value, right(scope))
                else:
                    value = arithmetic(operator, value, right(scope))
            return value

        return run

    def n_not_(self, operand: Tree) -> Compiled:
        a = self.compile(operand)
        return lambda scope: not as_bool(a(scope), "not")

    def n_compare(self, left: Tree, operator: Token, right: Tree) -> Compiled:
        a, b, relation = self.compile(left), self.compile(right), RELATIONS[str(operator)]
        return lambda scope: relation(a(scope), b(scope))

    def n_matches(self, left: Tree, right: Tree) -> Compiled:
        a, b = self.compile(left), self.compile(right)
        return lambda scope: full_match(a(scope), b(scope))

    def n_power(self, left: Tree, right: Tree) -> Compiled:
        a, b = self.compile(left), self.compile(right)

        def raise_to(scope: Scope) -> Any:
            scope.tick()
            return power(a(scope), b(scope))

        return raise_to

    def n_neg(self, _op: Token, operand: Tree) -> Compiled:
        a = self.compile(operand)
        return lambda scope: negate(a(scope))

    def n_pos(self, _op: Token, operand: Tree) -> Compiled:
        a = self.compile(operand)
        return lambda scope: number(a(scope), "+")

    # types
    def n_type_ref(self, qualified: Tree) -> Compiled:
        cls = StaticClass(resolve_class(".".join(str(t) for t in qualified.children)))
        return lambda scope: cls

    def n_construct(self, qualified: Tree, args: Tree | None) -> Compiled:
        name = resolve_class(".".join(str(t) for t in qualified.children))
        constructor, compiled = CONSTRUCTORS.get(name), self._args(args)
        if constructor is None:
            raise ExpressionError(f"EL1002E: Constructor call not allowed for type '{name}'")

        def construct(scope: Scope) -> Any:
            scope.tick()
            try:
                return constructor(*[a(scope) for a in compiled])
            except TypeError as exc:
                raise ExpressionError(f"EL1002E: Constructor of {name} cannot take these arguments: {exc}") from None

        return construct


def invoke_plain(scope: Scope, target: Any, name: str, args: list[Any]) -> Any:
    return checked(call_method(target, name, args))


def invoke_clocked(scope: Scope, target: Any, name: str, args: list[Any]) -> Any:
    """A call of a method that loops per regex match, with the evaluation's clock for it to check."""
    clock = CLOCK.set(scope.deadline.check)
    try:
        return checked(call_method(target, name, args))
    finally:
        CLOCK.reset(clock)


def _pick(items: list[Any], which: str, as_map: bool = False) -> Any:
    if not items:
        return None
    chosen = items[0] if which == "first" else items[-1]
    return {chosen[0]: chosen[1]} if as_map else chosen


def call_function(scope: Scope, name: str, args: list[Any]) -> Any:
    function = scope.functions.get(name)
    if function is None:
        raise ExpressionError(
            f"EL1023E: A problem occurred whilst attempting to invoke the function '{name}': not found"
        )
    scope.tick()
    return function(scope, *args)


def _nesting(text: str) -> int:
    depth = deepest = 0
    quote = ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth -= 1
    return deepest


@lru_cache(maxsize=4096)
def compile_expression(text: str) -> Compiled:
    """Parse and compile one expression (without `${}`); cached by text."""
    text = text.strip()
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(
            f"EL1078E: Expression of length {len(text)} exceeds the maximum of {MAX_EXPRESSION_LENGTH}",
            "SpelParseException",
        )
    if _nesting(text) > MAX_NESTING:
        raise ExpressionError(f"expression nests deeper than {MAX_NESTING} levels", "SpelParseException")
    try:
        tree = parser().parse(text)
    except LarkError as exc:
        raise ExpressionError(
            f"EL1041E: cannot parse expression: {str(exc).splitlines()[0]}", "SpelParseException"
        ) from None
    return Compiler().compile(tree)
