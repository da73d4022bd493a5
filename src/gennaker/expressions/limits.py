"""Every budget of the expression language, in one place (docs/expressions.md, "Sandbox and limits").

Anyone who may read a pipeline can evaluate an expression against it (`evaluateExpression`), so each limit is
checked before the work or the allocation it bounds, and breaking one is an ExpressionError like any other.
"""

from __future__ import annotations

MAX_EXPRESSION_LENGTH = 10_000  # characters of one expression, checked before parsing
MAX_NESTING = 100  # brackets within one expression, checked before parsing
MAX_STEPS = 100_000  # calls, operators and selection/projection items per expression
MAX_TEXT = 1_000_000  # characters of a string built, a value rendered or a document parsed
MAX_ITEMS = 100_000  # items of a list built; also matches of one regular-expression call
MAX_DEPTH = 100  # levels of a value rendered, copied or parsed
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1  # integer arithmetic stays within a Java long
TIME_LIMIT_S = 2.0  # wall clock per evaluation call; `Expressions(time_limit_s=...)` changes it
