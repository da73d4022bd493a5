"""npm SemVer ranges for the helm trigger's `version` (echo-igor.md §2.7)."""

from __future__ import annotations

import pytest

from gennaker.triggers.helm.versions import RangeError, VersionRange

CASES = [
    (">=1.2.0 <2", "1.9.9", True),
    (">=1.2.0 <2", "2.0.0", False),
    (">=1.2.0 <2", "2.0.0-rc.1", False),
    (">=1.2.0 <2", "1.5.0-rc.1", False),  # a pre-release needs a comparator naming one of its patch
    ("^1.2", "1.5.0", True),
    ("^1.2", "1.1.9", False),
    ("^1.2", "2.0.0", False),
    ("^0.2.3", "0.2.9", True),
    ("^0.2.3", "0.3.0", False),
    ("^0.0.3", "0.0.3", True),
    ("^0.0.3", "0.0.4", False),
    ("^0.x", "0.9.0", True),
    ("^1.2.3-beta.2", "1.2.3-beta.4", True),
    ("^1.2.3-beta.2", "1.2.4-beta.1", False),
    ("~1.2.3", "1.2.9", True),
    ("~1.2.3", "1.3.0", False),
    ("~1", "1.9.0", True),
    ("~1", "2.0.0", False),
    ("1.2 - 2.3.4", "2.3.4", True),
    ("1.2 - 2.3.4", "2.3.5", False),
    ("1.2 - 2.3", "2.3.9", True),
    ("1.x || >=3.1.0-beta.1", "3.1.0-beta.2", True),
    ("1.x || >=3.1.0-beta.1", "2.0.0", False),
    ("1.2.x", "1.2.7", True),
    ("1.2.*", "1.3.0", False),
    ("*", "1.0.0", True),
    ("*", "1.0.0-alpha", False),
    ("", "7.0.0", True),
    (">= 1.2, < 2", "1.3.0", True),
    (">1.2", "1.2.9", False),
    (">1.2", "1.3.0", True),
    ("<=1.2", "1.2.9", True),
    ("<=1.2", "1.3.0", False),
    ("<1.2", "1.1.9", True),
    ("<1.2", "1.2.0-rc.1", False),
    ("=1.2.3", "1.2.3", True),
    ("1.2.3", "v1.2.3", True),
    ("1.2.3", "1.2.3+build.7", True),  # build metadata does not count
    (">*", "1.0.0", False),
    (">=1.0.0", "not-a-version", False),
]


@pytest.mark.parametrize(("text", "version", "expected"), CASES)
def test_ranges(text: str, version: str, expected: bool) -> None:
    assert VersionRange(text).satisfied_by(version) is expected


@pytest.mark.parametrize("text", [">=abc", "1.2.3.4", "^^1", "~>", "1.2.3 -"])
def test_invalid_ranges_are_refused(text: str) -> None:
    with pytest.raises(RangeError):
        VersionRange(text)


def test_a_range_shows_its_comparators() -> None:
    assert str(VersionRange("^1.2 || ~0.3")) == ">=1.2.0 <2.0.0-0 || >=0.3.0 <0.4.0-0"
