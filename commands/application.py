"""The event-sourced application: the one writer to the event store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, project_aggregate
from eventsourcing.persistence import Mapper, StoredEvent, Transcoder

from commands.transcoding import OrjsonTranscoder, TypedMapper
from domain.entity import Entity
from domain.process import Process

SNAPSHOT_EVERY = 50


class Bsdflow(Application[UUID]):
    name = "bsdflow"
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {
        Entity: SNAPSHOT_EVERY,
        Process: SNAPSHOT_EVERY,
    }

    def construct_transcoder(self) -> Transcoder:
        return OrjsonTranscoder()

    def construct_mapper(self) -> Mapper[UUID]:
        return TypedMapper(transcoder=self.construct_transcoder())

    def load(self, aggregate_id: UUID, expected: type[Any]) -> Any:
        """`repository.get`, minus the snapshot query when `expected` is never snapshotted.

        The repository looks for a snapshot of every aggregate; entity types, tenants, claims
        and receipts have none, and skipping that round trip is a good part of a command's cost.
        Raises AggregateNotFoundError. The result may be of another class than `expected`.
        """
        if expected in self.snapshotting_intervals:
            return self.repository.get(aggregate_id)
        aggregate = project_aggregate(None, self.events.get(aggregate_id))
        if aggregate is None:
            raise AggregateNotFoundError(aggregate_id)
        return aggregate

    def exists(self, aggregate_id: UUID) -> bool:
        with self.recorder.datastore.transaction(commit=False) as curs:  # type: ignore[attr-defined]
            curs.execute(
                f"SELECT EXISTS (SELECT FROM {self.events_table} "  # noqa: S608 - fixed name
                "WHERE originator_id = %s) AS found",
                (aggregate_id,),
                prepare=True,
            )
            row = curs.fetchone()
        return bool(row and row["found"])

    @property
    def events_table(self) -> str:
        return f"{self.name}_events"

    def position_of(self, aggregate_id: UUID, version: int) -> int:
        """The notification id (global position) at which one stored event was recorded."""
        with self.recorder.datastore.transaction(commit=False) as curs:  # type: ignore[attr-defined]
            curs.execute(
                f"SELECT notification_id FROM {self.events_table} "  # noqa: S608 - fixed name
                "WHERE originator_id = %s AND originator_version = %s",
                (aggregate_id, version),
            )
            row = curs.fetchone()
        if row is None:
            raise LookupError(f"no event {aggregate_id} v{version}")
        return int(row["notification_id"])

    def get_many(self, aggregate_ids: Sequence[UUID]) -> list[Any]:
        """Many aggregates in one query, in the order asked; ids with no events are left out.

        Replays every event (snapshots are not consulted), so it suits short-lived aggregates
        like action runs that a worker reads in thousands at once.
        """
        if not aggregate_ids:
            return []
        with self.recorder.datastore.transaction(commit=False) as curs:  # type: ignore[attr-defined]
            curs.execute(
                f"SELECT originator_id, originator_version, topic, state FROM {self.events_table} "  # noqa: S608
                "WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version",
                (list(aggregate_ids),),
            )
            rows = curs.fetchall()
        found: dict[UUID, Any] = {}
        for row in rows:
            stored = StoredEvent(
                row["originator_id"], row["originator_version"], row["topic"], bytes(row["state"])
            )
            event = self.mapper.to_domain_event(stored)
            found[row["originator_id"]] = project_aggregate(
                found.get(row["originator_id"]), [event]
            )
        return [found[i] for i in aggregate_ids if found.get(i) is not None]

    def event_count(self) -> int:
        with self.recorder.datastore.transaction(commit=False) as curs:  # type: ignore[attr-defined]
            curs.execute(f"SELECT count(*) AS n FROM {self.events_table}")  # noqa: S608
            row = curs.fetchone()
        return int(row["n"]) if row else 0
