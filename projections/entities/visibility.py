"""Which entities, and which of their fields, a reader with restricted grants sees: its read
grants as one SQL predicate over the entities table, and the data keys to leave out.

A row passes when any of the reader's grants admits it (its types, and its row rule); a field is
left out when every grant hides it. Values are compared as jsonb, so numbers compare as numbers
and strings as strings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from domain.grants import ReadGrant
from domain.row_rules import AllOf, Among, AnyOf, Compare, Constant, Field, Not, Row, bind

_OPERATORS = {"==": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


@dataclass(frozen=True, slots=True)
class EntityScope:
    predicate: str
    """SQL over the entities table's columns, with `%s` placeholders for `params`."""
    params: tuple[Any, ...]
    hidden: tuple[str, ...]
    """Keys left out of `data`."""

    def data_column(self) -> str:
        """The `data` column as this reader sees it (field names are [a-z][a-z0-9_]*)."""
        if not self.hidden:
            return "data"
        return f"(data - '{{{','.join(self.hidden)}}}'::text[])"


def entity_scope(
    grants: Sequence[ReadGrant], actor: str, claims: Mapping[str, Any], types_table: str
) -> EntityScope:
    parts: list[str] = []
    params: list[Any] = []
    for grant in grants:
        clauses: list[str] = []
        if grant.types:
            clauses.append(
                f"entity_type_id IN (SELECT id FROM {types_table} "  # noqa: S608
                "WHERE lower(name) = ANY(%s))"
            )
            params.append([name.lower() for name in grant.types])
        if grant.where is not None:
            clauses.append(_sql(bind(grant.where, actor, claims), params))
        parts.append(f"({' AND '.join(clauses) or 'true'})")
    hidden = set.intersection(*(set(g.hide) for g in grants)) if grants else set()
    return EntityScope(f"({' OR '.join(parts) or 'false'})", tuple(params), tuple(sorted(hidden)))


def _sql(row: Row, params: list[Any]) -> str:
    if isinstance(row, Constant):
        return "true" if row.value else "false"
    if isinstance(row, AllOf | AnyOf):
        joiner = " AND " if isinstance(row, AllOf) else " OR "
        return f"({joiner.join(_sql(part, params) for part in row.parts)})"
    if isinstance(row, Not):
        return f"(NOT coalesce({_sql(row.part, params)}, false))"
    if isinstance(row, Compare):
        value = _json(row.value)
        if value is None:
            return "false"
        column = _column(row.field, params)
        params.append(value)
        return f"({column} {_OPERATORS[row.op]} %s::jsonb)"
    if isinstance(row, Among):
        values = [v for v in (_json(v) for v in row.values) if v is not None]
        column = _column(row.field, params)
        params.append(values)
        return f"({column} = ANY(%s::jsonb[]))"
    raise TypeError(f"not a row rule: {row!r}")


def _column(field: Field, params: list[Any]) -> str:
    if not field.in_data:
        return "to_jsonb(title)"
    params.append(field.name)
    return "(data -> %s)"


def _json(value: Any) -> str | None:
    """`value` as jsonb text; None for what PostgreSQL's jsonb cannot hold (a NUL)."""
    text = orjson.dumps(value).decode()
    return None if "\\u0000" in text else text
