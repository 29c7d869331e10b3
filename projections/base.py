"""The projection contract: events in, SQL statements out, applied in one transaction per batch.

A projection owns one PostgreSQL schema (its DDL uses `{schema}`), so a rebuild can fill a fresh
schema and swap it in atomically. Handlers are pure: they turn recorded events into statements.
A handler's statements write only its own aggregate's rows and read only those and the rows of
the projection's `ordering_aggregates` (whose own events may touch any rows: they are applied
alone, in event order). That lets `Projection.runs` regroup a batch into runs of one SQL text,
each sent at once: a run of `Rows` statements (SQL over a set of rows) as one statement over
all of them, others as one `executemany`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar
from uuid import UUID

import orjson

from eventstore import RecordedEvent, type_of

Params = Sequence[Any] | Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Statement:
    sql: str
    params: Params
    rows: Rows | None = None
    """Set when `sql` reads its values from `{rows}`: the params are then one row of them."""

    @classmethod
    def of(cls, sql: str, *params: Any) -> Statement:
        """A statement with positional parameters (`%s`)."""
        return cls(sql, params)


class Rows:
    """SQL written once for any number of rows, each a handler's values.

    The SQL reads the rows from `{rows}`, a relation aliased `r` with the given columns (name →
    SQL type): `INSERT INTO t (a, b) SELECT r.a, r.b FROM {rows}`, or `UPDATE t SET ... FROM
    {rows} WHERE t.id = r.id`. A run of N such statements costs one statement over N rows
    instead of N statements. The rows of one run must not depend on one another: each row
    writes only its own aggregate's rows (a run holds at most one row per aggregate; see
    `Projection.runs`), or inserts shared rows with ON CONFLICT DO NOTHING.

    Values are plain Python: a jsonb column takes dicts and lists, None is SQL NULL.
    """

    __slots__ = ("columns", "names", "sql")

    def __init__(self, sql: str, **columns: str) -> None:
        self.sql = sql
        self.columns = tuple(columns.items())
        self.names = tuple(columns)

    def of(self, *values: Any) -> Statement:
        """One row, its values in the order of the columns; its params map column → value."""
        return Statement(self.sql, dict(zip(self.names, values, strict=True)), self)

    def row(self, statement: Statement) -> dict[str, Any]:
        """A copy of a statement's row, by column name (to fold it into another)."""
        return dict(statement.params)

    def expand(self, schema: str) -> str:
        """The SQL for one run, whose rows travel as one JSON parameter: `params`."""
        columns = ", ".join(f"{name} {kind}" for name, kind in self.columns)
        relation = f"json_to_recordset(%s::json) AS r({columns})"
        return self.sql.replace("{rows}", relation).replace("{schema}", schema)

    def params(self, run: Sequence[Statement]) -> tuple[str]:
        # One orjson call encodes every row (UUIDs, datetimes and nested JSON included) far
        # faster than psycopg adapts a list per column, and the server parses it in one go.
        return (orjson.dumps([s.params for s in run]).decode(),)


Handler = Callable[[Any, RecordedEvent], Iterable[Statement]]
H = TypeVar("H", bound=Handler)


def versioned_update(
    table: str, assignments: str, e: RecordedEvent, *values: Any, stamped: str = "updated_at"
) -> Statement:
    """An update of the row of `e`'s record in `table` that applies only if the row has not
    seen this event (its version is older, so a replay changes nothing): `assignments` with
    their `values`, and the row's version, `stamped` (the event's time) and position."""
    sets = f"{assignments}, " if assignments else ""
    return Statement.of(
        f"UPDATE {{schema}}.{table} SET {sets}version = %s, {stamped} = %s, position = %s "  # noqa: S608
        "WHERE tenant_id = %s AND id = %s AND version < %s",
        *values,
        e.version,
        e.timestamp,
        e.position,
        e.tenant_id,
        e.originator_id,
        e.version,
    )


def jsonb(value: Any) -> str:
    """A jsonb parameter: PostgreSQL casts the text where a jsonb column takes it."""
    return orjson.dumps(value).decode()


def event_class(aggregate: type, name: str) -> type:
    """`Entity.Archived`, looked up at import time (mypy cannot see `@event`-made classes)."""
    found: type = getattr(aggregate, name)
    return found


def handles(*event_classes: type) -> Callable[[H], H]:
    """Mark a method as the handler of these domain event classes."""

    def mark(method: H) -> H:
        method.__handles__ = tuple(type_of(cls) for cls in event_classes)  # type: ignore[attr-defined]
        return method

    return mark


Q = TypeVar("Q")
V = TypeVar("V")


@dataclass(frozen=True)
class Feed(Generic[Q, V]):
    """How one kind of object is read back by id, from the rows of the projection that declares
    it: the read side's loaders (every reference in a response) and subscriptions' changed
    objects both come from the feeds, so a new read model declares this once."""

    kind: str
    reads: type[Q]
    """The query class (bound to a request's transaction by the read side)."""
    by_ids: Callable[[Q, list[UUID]], Awaitable[Mapping[UUID, V]]]
    row: type[V]
    cached: bool = False
    """Whether rows go through the shared hot cache (Redis), for the most read kinds; the
    worker drops an object's entry after each commit that changes it."""


def schema_of(module: str) -> str:
    """The schema of the read model whose folder holds `module` (`projections.<name>.…`):
    query modules name their tables with it, so a projection's schema is spelled once."""
    return schema_named(module.split(".")[1])


def schema_named(name: str) -> str:
    return f"rm_{name}"


class Projection:
    name: ClassVar[str]
    """The projection's folder under `projections/` unless a subclass says otherwise."""
    ddl: ClassVar[Path]
    """SQL file creating the projection's tables inside `{schema}`."""
    tables: ClassVar[tuple[str, ...]]
    """Tables to compare and to put under row-level security (all lead with tenant_id)."""
    version: ClassVar[int] = 1
    """Raise it with any change to the DDL or to what the handlers write: `bsdflow migrate`
    (and `bsdflow up`) then rebuild the projection in a shadow schema and swap it in."""
    _handlers: ClassVar[dict[str, str]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in vars(cls) and cls.__module__.startswith("projections."):
            cls.name = cls.__module__.split(".")[1]
        cls._handlers = {}
        for klass in reversed(cls.__mro__):  # a subclass keeps the handlers it inherits
            for attribute, member in vars(klass).items():
                for topic in getattr(member, "__handles__", ()):
                    cls._handlers[topic] = attribute

    @property
    def schema(self) -> str:
        return schema_named(self.name)

    @property
    def event_types(self) -> frozenset[str]:
        return frozenset(self._handlers)

    def concerns(self, event: RecordedEvent) -> bool:
        """Whether applying `event` may write anything: a batch of events that concern a
        projection in no way needs no transaction, only its checkpoint moved (in time)."""
        return event.type in self._handlers

    def create_sql(self, schema: str) -> str:
        return self.ddl.read_text().replace("{schema}", schema)

    @property
    def ddl_sha256(self) -> str:
        """Recorded with the version, to tell a DDL edited without a version bump."""
        return hashlib.sha256(self.ddl.read_bytes()).hexdigest()

    change_kinds: ClassVar[dict[str, str]] = {}
    """Aggregate class name → the kind of object whose change is announced (e.g. Entity → entity)."""
    feeds: ClassVar[tuple[Feed[Any, Any], ...]] = ()
    """How the kinds of object whose rows this projection owns are read back by id."""

    def change_of(self, event: RecordedEvent) -> tuple[str, UUID] | None:
        """The (kind, id) this event changes, for notifications and cache invalidation."""
        kind = self.change_kinds.get(event.name.split(".", 1)[0])
        return (kind, event.originator_id) if kind else None

    ordering_aggregates: ClassVar[frozenset[str]] = frozenset()
    """Aggregates (class names) whose rows other aggregates' statements read or write, such as
    an entity type, whose fields every entity statement reads: see `runs`."""

    def runs(self, events: Iterable[RecordedEvent]) -> Iterator[list[Statement]]:
        """The statements for `events` as runs: each run has one SQL text and goes to the
        server at once (one statement over all its rows for `Rows`, else one executemany).

        A projection that overrides `statements` writes a batch its own way: its statements
        go in its order, consecutive ones with one SQL text (not `Rows`) as one executemany.
        """
        if type(self).statements is Projection.statements:
            yield from self._regrouped(events)
            return
        for _, group in groupby(self.statements(events), key=lambda s: s.sql):
            run = list(group)
            yield from ([s] for s in run) if run[0].rows else (run,)

    def statements(self, events: Iterable[RecordedEvent]) -> Iterator[Statement]:
        """The statements for `events`, in the order `runs` sends them."""
        for run in self._regrouped(events):
            yield from run

    def _regrouped(self, events: Iterable[RecordedEvent]) -> Iterator[list[Statement]]:
        """The handlers' statements for `events`, regrouped into runs.

        A live stream interleaves event types, so in event order nearly every run would have
        length one. So wave k holds each aggregate's k-th statement: a handler's statements
        read and write only their own aggregate's rows, so the statements of one wave commute
        and are grouped by SQL, while each aggregate's own statements keep their order across
        waves (a run never spans two waves, so it never holds two rows of one aggregate). An
        event of an `ordering_aggregates` aggregate is a barrier: the waves before it are
        written first, its statements next, one by one, and the later events after.
        """
        waves: list[list[Statement]] = []
        last: dict[UUID, tuple[int, int]] = {}  # aggregate → (wave, index) of its last statement
        for event in events:
            attribute = self._handlers.get(event.type)
            if attribute is None:
                continue
            if self._is_barrier(event.type):
                yield from _by_sql(waves)
                waves, last = [], {}
                yield from ([statement] for statement in getattr(self, attribute)(event))
                continue
            for statement in getattr(self, attribute)(event):
                k, i = last.get(event.originator_id, (-1, 0))
                folded = self.fold(waves[k][i], statement) if k >= 0 else None
                if folded is not None:
                    waves[k][i] = folded
                    continue
                if k + 1 == len(waves):
                    waves.append([])
                last[event.originator_id] = (k + 1, len(waves[k + 1]))
                waves[k + 1].append(statement)
        yield from _by_sql(waves)

    def fold(self, earlier: Statement, later: Statement) -> Statement | None:
        """One statement with the effect of an aggregate's `earlier` statement followed by its
        `later` one (such as an insert of a row and an update of it), or None to write both."""
        return None

    def _is_barrier(self, event_type: str) -> bool:
        aggregate = event_type.rsplit(":", 1)[-1].split(".", 1)[0]
        return aggregate in self.ordering_aggregates


def _by_sql(waves: list[list[Statement]]) -> Iterator[list[Statement]]:
    for wave in waves:
        wave.sort(key=lambda s: s.sql)
        for _, run in groupby(wave, key=lambda s: s.sql):
            yield list(run)
