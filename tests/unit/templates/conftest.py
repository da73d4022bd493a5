"""The template tests evaluate expressions with the real language."""

from __future__ import annotations

import pytest

from gennaker.engine.templated import template_evaluator
from gennaker.expressions import Expressions
from gennaker.model.pipeline_templates import Evaluate


@pytest.fixture
def evaluate() -> Evaluate:
    return template_evaluator(Expressions())
