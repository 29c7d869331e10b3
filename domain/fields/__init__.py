"""Typed fields for user-defined entity types: one validation strategy per field type.

Importing this package registers every built-in strategy.
"""

from __future__ import annotations

from domain.fields import composite, scalar, text
from domain.fields.base import STRATEGIES, FieldStrategy, VarType, register, strategy_for
from domain.fields.errors import DataInvalid, FieldError, NestedValueError
from domain.fields.regex import MAX_MATCH_INPUT, MAX_PATTERN_LENGTH, safe_compile
from domain.fields.schema import check_schema, personal_names, unique_values, validate_data
from domain.fields.spec import FieldSpec

__all__ = [
    "MAX_MATCH_INPUT",
    "MAX_PATTERN_LENGTH",
    "STRATEGIES",
    "DataInvalid",
    "FieldError",
    "FieldSpec",
    "FieldStrategy",
    "NestedValueError",
    "VarType",
    "check_schema",
    "personal_names",
    "register",
    "safe_compile",
    "strategy_for",
    "unique_values",
    "validate_data",
]

del composite, scalar, text
