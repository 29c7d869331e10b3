"""The event store on PostgreSQL: eventsourcing's application and recorder, behind the port."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, urlparse
from uuid import UUID

from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    ProcessingEvent,
    project_aggregate,
)
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, Mapper, Recording, StoredEvent, Transcoder
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import get_topic
from psycopg import Connection, Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from domain.entity import Entity
from domain.process import Process
from eventstore.envelope import APPLICATION_NAME, EVENTS_TABLE
from eventstore.group_commit import GroupCommitRecorder
from eventstore.keys import PostgresSubjectKeys, create_keys_table
from eventstore.port import A, ConcurrentWrite, Metadata
from eventstore.transcoding import (
    OrjsonTranscoder,
    TypedMapper,
    event_metadata,
    personal_fields,
)

SNAPSHOT_EVERY = 50
"""Aggregates with long histories are loaded from a snapshot taken every this many events."""


class StoreApplication(Application[UUID]):
    name = APPLICATION_NAME
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {
        Entity: SNAPSHOT_EVERY,
        Process: SNAPSHOT_EVERY,
    }

    def construct_transcoder(self) -> Transcoder:
        return OrjsonTranscoder()

    def construct_mapper(self) -> Mapper[UUID]:
        return TypedMapper(transcoder=self.construct_transcoder())

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """`Application.save` for aggregates only, as this store saves: the base class tells
        aggregates from events by two runtime Protocol checks each, which cost a third of
        collecting a large batch on Python 3.11 (an import's thousand rows)."""
        processing_event: ProcessingEvent[UUID] = ProcessingEvent()
        for aggregate in objs:
            processing_event.events.extend(aggregate.collect_events())
            processing_event.aggregates[aggregate.id] = aggregate
        processing_event.saved_kwargs.update(kwargs)
        recordings = self._record(processing_event)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        return recordings


class PostgresEventStore:
    """The one writer to the events table; creating it also creates the tables if missing."""

    def __init__(
        self, database_url: str, pool_size: int = 8, overflow: int = 8, *, group_commit: bool = True
    ) -> None:
        self._app = StoreApplication(
            env=eventstore_env(database_url, pool_size, overflow, group_commit=group_commit)
        )
        recorder = self._app.recorder
        assert isinstance(recorder, PostgresApplicationRecorder)
        self._datastore = recorder.datastore
        # Beside the events, as eventsourcing creates its own tables: on first use.
        with self._connection() as conn:
            create_keys_table(conn)
        self.keys = PostgresSubjectKeys(self._connection)
        mapper = self._app.mapper
        assert isinstance(mapper, TypedMapper)
        mapper.keys = self.keys
        table = Identifier(EVENTS_TABLE)
        self._exists = SQL("SELECT EXISTS (SELECT FROM {} WHERE originator_id = %s)").format(table)
        self._position = SQL(
            "SELECT notification_id FROM {} WHERE originator_id = %s AND originator_version = %s"
        ).format(table)
        self._many = SQL(
            "SELECT originator_id, originator_version, topic, state FROM {} "
            "WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version"
        ).format(table)
        self._count = SQL("SELECT count(*) FROM {}").format(table)
        self._version_at = SQL(
            "SELECT max(originator_version) AS version FROM {} "
            "WHERE originator_id = %s AND notification_id <= %s"
        ).format(table)

    def find(self, cls: type[A], aggregate_id: UUID, version: int | None = None) -> A | None:
        try:
            if version is not None or cls in self._app.snapshotting_intervals:
                found: Aggregate | None = self._app.repository.get(aggregate_id, version=version)
            else:
                # The repository asks for a snapshot of every aggregate; most classes never have
                # one, and skipping that round trip is a good part of a command's cost.
                found = project_aggregate(None, self._app.events.get(aggregate_id))
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, cls) else None

    def find_many(self, cls: type[A], aggregate_ids: Sequence[UUID]) -> list[A]:
        """Replays every event (snapshots are not consulted): for short-lived aggregates like
        action runs, which a worker reads in thousands at once."""
        if not aggregate_ids:
            return []
        with self._cursor() as curs:
            rows = curs.execute(self._many, (list(aggregate_ids),)).fetchall()
        found: dict[UUID, Any] = {}
        mapper = self._app.mapper
        for row in rows:
            stored = StoredEvent(
                row["originator_id"], row["originator_version"], row["topic"], bytes(row["state"])
            )
            found[row["originator_id"]] = project_aggregate(
                found.get(row["originator_id"]), [mapper.to_domain_event(stored)]
            )
        return [found[i] for i in aggregate_ids if isinstance(found.get(i), cls)]

    def exists(self, aggregate_id: UUID) -> bool:
        with self._cursor() as curs:
            row = curs.execute(self._exists, (aggregate_id,), prepare=True).fetchone()
        return bool(row and row["exists"])

    def save(self, *aggregates: Aggregate, metadata: Metadata) -> int:
        try:
            with event_metadata(metadata), personal_fields(aggregates):
                recordings = self._app.save(*aggregates)
        except IntegrityError:
            raise ConcurrentWrite from None
        if not recordings:
            return self.head()
        return max(r.notification.id for r in recordings)

    def position_of(self, aggregate_id: UUID, version: int) -> int:
        with self._cursor() as curs:
            row = curs.execute(self._position, (aggregate_id, version)).fetchone()
        if row is None:
            raise LookupError(f"no event {aggregate_id} v{version}")
        return int(row["notification_id"])

    def head(self) -> int:
        return self._app.recorder.max_notification_id() or 0

    def version_at(self, aggregate_id: UUID, position: int) -> int | None:
        with self._cursor() as curs:
            row = curs.execute(self._version_at, (aggregate_id, position)).fetchone()
        return None if row is None or row["version"] is None else int(row["version"])

    def forget(self, tenant_id: UUID, subject_id: UUID) -> None:
        self.keys.forget((tenant_id, subject_id))

    @property
    def queued_writes(self) -> int:
        """Writes waiting for the one in flight to commit (group commit; else always 0)."""
        recorder = self._app.recorder
        return recorder.group.waiting if isinstance(recorder, GroupCommitRecorder) else 0

    def count(self) -> int:
        """How many events are stored (for checks that nothing was stored)."""
        with self._cursor() as curs:
            row = curs.execute(self._count).fetchone()
        return int(row["count"]) if row else 0

    def close(self) -> None:
        self._app.close()

    @contextmanager
    def _connection(self) -> Iterator[Connection[DictRow]]:
        with self._datastore.transaction(commit=True) as curs:
            yield curs.connection

    @contextmanager
    def _cursor(self) -> Iterator[Cursor[DictRow]]:
        with self._datastore.transaction(commit=False) as curs:
            yield curs


def eventstore_env(
    database_url: str, pool_size: int = 8, overflow: int = 8, *, group_commit: bool = True
) -> dict[str, str]:
    """Translate a `postgresql://` URL (TCP or `?host=/socket/dir`) to eventsourcing's env."""
    url = urlparse(database_url)
    if url.scheme not in ("postgresql", "postgres"):
        raise ValueError(f"DATABASE_URL must be postgresql://..., got {url.scheme!r}")
    query = parse_qs(url.query)
    host = query.get("host", [url.hostname or "localhost"])[0]
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": unquote(url.path.lstrip("/")) or "postgres",
        "POSTGRES_HOST": host,
        "POSTGRES_PORT": str(url.port or query.get("port", ["5432"])[0]),
        "POSTGRES_USER": unquote(url.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(url.password or ""),
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": str(overflow),
        "POSTGRES_CONN_MAX_AGE": "600",
        # No ping before each use: it costs a round trip per command, and the recorder already
        # retries an operation whose connection turns out to be dead.
        "POSTGRES_PRE_PING": "n",
        "POSTGRES_LOCK_TIMEOUT": "5",
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "10",
        "CREATE_TABLE": "y",
    }
    if group_commit:
        env["APPLICATION_RECORDER_TOPIC"] = get_topic(GroupCommitRecorder)
    return env
