"""Java's view of values, as SpEL shows them: text rendering, equality, ordering and the methods each type
allows (orca.md §4.4, §4.6).

Values are plain data (None, bool, int, float, str, list, Mapping) plus a few emulated Java classes from the
allowlist (dates, UUID, ...). Methods are looked up in explicit per-type tables: nothing here ever reaches
a Python attribute by name, so an expression cannot touch anything the tables do not list.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import quote_plus

import re2

from gennaker.expressions.limits import LONG_MAX, LONG_MIN, MAX_DEPTH, MAX_ITEMS, MAX_TEXT


class ExpressionError(Exception):
    """Evaluation failed; the message is what the evaluation summary shows."""

    def __init__(self, message: str, exception_type: str = "SpelEvaluationException"):
        super().__init__(message)
        self.exception_type = exception_type


def type_name(value: Any) -> str:
    """The Java class name a value stands for, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, JavaObject):
        return value.java_class
    return {
        bool: "java.lang.Boolean",
        int: "java.lang.Integer",
        float: "java.lang.Double",
        str: "java.lang.String",
        list: "java.util.ArrayList",
    }.get(type(value), "java.util.LinkedHashMap" if isinstance(value, Mapping) else "java.lang.Object")


SCALARS = frozenset({str, int, float, bool, type(None)})  # values that render without weighing


# -- rendering ---------------------------------------------------------------------------------------
def java_double(value: float) -> str:
    """Java's Double.toString: 7.0, 0.001, 1.0E-4, 1.0E21, NaN, Infinity."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0.0"
    magnitude = abs(value)
    if 1e-3 <= magnitude < 1e7:
        text = repr(value)
        return text if "." in text or "e" in text else text + ".0"
    mantissa, exponent = f"{value:.16e}".split("e")
    digits = repr(float(mantissa)).rstrip("0")
    digits = digits + "0" if digits.endswith(".") else digits
    return f"{digits}E{int(exponent)}"


def to_text(value: Any) -> str:
    """`String.valueOf` as Java renders it: maps as {k=v}, lists as [a, b], floats as 7.0. A collection is
    weighed first: one with shared parts could otherwise render to gigabytes."""
    kind = type(value)
    if kind is str:
        return value
    if kind not in SCALARS and isinstance(value, Mapping | list | tuple):
        weigh(value)
    return _render(value)


def _render(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return java_double(value)
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, JavaObject):
        return value.to_text()
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_render(k)}={_render(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_render(v) for v in value) + "]"
    raise ExpressionError(f"cannot render a value of type {type_name(value)}")


def to_plain(value: Any) -> Any:
    """A result as JSON-shaped data (lazy mappings copied, Java objects as their text)."""
    if isinstance(value, JavaObject):
        return value.to_plain()
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    return value


# -- sizes: each limit is checked before the work or allocation it bounds ------------------------------------
def ensure_text(length: int) -> None:
    if length > MAX_TEXT:
        raise ExpressionError(f"result would exceed {MAX_TEXT} characters")


def ensure_items(count: int, what: str = "items") -> None:
    if count > MAX_ITEMS:
        raise ExpressionError(f"result would exceed {MAX_ITEMS} {what}")


def overflow() -> ExpressionError:
    return ExpressionError("ArithmeticException: integer overflow (beyond a Java long)", "ArithmeticException")


def java_long(value: int) -> int:
    """Integers stay within a Java long; where Java would silently wrap around, Gennaker fails instead."""
    if not LONG_MIN <= value <= LONG_MAX:
        raise overflow()
    return value


def concatenate(left: str, right: str) -> str:
    ensure_text(len(left) + len(right))
    return left + right


class Measure:
    """Sizes a graph the way rendering or copying it would see it: a part shared N times counts N times, so
    YAML aliases or a list repeating one reference cannot hide their real size. Each distinct part is visited
    once, so measuring costs no more than the graph itself; cycles and nesting beyond MAX_DEPTH fail."""

    def __init__(self, parts: Callable[[Any], Iterable[Any] | None], leaf: Callable[[Any], int], what: str):
        self.parts, self.leaf, self.what = parts, leaf, what
        # id -> (the part, held so that no other object takes its id; its size, or -1 while being measured)
        self.known: dict[int, tuple[Any, int]] = {}

    def size(self, value: Any, depth: int = 0) -> int:
        children = self.parts(value)
        if children is None:
            return self.leaf(value)
        known = self.known.get(id(value))
        if known is not None:
            if known[1] < 0:
                raise ExpressionError(f"{self.what} contains itself")
            return known[1]
        if depth >= MAX_DEPTH:
            raise ExpressionError(f"{self.what} nests deeper than {MAX_DEPTH} levels")
        self.known[id(value)] = (value, -1)
        total = 2
        for child in children:
            total += (len(child) if type(child) is str else self.size(child, depth + 1)) + 1
            if total > MAX_TEXT:
                raise ExpressionError(f"{self.what} is larger than {MAX_TEXT} characters")
        self.known[id(value)] = (value, total)
        return total


def weigh(value: Any, what: str = "value") -> int:
    """About how many characters `value` renders to; a collection over MAX_TEXT fails."""
    return Measure(_parts, _leaf_size, what).size(value)


def _parts(value: Any) -> Iterable[Any] | None:
    kind = type(value)
    if kind is list or kind is tuple:
        return value
    if kind in SCALARS:
        return None
    if isinstance(value, Mapping):
        return (part for pair in value.items() for part in pair)
    if isinstance(value, list | tuple):
        return value
    if isinstance(value, DoNotEval):
        return (value.value,)
    return None


def _leaf_size(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    return len(value.to_text() if isinstance(value, JavaObject) else str(value))


# -- equality and ordering ------------------------------------------------------------------------------
def equal(left: Any, right: Any) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return left is right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    if isinstance(left, JavaObject) or isinstance(right, JavaObject):
        return to_text(left) == to_text(right) and type(left) is type(right)
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        return dict(left.items()) == dict(right.items())
    return bool(left == right)


def compare(left: Any, right: Any) -> int:
    if isinstance(left, bool) or isinstance(right, bool):
        raise ExpressionError(f"cannot compare {type_name(left)} with {type_name(right)}")
    if isinstance(left, int | float) and isinstance(right, int | float):
        return (left > right) - (left < right)
    if isinstance(left, str) and isinstance(right, str):
        return (left > right) - (left < right)
    if isinstance(left, JavaTemporal) and type(left) is type(right):
        return (left.sort_key() > right.sort_key()) - (left.sort_key() < right.sort_key())
    raise ExpressionError(f"cannot compare {type_name(left)} with {type_name(right)}")


# -- regular expressions (RE2: linear time, no catastrophic backtracking) ----------------------------------
CACHED_PATTERN_LENGTH = 1_000  # longer patterns are compiled each time rather than held in the cache


def java_regex(pattern: str) -> Any:
    return _cached_regex(pattern) if len(pattern) <= CACHED_PATTERN_LENGTH else _compile_regex(pattern)


@lru_cache(maxsize=512)
def _cached_regex(pattern: str) -> Any:
    return _compile_regex(pattern)


def _compile_regex(pattern: str) -> Any:
    try:
        return re2.compile(pattern)
    except re2.error as exc:
        raise ExpressionError(f"invalid regular expression '{pattern}': {exc}") from None


def java_replacement(replacement: str) -> str:
    """Java's `$1` group references become Python's `\\1`; backslash escapes the next character."""
    out, i = [], 0
    while i < len(replacement):
        char = replacement[i]
        if char == "\\" and i + 1 < len(replacement):
            out.append(replacement[i + 1].replace("\\", "\\\\"))
            i += 2
        elif char == "$" and i + 1 < len(replacement) and replacement[i + 1].isdigit():
            out.append("\\" + replacement[i + 1])
            i += 2
        else:
            out.append("\\\\" if char == "\\" else char)
            i += 1
    return "".join(out)


REGEX_SPECIALS = frozenset("\\^$.|?*+()[]{}")


def is_literal(pattern: str) -> bool:
    return not REGEX_SPECIALS.intersection(pattern)


# RE2 matches in linear time, but its Python binding spends microseconds per match: a call over a long text can
# take a second. The compiler sets the evaluation's clock around calls of these methods, which check it as they go.
CLOCKED_METHODS = frozenset({"replaceAll", "replaceFirst", "split"})
CLOCK: ContextVar[Callable[[], None]] = ContextVar("expression_clock", default=lambda: None)


def regex_matches(regex: Any, text: str) -> Iterator[Any]:
    """The matches of `regex` in `text` as they are found: more than MAX_ITEMS fail, and the clock is checked."""
    check = CLOCK.get()
    for count, match in enumerate(regex.finditer(text), start=1):
        ensure_items(count, "regular expression matches")
        if count % 1024 == 0:
            check()
        yield match


def java_split(text: str, pattern: str, limit: int = 0) -> list[str]:
    """String.split: a regex, and trailing empty strings dropped when limit is 0. More than MAX_ITEMS parts
    fail before they are built."""
    if limit == 1:
        return [text]
    if not pattern:
        ensure_items(len(text))
        parts = list(text)
    elif is_literal(pattern):
        ensure_items(min(text.count(pattern) + 1, limit) if limit > 0 else text.count(pattern) + 1)
        parts = text.split(pattern, limit - 1) if limit > 0 else text.split(pattern)
    else:
        found = regex_matches(java_regex(pattern), text)
        parts, end = [], 0
        for match in itertools.islice(found, limit - 1) if limit > 0 else found:
            parts.append(text[end : match.start()])
            end = match.end()
        parts.append(text[end:])
    if limit == 0:
        while parts and parts[-1] == "":
            parts.pop()
    return parts


def full_match(text: Any, pattern: Any) -> bool:
    if not isinstance(text, str) or not isinstance(pattern, str):
        raise ExpressionError("matches needs a string on both sides")
    return java_regex(pattern).fullmatch(text) is not None


# -- emulated Java classes ---------------------------------------------------------------------------------
DATA_VIEWS: set[type] = set()  # concrete DataView classes, for a fast type check on the hot path


class DataView(Mapping[str, Any]):
    """A read-only view of data that expressions read like a map (a root with fallbacks, a stage)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        DATA_VIEWS.add(cls)

    def lookup(self, key: str) -> tuple[bool, Any]:
        raise NotImplementedError


class JavaObject:
    """An instance of an allow-listed Java class. Subclasses declare `methods` and `java_class`."""

    java_class = "java.lang.Object"
    methods: dict[str, Callable[..., Any]] = {}

    def to_text(self) -> str:
        raise NotImplementedError

    def to_plain(self) -> Any:
        return self.to_text()


class JavaTemporal(JavaObject):
    def sort_key(self) -> Any:
        raise NotImplementedError


class JavaEnum(JavaObject):
    def __init__(self, java_class: str, name: str):
        self.java_class, self.name = java_class, name
        self.methods = {"toString": lambda: self.name, "name": lambda: self.name, "equals": lambda o: equal(self, o)}

    def to_text(self) -> str:
        return self.name


DAYS = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]
UNITS = {
    "MILLIS": timedelta(milliseconds=1),
    "SECONDS": timedelta(seconds=1),
    "MINUTES": timedelta(minutes=1),
    "HOURS": timedelta(hours=1),
    "DAYS": timedelta(days=1),
    "WEEKS": timedelta(weeks=1),
}


def day_of_week(name: str) -> JavaEnum:
    return JavaEnum("java.time.DayOfWeek", name)


def chrono_unit(name: str) -> JavaEnum:
    return JavaEnum("java.time.temporal.ChronoUnit", name)


def _unit(value: Any) -> timedelta:
    if isinstance(value, JavaEnum) and value.name in UNITS:
        return UNITS[value.name]
    raise ExpressionError(f"unsupported time unit {to_text(value)}")


class LocalDate(JavaTemporal):
    java_class = "java.time.LocalDate"

    def __init__(self, value: date):
        self.value = value
        self.methods = {
            "plusDays": lambda n: LocalDate(self.value + timedelta(days=_int(n))),
            "minusDays": lambda n: LocalDate(self.value - timedelta(days=_int(n))),
            "plusWeeks": lambda n: LocalDate(self.value + timedelta(weeks=_int(n))),
            "minusWeeks": lambda n: LocalDate(self.value - timedelta(weeks=_int(n))),
            "plusMonths": lambda n: LocalDate(_add_months(self.value, _int(n))),
            "minusMonths": lambda n: LocalDate(_add_months(self.value, -_int(n))),
            "plusYears": lambda n: LocalDate(_add_months(self.value, 12 * _int(n))),
            "getYear": lambda: self.value.year,
            "getMonthValue": lambda: self.value.month,
            "getDayOfMonth": lambda: self.value.day,
            "getDayOfYear": lambda: self.value.timetuple().tm_yday,
            "getDayOfWeek": lambda: day_of_week(DAYS[self.value.weekday()]),
            "isBefore": lambda other: self.value < _temporal(other, LocalDate).value,
            "isAfter": lambda other: self.value > _temporal(other, LocalDate).value,
            "with": lambda adjuster: LocalDate(adjuster(self.value)),
            "toString": self.to_text,
            "equals": lambda other: equal(self, other),
        }

    def to_text(self) -> str:
        return self.value.isoformat()

    def sort_key(self) -> Any:
        return self.value


class LocalDateTime(JavaTemporal):
    java_class = "java.time.LocalDateTime"

    def __init__(self, value: datetime):
        self.value = value
        shift = lambda delta: LocalDateTime(self.value + delta)  # noqa: E731
        self.methods = {
            "plusDays": lambda n: shift(timedelta(days=_int(n))),
            "minusDays": lambda n: shift(-timedelta(days=_int(n))),
            "plusHours": lambda n: shift(timedelta(hours=_int(n))),
            "minusHours": lambda n: shift(-timedelta(hours=_int(n))),
            "plusMinutes": lambda n: shift(timedelta(minutes=_int(n))),
            "plusSeconds": lambda n: shift(timedelta(seconds=_int(n))),
            "toLocalDate": lambda: LocalDate(self.value.date()),
            "getHour": lambda: self.value.hour,
            "getMinute": lambda: self.value.minute,
            "getDayOfWeek": lambda: day_of_week(DAYS[self.value.weekday()]),
            "isBefore": lambda other: self.value < _temporal(other, LocalDateTime).value,
            "isAfter": lambda other: self.value > _temporal(other, LocalDateTime).value,
            "toString": self.to_text,
            "equals": lambda other: equal(self, other),
        }

    def to_text(self) -> str:
        text = self.value.isoformat(timespec="milliseconds")
        return text[:-4] if text.endswith(".000") else text

    def sort_key(self) -> Any:
        return self.value


class Instant(JavaTemporal):
    java_class = "java.time.Instant"

    def __init__(self, value: datetime):
        self.value = value
        self.methods = {
            "toEpochMilli": lambda: int(self.value.timestamp() * 1000),
            "getEpochSecond": lambda: int(self.value.timestamp()),
            "plus": lambda n, unit: Instant(self.value + _int(n) * _unit(unit)),
            "minus": lambda n, unit: Instant(self.value - _int(n) * _unit(unit)),
            "plusSeconds": lambda n: Instant(self.value + timedelta(seconds=_int(n))),
            "minusSeconds": lambda n: Instant(self.value - timedelta(seconds=_int(n))),
            "plusMillis": lambda n: Instant(self.value + timedelta(milliseconds=_int(n))),
            "isBefore": lambda other: self.value < _temporal(other, Instant).value,
            "isAfter": lambda other: self.value > _temporal(other, Instant).value,
            "toString": self.to_text,
            "equals": lambda other: equal(self, other),
        }

    def to_text(self) -> str:
        return self.value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def sort_key(self) -> Any:
        return self.value


class JavaDate(JavaTemporal):
    java_class = "java.util.Date"

    def __init__(self, value: datetime):
        self.value = value
        self.methods = {
            "getTime": lambda: int(self.value.timestamp() * 1000),
            "before": lambda other: self.value < _temporal(other, JavaDate).value,
            "after": lambda other: self.value > _temporal(other, JavaDate).value,
            "toInstant": lambda: Instant(self.value),
            "toString": self.to_text,
            "equals": lambda other: equal(self, other),
        }

    def to_text(self) -> str:
        return self.value.astimezone(UTC).strftime("%a %b %d %H:%M:%S UTC %Y")

    def sort_key(self) -> Any:
        return self.value


# Java SimpleDateFormat letters → strftime; longest runs first.
_DATE_PATTERN = [
    ("yyyy", "%Y"),
    ("yy", "%y"),
    ("MMMM", "%B"),
    ("MMM", "%b"),
    ("MM", "%m"),
    ("dd", "%d"),
    ("HH", "%H"),
    ("hh", "%I"),
    ("mm", "%M"),
    ("ss", "%S"),
    ("SSS", "{ms}"),
    ("EEEE", "%A"),
    ("EEE", "%a"),
    ("a", "%p"),
    ("zzz", "UTC"),
    ("z", "UTC"),
    ("Z", "+0000"),
    ("XXX", "Z"),
]


class SimpleDateFormat(JavaObject):
    java_class = "java.text.SimpleDateFormat"

    def __init__(self, pattern: str):
        self.pattern = pattern
        self.methods = {"format": self.format, "toPattern": lambda: self.pattern, "toString": self.to_text}

    def format(self, value: Any) -> str:
        moment = _temporal(value, JavaDate).value.astimezone(UTC)
        out, i, text = [], 0, self.pattern
        while i < len(text):
            if text[i] == "'":
                end = text.find("'", i + 1)
                end = len(text) if end < 0 else end
                out.append(text[i + 1 : end] or "'")
                i = end + 1
                continue
            for letters, code in _DATE_PATTERN:
                if text.startswith(letters, i):
                    out.append(
                        moment.strftime(code) if "%" in code else code.format(ms=f"{moment.microsecond // 1000:03d}")
                    )
                    i += len(letters)
                    break
            else:
                out.append(text[i])
                i += 1
        return "".join(out)

    def to_text(self) -> str:
        return f"java.text.SimpleDateFormat[{self.pattern}]"


class JavaUUID(JavaObject):
    java_class = "java.util.UUID"

    def __init__(self, value: uuid.UUID):
        self.value = value
        self.methods = {"toString": self.to_text, "equals": lambda other: equal(self, other)}

    def to_text(self) -> str:
        return str(self.value)


class JavaRandom(JavaObject):
    java_class = "java.util.Random"

    def __init__(self) -> None:
        generator = random.Random()
        self.methods = {
            "nextInt": lambda bound=2**31: generator.randrange(_int(bound)),
            "nextBoolean": lambda: generator.random() < 0.5,
            "nextDouble": generator.random,
        }

    def to_text(self) -> str:
        return "java.util.Random"


class DoNotEval(JavaObject):
    """`#doNotEval(x)`: a value `#toJson` may render even though it contains `${`."""

    java_class = "com.netflix.spinnaker.kork.expressions.DoNotEval"

    def __init__(self, value: Any):
        self.value = value

    def to_text(self) -> str:
        return to_text(self.value)

    def to_plain(self) -> Any:
        return to_plain(self.value)


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ExpressionError(f"expected a number, got {type_name(value)}")
    return int(value)


def _temporal(value: Any, kind: type[JavaTemporal]) -> Any:
    if not isinstance(value, kind):
        raise ExpressionError(f"expected a {kind.java_class}, got {type_name(value)}")
    return value


def _add_months(value: date, months: int) -> date:
    month_index = value.month - 1 + months
    year, month = value.year + month_index // 12, month_index % 12 + 1
    for day in range(value.day, 27, -1):
        try:
            return value.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    return value.replace(year=year, month=month, day=min(value.day, 28))


def _next_day(name: Any, same_ok: bool, forward: bool) -> Callable[[date], date]:
    target = DAYS.index(to_text(name))

    def adjust(value: date) -> date:
        step = 1 if forward else -1
        current = value if same_ok else value + timedelta(days=step)
        while current.weekday() != target:
            current += timedelta(days=step)
        return current

    return adjust


def _now() -> datetime:
    return datetime.now(UTC)


LONG_DIGITS = 65  # the most characters a Java long can be written with (a sign and 64 binary digits)


def parse_long(text: Any, radix: Any = 10) -> int:
    """Long.parseLong: anything longer than a long can be is refused before Python converts it."""
    digits = to_text(text)
    try:
        value = int(digits, radix if radix == 10 else _int(radix)) if len(digits) <= LONG_DIGITS else None
    except ValueError:
        value = None
    if value is None or not LONG_MIN <= value <= LONG_MAX:
        raise ExpressionError(f'NumberFormatException: For input string: "{digits}"', "NumberFormatException")
    return value


def _parse_float(text: Any) -> float:
    digits = to_text(text)
    try:
        return float(digits)
    except ValueError:
        raise ExpressionError(f'NumberFormatException: For input string: "{digits}"', "NumberFormatException") from None


def float_power(base: Any, exponent: Any) -> float:
    """Math.pow: Infinity where Python would raise OverflowError, NaN where it would raise or turn complex."""
    a, b = float(base), float(exponent)
    try:
        return math.pow(a, b)
    except OverflowError:
        return -math.inf if a < 0 and b.is_integer() and b % 2 == 1 else math.inf
    except ValueError:
        return math.inf if a == 0 else math.nan


def _join(separator: Any, items: Any) -> str:
    """String.join, sized before any text is built."""
    glue, parts = to_text(separator), list(items)
    ensure_text(weigh(parts) + len(glue) * max(0, len(parts) - 1))
    return glue.join(to_text(part) for part in parts)


def _parse_datetime(text: Any) -> datetime:
    moment = to_text(text)
    try:
        return datetime.fromisoformat(moment.replace("Z", "+00:00"))
    except ValueError:
        raise ExpressionError(f"DateTimeParseException: Text '{moment}' could not be parsed") from None


# The allowlist of T(...) and new ... (orca.md §4.6): static members and constructors per class.
STATICS: dict[str, dict[str, Any]] = {
    "java.lang.Math": {
        "max": max,
        "min": min,
        "abs": abs,
        "floor": lambda x: float(math.floor(x)),
        "ceil": lambda x: float(math.ceil(x)),
        "round": lambda x: math.floor(x + 0.5),
        "pow": float_power,
        "sqrt": lambda x: math.sqrt(x),
        "random": random.random,
        "PI": math.pi,
        "E": math.e,
    },
    "java.lang.String": {"valueOf": to_text, "join": _join},
    "java.lang.Integer": {
        "parseInt": parse_long,
        "valueOf": parse_long,
        "toString": to_text,
        "MAX_VALUE": 2**31 - 1,
        "MIN_VALUE": -(2**31),
    },
    "java.lang.Long": {
        "parseLong": parse_long,
        "valueOf": parse_long,
        "toString": to_text,
        "MAX_VALUE": 2**63 - 1,
        "MIN_VALUE": -(2**63),
    },
    "java.lang.Double": {"parseDouble": _parse_float, "valueOf": _parse_float, "toString": to_text},
    "java.lang.Byte": {"parseByte": parse_long, "valueOf": parse_long},
    "java.lang.Boolean": {
        "parseBoolean": lambda s: to_text(s).lower() == "true",
        "valueOf": lambda s: to_text(s).lower() == "true",
        "toString": to_text,
        "TRUE": True,
        "FALSE": False,
    },
    "java.util.UUID": {
        "randomUUID": lambda: JavaUUID(uuid.uuid4()),
        "fromString": lambda s: JavaUUID(uuid.UUID(to_text(s))),
    },
    "java.time.LocalDate": {
        "now": lambda: LocalDate(_now().date()),
        "parse": lambda s: LocalDate(_parse_datetime(s).date()),
        "of": lambda y, m, d: LocalDate(date(_int(y), _int(m), _int(d))),
    },
    "java.time.LocalDateTime": {
        "now": lambda: LocalDateTime(_now().replace(tzinfo=None)),
        "parse": lambda s: LocalDateTime(_parse_datetime(s)),
    },
    "java.time.Instant": {
        "now": lambda: Instant(_now()),
        "parse": lambda s: Instant(_parse_datetime(s)),
        "ofEpochMilli": lambda ms: Instant(datetime.fromtimestamp(_int(ms) / 1000, UTC)),
        "ofEpochSecond": lambda s: Instant(datetime.fromtimestamp(_int(s), UTC)),
    },
    "java.time.DayOfWeek": {**{name: day_of_week(name) for name in DAYS}, "valueOf": lambda s: day_of_week(to_text(s))},
    "java.time.temporal.ChronoUnit": {name: chrono_unit(name) for name in UNITS},
    "java.time.temporal.TemporalAdjusters": {
        "next": lambda d: _next_day(d, False, True),
        "nextOrSame": lambda d: _next_day(d, True, True),
        "previous": lambda d: _next_day(d, False, False),
        "previousOrSame": lambda d: _next_day(d, True, False),
        "firstDayOfMonth": lambda: lambda v: v.replace(day=1),
        "lastDayOfMonth": lambda: lambda v: _add_months(v.replace(day=1), 1) - timedelta(days=1),
    },
    "java.net.URLEncoder": {"encode": lambda text, _charset="UTF-8": quote_plus(to_text(text))},
    "java.util.Date": {},
    "java.text.SimpleDateFormat": {},
    "java.util.Random": {},
}

CONSTRUCTORS: dict[str, Callable[..., Any]] = {
    "java.lang.String": lambda value="": to_text(value),
    "java.lang.Integer": lambda value: parse_long(value) if isinstance(value, str) else _int(value),
    "java.lang.Long": lambda value: parse_long(value) if isinstance(value, str) else _int(value),
    "java.lang.Double": lambda value: _parse_float(value),
    "java.lang.Byte": lambda value: parse_long(value) if isinstance(value, str) else _int(value),
    "java.lang.Boolean": lambda value: value if isinstance(value, bool) else to_text(value).lower() == "true",
    "java.util.Date": lambda ms=None: JavaDate(_now() if ms is None else datetime.fromtimestamp(_int(ms) / 1000, UTC)),
    "java.text.SimpleDateFormat": lambda pattern: SimpleDateFormat(to_text(pattern)),
    "java.util.UUID": lambda high, low: JavaUUID(uuid.UUID(int=((_int(high) % 2**64) << 64) | (_int(low) % 2**64))),
    "java.util.Random": lambda: JavaRandom(),
}


def resolve_class(qualified: str) -> str:
    """A class name from `T(...)`/`new` on the allowlist; `java.lang` classes may be named short, as in SpEL."""
    for candidate in (qualified, f"java.lang.{qualified}"):
        if candidate in STATICS:
            return candidate
    raise ExpressionError(f"Type cannot be found or is not allowed: '{qualified}'", "SpelEvaluationException")


# -- methods per value type ----------------------------------------------------------------------------------
STRING_METHODS: dict[str, Callable[..., Any]] = {
    "contains": lambda text, part: to_text(part) in text,
    "startsWith": lambda text, part, offset=0: text.startswith(to_text(part), _int(offset)),
    "endsWith": lambda text, part: text.endswith(to_text(part)),
    "toLowerCase": lambda text, *_: text.lower(),
    "toUpperCase": lambda text, *_: text.upper(),
    "trim": lambda text: text.strip(" \t\n\r\x0b\x0c\x00"),
    "strip": lambda text: text.strip(),
    "isEmpty": lambda text: text == "",
    "isBlank": lambda text: text.strip() == "",
    "length": lambda text: len(text),
    "charAt": lambda text, i: text[_int(i)],
    "indexOf": lambda text, part, start=0: text.find(to_text(part), _int(start)),
    "lastIndexOf": lambda text, part: text.rfind(to_text(part)),
    "substring": lambda text, begin, end=None: _substring(text, begin, end),
    "replace": lambda text, old, new: _replace(text, to_text(old), to_text(new)),
    "replaceAll": lambda text, pattern, repl: _replace_all(text, to_text(pattern), to_text(repl)),
    "replaceFirst": lambda text, pattern, repl: _regex_replace(text, to_text(pattern), to_text(repl), count=1),
    "split": lambda text, pattern, limit=0: java_split(text, to_text(pattern), _int(limit)),
    "matches": lambda text, pattern: full_match(text, pattern),
    "concat": lambda text, other: concatenate(text, to_text(other)),
    "equals": lambda text, other: isinstance(other, str) and text == other,
    "equalsIgnoreCase": lambda text, other: isinstance(other, str) and text.lower() == other.lower(),
    "compareTo": lambda text, other: compare(text, other),
    "toString": lambda text: text,
    "hashCode": lambda text: _java_hash(text),
    "toCharArray": lambda text: _listed(len(text), text),
}


def _replace(text: str, old: str, new: str) -> str:
    """String.replace, refused before it runs when the result would be too long."""
    ensure_text(len(text) + text.count(old) * (len(new) - len(old)))
    return text.replace(old, new)


def _replace_all(text: str, pattern: str, replacement: str) -> str:
    if is_literal(pattern) and "$" not in replacement and "\\" not in replacement:
        return _replace(text, pattern, replacement)
    return _regex_replace(text, pattern, replacement)


def _regex_replace(text: str, pattern: str, replacement: str, count: int = 0) -> str:
    """replaceAll/replaceFirst with a regex: the result's length is counted match by match, so a replacement
    stops at the first piece too many instead of building the whole result first."""
    template = java_replacement(replacement)
    found = regex_matches(java_regex(pattern), text)
    pieces: list[str] = []
    end, length = 0, len(text)
    for match in itertools.islice(found, count) if count else found:
        piece = match.expand(template)
        length += len(piece) - (match.end() - match.start())
        ensure_text(length)
        pieces += (text[end : match.start()], piece)
        end = match.end()
    pieces.append(text[end:])
    return "".join(pieces)


def _substring(text: str, begin: Any, end: Any) -> str:
    start, stop = _int(begin), len(text) if end is None else _int(end)
    if start < 0 or stop > len(text) or start > stop:
        raise ExpressionError(f"StringIndexOutOfBoundsException: begin {start}, end {stop}, length {len(text)}")
    return text[start:stop]


def _java_hash(text: str) -> int:
    value = 0
    for char in text:
        value = (31 * value + ord(char)) & 0xFFFFFFFF
    return value - 2**32 if value >= 2**31 else value


LIST_METHODS: dict[str, Callable[..., Any]] = {
    "size": lambda items: len(items),
    "isEmpty": lambda items: not items,
    "get": lambda items, i: _list_get(items, i),
    "contains": lambda items, value: any(equal(value, item) for item in items),
    "indexOf": lambda items, value: next((i for i, item in enumerate(items) if equal(value, item)), -1),
    "subList": lambda items, start, end: items[_int(start) : _int(end)],
    "equals": lambda items, other: equal(items, other),
    "toString": lambda items: to_text(items),
    "hashCode": lambda items: _java_hash(to_text(items)),
}


def _listed(count: int, items: Iterable[Any]) -> list[Any]:
    """A new list of `count` items, refused before it is built when that is too many."""
    ensure_items(count)
    return list(items)


def _list_get(items: list[Any], index: Any) -> Any:
    position = _int(index)
    if not 0 <= position < len(items):
        raise ExpressionError(f"IndexOutOfBoundsException: Index {position} out of bounds for length {len(items)}")
    return items[position]


MAP_METHODS: dict[str, Callable[..., Any]] = {
    "size": lambda mapping: len(mapping),
    "isEmpty": lambda mapping: len(mapping) == 0,
    "get": lambda mapping, key: mapping.get(key),
    "getOrDefault": lambda mapping, key, default: mapping.get(key, default),
    "containsKey": lambda mapping, key: key in mapping,
    "containsValue": lambda mapping, value: any(equal(value, v) for v in mapping.values()),
    "keySet": lambda mapping: _listed(len(mapping), mapping.keys()),
    "values": lambda mapping: _listed(len(mapping), mapping.values()),
    "entrySet": lambda mapping: _listed(len(mapping), ({"key": k, "value": v} for k, v in mapping.items())),
    "equals": lambda mapping, other: equal(mapping, other),
    "toString": lambda mapping: to_text(mapping),
    "hashCode": lambda mapping: _java_hash(to_text(mapping)),
}


NUMBER_METHODS: dict[str, Callable[..., Any]] = {
    "toString": lambda number: to_text(number),
    "intValue": lambda number: int(number),
    "longValue": lambda number: int(number),
    "doubleValue": lambda number: float(number),
    "equals": lambda number, other: type(other) is type(number) and number == other,
    "compareTo": lambda number, other: compare(number, other),
    "hashCode": lambda number: int(number) if isinstance(number, int) else _java_hash(to_text(number)),
}
BOOL_METHODS: dict[str, Callable[..., Any]] = {
    "toString": lambda flag: to_text(flag),
    "booleanValue": lambda flag: flag,
    "equals": lambda flag, other: other is flag,
    "hashCode": lambda flag: 1231 if flag else 1237,
}


def method_of(value: Any, name: str) -> Callable[..., Any] | None:
    """The allowed method `name` of `value`, bound to it; None when the type has no such method."""
    kind = type(value)
    table = (
        STRING_METHODS
        if kind is str
        else BOOL_METHODS
        if kind is bool
        else NUMBER_METHODS
        if kind is int or kind is float
        else LIST_METHODS
        if kind is list
        else MAP_METHODS
        if kind is dict or (not isinstance(value, JavaObject) and isinstance(value, Mapping))
        else None
    )
    if table is not None:
        method = table.get(name)
        return None if method is None else lambda *args: method(value, *args)
    if isinstance(value, JavaObject):
        return value.methods.get(name)
    return None


def call_method(target: Any, name: str, args: list[Any]) -> Any:
    if target is None:
        raise ExpressionError(f"Method call: Attempted to call method {name}() on null context object")
    method = method_of(target, name)
    if method is None:
        raise ExpressionError(
            f"Method call: Method {name}() cannot be found on type {type_name(target)} (or is not allowed)",
            "SpelEvaluationException",
        )
    try:
        return method(*args)
    except ExpressionError:
        raise
    except (TypeError, ValueError, IndexError, KeyError, OverflowError, ZeroDivisionError) as exc:
        raise ExpressionError(f"Method call {name}() on {type_name(target)} failed: {exc}") from None


def dumps_json(value: Any) -> str:
    """Compact JSON, weighed first (the copy and the text of a structure with shared parts could be huge)."""
    weigh(value)
    return json.dumps(to_plain(value), separators=(",", ":"), ensure_ascii=False)
