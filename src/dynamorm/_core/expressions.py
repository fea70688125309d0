"""Typed expressions: attribute paths, conditions, key conditions, updates, projections.

The one import point for the expression layer (the implementation lives in ``_conditions``,
``_update``, ``_compile`` and ``_operands``). Pure: no I/O.

The data-access layer compiles every expression of one request with one builder::

    params = build_expressions(key=key, filter=rest, projection=paths)   # Query
    params = build_expressions(condition=cond, update=actions)           # UpdateItem
    payload.update(params)

or drives an :class:`ExpressionBuilder` itself and merges ``builder.attributes()``.
"""

from dynamorm._core._compile import (
    MAX_EXPRESSION_BYTES,
    ExpressionBuilder,
    build_expressions,
    split_key_condition,
)
from dynamorm._core._conditions import ATTRIBUTE_TYPES, MAX_IN_VALUES, Condition, Path, Size
from dynamorm._core._operands import Encoder
from dynamorm._core._update import UpdateAction

__all__ = [
    "ATTRIBUTE_TYPES",
    "MAX_EXPRESSION_BYTES",
    "MAX_IN_VALUES",
    "Condition",
    "Encoder",
    "ExpressionBuilder",
    "Path",
    "Size",
    "UpdateAction",
    "build_expressions",
    "split_key_condition",
]
