"""Which records, and which of their data fields, a reader with restricted grants sees: its
read grants of one area (entities, processes, occurrences) as one SQL predicate over that
area's table, and the data keys to leave out.

A row passes when any of the reader's grants admits it (its types, and its row rule); a field of
it is left out unless a grant that admits that row shows it (so a Site-only grant hiding the
salary and a Depot-only grant hiding nothing show no Site's salary). Values are compared as
jsonb, so numbers compare as numbers and strings as strings.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import orjson
from psycopg import sql

from domain.grants import ReadGrant
from domain.row_rules import AllOf, Among, AnyOf, Compare, Constant, Field, Holds, Not, Row, bind
from projections.seen import Seen

_OPERATORS = {"==": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


@dataclass(frozen=True, slots=True)
class Area:
    """What the scope of one read area is built over: its table has the columns its row rules
    name (`domain.row_rules.RECORDS`), a jsonb `data`, and a way to tell a record's type."""

    name: str
    of_types: str
    """SQL true for a record of one of some types: one `%s`, their lower-case names."""
    text_columns: frozenset[str] = frozenset()
    """Columns its rules compare that are text NOT NULL: equality is tested on the column
    itself, which its indexes serve, not on its jsonb value."""
    sets: Mapping[str, str] = field(default_factory=dict)
    """Each set its rules may test (`RECORDS`' sets) → SQL true when it holds one id (`%s`)."""
    ids: frozenset[str] = frozenset()
    """Columns and sets of uuid: they equal only a UUID (in any spelling: a token may write one
    in capitals), are only tested for equality, and a value that is no UUID matches nothing,
    rather than failing the reader's query on a cast."""


@dataclass(frozen=True, slots=True)
class Scope:
    predicate: str
    """SQL over the area table's columns, with `%s` placeholders for `params`."""
    params: tuple[Any, ...]
    hidden: tuple[str, ...]
    """Keys left out of `data` by some grant: of every record where no `shown_where` says
    otherwise (reads that cannot tell records apart, such as past states and search, leave
    them all out)."""
    shown_where: tuple[tuple[str, str], ...] = ()
    """A hidden key that another grant shows → SQL true for the records it is shown of (the
    grants that admit the record and do not hide it), its values written in (it goes into the
    select list, whose parameters would come before the predicate's)."""

    def data_column(self) -> str:
        """The `data` column as this reader sees it (field names are [a-z][a-z0-9_]*)."""
        if not self.hidden:
            return "data"
        shown = dict(self.shown_where)
        always = [key for key in self.hidden if key not in shown]
        column = f"(data - '{{{','.join(always)}}}'::text[])" if always else "data"
        if not shown:
            return column
        cases = ", ".join(
            f"CASE WHEN NOT coalesce({where}, false) THEN '{key}' END"
            for key, where in shown.items()
        )
        return f"({column} - array_remove(ARRAY[{cases}], NULL))"

    def seen(self, table: str) -> Seen:
        """What the reader sees of `table`'s records, for the reads that follow them (search,
        geo, stage history, documents attached to them)."""
        return Seen(f"SELECT id FROM {table} WHERE {self.predicate}", self.params, self.hidden)  # noqa: S608

    def shown(self, state: dict[str, Any]) -> dict[str, Any]:
        """A record's state (a past one, rebuilt from its events) without the hidden fields."""
        data = state.get("data")
        if not self.hidden or not isinstance(data, dict):
            return state
        return state | {"data": {k: v for k, v in data.items() if k not in self.hidden}}

    def columns(self, columns: str) -> str:
        """A select list (`"id, …, data, …"`) with `data` as this reader sees it."""
        if not self.hidden:
            return columns
        return ", ".join(
            f"{self.data_column()} AS data" if c == "data" else c for c in columns.split(", ")
        )


async def past_shown(
    scope: Scope | None,
    by_ids: Callable[[list[UUID]], Awaitable[Mapping[UUID, Any]]],
    id: UUID,
    state: dict[str, Any],
) -> dict[str, Any] | None:
    """A past state of a record as the reader may see it: only of one it sees now (`by_ids`
    under its scope finds it), without the hidden fields (None: not shown)."""
    if scope is None:
        return state
    if id not in await by_ids([id]):
        return None
    return scope.shown(state)


def scope_of(
    area: Area, grants: Sequence[ReadGrant], actor: str, claims: Mapping[str, Any]
) -> Scope:
    parts: list[str] = []
    params: list[Any] = []
    admits: list[str] = []
    for grant in grants:
        clauses: list[str] = []
        own: list[Any] = []
        if grant.types:
            clauses.append(area.of_types)
            own.append([name.lower() for name in grant.types])
        if grant.where is not None:
            clauses.append(_sql(bind(grant.where, area.name, actor, claims), area, own))
        parts.append(f"({' AND '.join(clauses) or 'true'})")
        params += own
        admits.append(_written_in(parts[-1], own))
    hidden = sorted({key for grant in grants for key in grant.hide})
    # A key one grant hides and another shows is shown of the records the other admits.
    shown_where = tuple(
        (key, " OR ".join(where for grant, where in zip(grants, admits, strict=True)
                          if key not in grant.hide))
        for key in hidden
        if any(key not in grant.hide for grant in grants)
    )  # fmt: skip
    predicate = f"({' OR '.join(parts) or 'false'})"
    return Scope(predicate, tuple(params), tuple(hidden), shown_where)


def _written_in(predicate: str, params: list[Any]) -> str:
    """`predicate` with its `params` written in as SQL literals (psycopg quotes them)."""
    literals = [sql.Literal(value) for value in params]
    return (
        sql.SQL(predicate.replace("{", "{{").replace("}", "}}").replace("%s", "{}"))
        .format(*literals)
        .as_string(None)
    )


def _sql(row: Row, area: Area, params: list[Any]) -> str:
    if isinstance(row, Constant):
        return "true" if row.value else "false"
    if isinstance(row, AllOf | AnyOf):
        joiner = " AND " if isinstance(row, AllOf) else " OR "
        return f"({joiner.join(_sql(part, area, params) for part in row.parts)})"
    if isinstance(row, Not):
        return f"(NOT coalesce({_sql(row.part, area, params)}, false))"
    if isinstance(row, Holds):
        value = _uuid(row.value) if row.column in area.ids else row.value
        if value is None or "\x00" in value:
            return "false"
        params.append(value)
        return f"({area.sets[row.column]})"
    if not isinstance(row, Compare | Among):
        raise TypeError(f"not a row rule: {row!r}")
    if not row.field.in_data and row.field.name in area.ids:
        return _id_sql(row, params)
    if isinstance(row, Compare) and row.field.time:
        params.append(row.value)  # a time `domain.row_rules` checked; NULL compares as nothing
        return f"({row.field.name} {_OPERATORS[row.op]} %s::timestamptz)"
    if isinstance(row, Compare):
        if _plain(row.field, area) and row.op in ("==", "!=") and isinstance(row.value, str):
            if "\x00" in row.value:  # what no text holds; false, as `_json` makes it below
                return "false"
            params.append(row.value)
            return f"({row.field.name} {_OPERATORS[row.op]} %s)"
        value = _json(row.value)
        if value is None:
            return "false"
        column = _column(row.field, params)
        params.append(value)
        return f"({column} {_OPERATORS[row.op]} %s::jsonb)"
    if _plain(row.field, area):  # a text column equals none but strings
        params.append([v for v in row.values if isinstance(v, str) and "\x00" not in v])
        return f"({row.field.name} = ANY(%s::text[]))"
    values = [v for v in (_json(v) for v in row.values) if v is not None]
    column = _column(row.field, params)
    params.append(values)
    return f"({column} = ANY(%s::jsonb[]))"


def _id_sql(row: Compare | Among, params: list[Any]) -> str:
    """A uuid column (nullable: an occurrence's process) against ids, as uuids, so its index
    serves it; NULL compares as nothing, like a missing field."""
    column = row.field.name  # a column name `domain.row_rules.RECORDS` allows
    if isinstance(row, Among):
        params.append([found for v in row.values if (found := _uuid(v)) is not None])
        return f"({column} = ANY(%s::uuid[]))"
    if row.op not in ("==", "!="):  # ids have no order
        return "false"
    value = _uuid(row.value)
    if value is None:  # no id equals it: every row with an id differs from it
        return "false" if row.op == "==" else f"({column} IS NOT NULL)"
    params.append(value)
    return f"({column} {_OPERATORS[row.op]} %s::uuid)"


def _uuid(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return str(UUID(value))
    except ValueError:
        return None


def _plain(field: Field, area: Area) -> bool:
    return not field.in_data and field.name in area.text_columns


def _column(field: Field, params: list[Any]) -> str:
    if not field.in_data:  # a column name `domain.row_rules.RECORDS` allows, never the reader's
        return f"to_jsonb({field.name})"
    params.append(field.name)
    return "(data -> %s)"


def _json(value: Any) -> str | None:
    """`value` as jsonb text; None for what PostgreSQL's jsonb cannot hold (a NUL)."""
    text = orjson.dumps(value).decode()
    return None if "\\u0000" in text else text
