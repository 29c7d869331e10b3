"""Group commit: concurrent commands share one event-store transaction.

eventsourcing's PostgreSQL recorder takes an EXCLUSIVE lock on the events table for every
insert, so that notification ids are committed in order. Under concurrent commands that lock,
and the commit's WAL flush, serialise the writers: each waits for the one before to commit.
Here the first writer to arrive leads; whoever arrives while it is in the database queues, and
the next leader writes the whole queue in one transaction (one lock, one flush).

Each command still gets its own answer: the notification ids of its own events, or its own
IntegrityError. A batch that hits a uniqueness violation is written again request by request,
so only the command that lost the race fails, exactly as if it had written alone.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.persistence import IntegrityError, InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import retry
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

MAX_EVENTS = 1_000
MAX_BYTES = 256 * 1024
"""Caps on one batch of requests, so one transaction holds the table lock only so long."""
PIPELINE_BYTES = 64 * 1024
"""Writes up to this size use psycopg's pipeline mode (one round trip); larger ones do not.

psycopg's pipeline loop stops flushing once its last command is queued, so when the socket
cannot take the whole insert at once the rest stays in libpq's buffer: the server waits for
it (ClientRead) and the client waits for results, forever (psycopg/psycopg#685). A few KB
always fit a socket buffer; above this, the plain protocol (which flushes until done) costs
a few round trips that are nothing beside the transfer itself."""

Write = Callable[[Sequence[StoredEvent]], Sequence[int] | None]


@dataclass(eq=False)
class _Request:
    events: Sequence[StoredEvent]
    size: int
    woken: threading.Event = field(default_factory=threading.Event)
    finished: bool = False
    ids: Sequence[int] = ()
    error: BaseException | None = None

    def finish(self, ids: Sequence[int] = (), error: BaseException | None = None) -> None:
        self.ids, self.error, self.finished = ids, error, True
        self.woken.set()

    def outcome(self) -> Sequence[int]:
        if self.error is not None:
            raise self.error
        return self.ids


@dataclass
class GroupCommit:
    """Leader/follower batching of concurrent `write` calls (no timer, no background thread).

    Nobody waits for a batch to fill: a request that finds the store idle is written at once;
    batches form only from requests that arrive while a write is in flight.
    """

    write: Write
    max_events: int = MAX_EVENTS
    max_bytes: int = MAX_BYTES
    _queue: deque[_Request] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _writing: bool = False
    batches: int = 0
    requests: int = 0

    @property
    def waiting(self) -> int:
        """Requests queued behind the write in flight."""
        with self._lock:
            return len(self._queue)

    def submit(self, events: Sequence[StoredEvent]) -> Sequence[int]:
        request = _Request(events, sum(len(e.state) for e in events))
        with self._lock:
            self._queue.append(request)
            leading = not self._writing
            self._writing = True
        if not leading:
            request.woken.wait()
            if request.finished:
                return request.outcome()
        self._lead()
        return request.outcome()

    def _lead(self) -> None:
        """Write one batch from the head of the queue, then pass the lead on (or go idle)."""
        with self._lock:
            batch = self._take()
        try:
            self._write_batch(batch)
        finally:
            with self._lock:
                self.batches += 1
                self.requests += len(batch)
                if self._queue:
                    self._queue[0].woken.set()  # the oldest waiter leads the next batch
                else:
                    self._writing = False

    def _take(self) -> list[_Request]:
        batch = [self._queue.popleft()]
        events, size = len(batch[0].events), batch[0].size
        while self._queue:
            head = self._queue[0]
            events, size = events + len(head.events), size + head.size
            if events > self.max_events or size > self.max_bytes:
                break
            batch.append(self._queue.popleft())
        return batch

    def _write_batch(self, batch: list[_Request]) -> None:
        try:
            ids = self.write([e for request in batch for e in request.events]) or ()
        except IntegrityError as error:
            if len(batch) == 1:
                batch[0].finish(error=error)
            else:
                self._write_one_by_one(batch)
            return
        except BaseException as error:
            for request in batch:
                request.finish(error=error)
            raise
        start = 0
        for request in batch:
            stop = start + len(request.events)
            request.finish(ids=ids[start:stop])
            start = stop

    def _write_one_by_one(self, batch: list[_Request]) -> None:
        for request in batch:
            try:
                request.finish(ids=self.write(request.events) or ())
            except Exception as error:
                request.finish(error=error)


class GroupCommitRecorder(PostgresApplicationRecorder):
    """The PostgreSQL application recorder, with plain inserts grouped across threads."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.group = GroupCommit(self._write)
        # Four plain arrays instead of one array of a composite type: psycopg dumps these in C,
        # where the composite array was ≈ 10 % of a command's CPU.
        self.insert_columns_statement = SQL(
            "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%s::uuid[], %s::bigint[], %s::text[], %s::bytea[]) "
            "RETURNING notification_id"
        ).format(schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name))

    def _insert_stored_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        # As the parent does: the table lock keeps commit order = notification id order.
        self._lock_table(curs)
        self._notify_channel(curs)
        curs.execute(
            self.insert_columns_statement,
            (
                [e.originator_id for e in stored_events],
                [e.originator_version for e in stored_events],
                [e.topic for e in stored_events],
                [e.state for e in stored_events],
            ),
            prepare=True,
        )

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int]:
        if any(value is not None for value in kwargs.values()):
            # A tracking record and the like belong to one caller's own transaction.
            return super().insert_events(stored_events, **kwargs) or ()
        return self.group.submit(stored_events)

    def _write(self, stored_events: Sequence[StoredEvent]) -> Sequence[int] | None:
        ids: Sequence[int] | None  # eventsourcing's retry decorator is untyped
        if sum(len(e.state) for e in stored_events) <= PIPELINE_BYTES:
            ids = super().insert_events(stored_events)
        else:
            ids = self._insert_without_pipeline(stored_events)
        return ids

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def _insert_without_pipeline(self, stored_events: Sequence[StoredEvent]) -> Sequence[int]:
        """The same transaction as the pipelined insert, one statement at a time."""
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            self._insert_stored_events(curs, stored_events)
            return self._fetch_ids_after_insert_events(curs, stored_events) or ()
