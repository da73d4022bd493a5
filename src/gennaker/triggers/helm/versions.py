"""SemVer ranges as npm writes them, which Echo's helm trigger uses for `version` (echo-igor.md §2.7).

Versions are compared by the `semver` library (SemVer 2.0 precedence; build metadata ignored). The range
syntax is npm's: comparators (`>=1.2.0 <2`, also with a space after the operator), `||` alternatives,
hyphen ranges (`1.2 - 2.3.4`), X-ranges (`1.x`, `1.2.*`, `*`), tilde (`~1.2.3`: same minor) and caret (`^1.2`:
same left-most non-zero part). Commas between comparators are read as spaces, as Helm's own constraints allow
(`>= 1.2, < 2`). A pre-release version satisfies a range only when a comparator of the same alternative names
a pre-release of the same major.minor.patch, as in npm, so `^1.2` does not pick up `1.5.0-rc.1`.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

import semver

_OPERATORS: dict[str, Callable[[semver.Version, semver.Version], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "=": operator.eq,
}
_PARTIAL = re.compile(
    r"v?(?P<major>0|[1-9]\d*|[xX*])"
    r"(?:\.(?P<minor>0|[1-9]\d*|[xX*])"
    r"(?:\.(?P<patch>0|[1-9]\d*|[xX*])"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?)?)?"
)
_TOKEN = re.compile(r"(?P<op>\^|~>?|<=|>=|<|>|=)?\s*(?P<version>\S+)")
_NOTHING = semver.Version(0, 0, 0, "0")  # `< 0.0.0-0` holds for no version


class RangeError(ValueError):
    """The text is not a version range."""


@dataclass(frozen=True)
class Comparator:
    op: str
    version: semver.Version

    def test(self, version: semver.Version) -> bool:
        return _OPERATORS[self.op](version, self.version)

    def __str__(self) -> str:
        return f"{self.op}{self.version}"


@dataclass(frozen=True)
class _Partial:
    major: int | None
    minor: int | None
    patch: int | None
    pre: str | None

    def floor(self) -> semver.Version:
        return semver.Version(self.major or 0, self.minor or 0, self.patch or 0, self.pre)


class VersionRange:
    """An npm range: alternatives (`||`), each a list of comparators that must all hold."""

    def __init__(self, text: str):
        self.text = text
        self.alternatives: list[list[Comparator]] = [_parse_set(part) for part in text.split("||")]

    def __str__(self) -> str:
        return " || ".join(" ".join(str(c) for c in alt) or "*" for alt in self.alternatives)

    def satisfied_by(self, version: str) -> bool:
        parsed = parse_version(version)
        if parsed is None:
            return False
        return any(_set_holds(alternative, parsed) for alternative in self.alternatives)


def parse_version(text: str) -> semver.Version | None:
    """A SemVer version, allowing a leading `v` and a missing minor or patch (as Helm does); None if not one."""
    try:
        return semver.Version.parse(text.strip().removeprefix("v"), optional_minor_and_patch=True)
    except (ValueError, TypeError):
        return None


def _set_holds(comparators: list[Comparator], version: semver.Version) -> bool:
    if not all(c.test(version) for c in comparators):
        return False
    if not version.prerelease:
        return True
    core = (version.major, version.minor, version.patch)
    return any(
        c.version.prerelease and (c.version.major, c.version.minor, c.version.patch) == core for c in comparators
    )


def _parse_set(text: str) -> list[Comparator]:
    text = text.replace(",", " ").strip()
    if not text:
        return []  # an empty alternative matches any release version
    hyphen = re.fullmatch(r"(\S+)\s+-\s+(\S+)", text)
    if hyphen:
        return _hyphen(_partial(hyphen.group(1)), _partial(hyphen.group(2)))
    text = re.sub(r"(\^|~>?|<=|>=|<|>|=)\s+", r"\1", text)  # `>= 1.2` is `>=1.2`
    comparators: list[Comparator] = []
    for token in text.split():
        match = _TOKEN.fullmatch(token)
        if match is None:
            raise RangeError(f"{token!r} is not a version comparator")
        comparators += _desugar(match.group("op") or "", _partial(match.group("version")))
    return comparators


def _partial(text: str) -> _Partial:
    match = _PARTIAL.fullmatch(text)
    if match is None:
        raise RangeError(f"{text!r} is not a version")

    def number(name: str) -> int | None:
        value = match.group(name)
        return None if value is None or value in ("x", "X", "*") else int(value)

    major, minor, patch = number("major"), number("minor"), number("patch")
    if major is None:
        minor = patch = None
    elif minor is None:
        patch = None
    pre = match.group("pre") if patch is not None else None
    return _Partial(major, minor, patch, pre)


def _upper(part: _Partial) -> semver.Version:
    """The first version above an X-range (`1` → `2.0.0-0`, `1.2` → `1.3.0-0`)."""
    if part.major is None:
        raise AssertionError("no upper bound for *")
    if part.minor is None:
        return semver.Version(part.major + 1, 0, 0, "0")
    return semver.Version(part.major, part.minor + 1, 0, "0")


def _desugar(op: str, part: _Partial) -> list[Comparator]:
    if op == "^":
        return _caret(part)
    if op in ("~", "~>"):
        return _tilde(part)
    exact = part.patch is not None
    if op in ("", "="):
        if exact:
            return [Comparator("=", part.floor())]
        return _x_range(part)
    if exact:
        return [Comparator(op, part.floor())]
    if part.major is None:  # `>*`, `<*` hold for nothing; `>=*`, `<=*` for anything
        return [Comparator("<", _NOTHING)] if op in ("<", ">") else []
    if op == ">":  # >1.2 means from 1.3.0 on
        top = _upper(part)
        return [Comparator(">=", semver.Version(top.major, top.minor, top.patch))]
    if op == ">=":
        return [Comparator(">=", part.floor())]
    if op == "<":
        return [Comparator("<", semver.Version(part.major, part.minor or 0, 0, "0"))]
    return [Comparator("<", _upper(part))]  # <=1.2 means below 1.3.0-0


def _x_range(part: _Partial) -> list[Comparator]:
    if part.major is None:
        return []
    return [Comparator(">=", part.floor()), Comparator("<", _upper(part))]


def _tilde(part: _Partial) -> list[Comparator]:
    if part.major is None:
        return []
    if part.minor is None:
        return [Comparator(">=", part.floor()), Comparator("<", semver.Version(part.major + 1, 0, 0, "0"))]
    return [Comparator(">=", part.floor()), Comparator("<", semver.Version(part.major, part.minor + 1, 0, "0"))]


def _caret(part: _Partial) -> list[Comparator]:
    if part.major is None:
        return []
    floor = part.floor()
    if part.major > 0 or part.minor is None:
        top = semver.Version(part.major + 1, 0, 0, "0")
    elif part.minor > 0 or part.patch is None:
        top = semver.Version(0, part.minor + 1, 0, "0")
    else:
        top = semver.Version(0, 0, part.patch + 1, "0")
    return [Comparator(">=", floor), Comparator("<", top)]


def _hyphen(low: _Partial, high: _Partial) -> list[Comparator]:
    comparators = [] if low.major is None else [Comparator(">=", low.floor())]
    if high.major is None:
        return comparators
    if high.patch is None:
        return [*comparators, Comparator("<", _upper(high))]
    return [*comparators, Comparator("<=", high.floor())]
