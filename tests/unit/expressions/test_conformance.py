"""Spinnaker's own expression cases (tests/data/spel_vectors.json, orca.md §5).

Every case runs; the summary line reports the pass count. Deviations would be listed in
docs/expressions.md — there are none at present, so every case must pass.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from gennaker.expressions import Expressions, has_errors, plain_root, stage_root
from tests.support import DATA_DIR

VECTORS: list[dict[str, Any]] = json.loads((DATA_DIR / "spel_vectors.json").read_text())
KNOWN_DEVIATIONS: dict[int, str] = {}  # case index -> reason, mirrored in docs/expressions.md
RESULTS: dict[int, bool] = {}


def root_for(case: dict[str, Any]) -> Any:
    if not case.get("stageRefId"):
        return plain_root(case["context"])
    execution = case["context"]["execution"]
    stage = next(s for s in execution["stages"] if str(s["refId"]) == str(case["stageRefId"]))
    return stage_root(execution, stage)


def passes(case: dict[str, Any]) -> bool:
    processed = Expressions().process(
        case["expression"], root_for(case), allow_unknown_keys=case.get("allowUnknownKeys", True)
    )
    if case["expected"] == "ERROR":
        return has_errors(processed.summary) and processed.value == case["expression"]
    return processed.value == case["expected"] and type(processed.value) is type(case["expected"])


@pytest.mark.parametrize("index", range(len(VECTORS)), ids=lambda i: f"spel-{i}")
def test_case(index: int) -> None:
    case = VECTORS[index]
    if index in KNOWN_DEVIATIONS:
        pytest.skip(KNOWN_DEVIATIONS[index])
    RESULTS[index] = passes(case)
    assert RESULTS[index], f"{case['expression']!r} should give {case['expected']!r} ({case['source']})"


def test_report_the_pass_count(capsys: pytest.CaptureFixture[str]) -> None:
    passed = sum(passes(case) for case in VECTORS)
    with capsys.disabled():
        print(f"\nspel {passed}/{len(VECTORS)}")
    assert len(VECTORS) == 176 and passed >= 0.95 * len(VECTORS)
