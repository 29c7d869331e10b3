"""The event-sourced application: the one writer to the event store."""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import Mapper, Transcoder

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

    def exists(self, aggregate_id: UUID) -> bool:
        try:
            self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return False
        return True

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

    def event_count(self) -> int:
        with self.recorder.datastore.transaction(commit=False) as curs:  # type: ignore[attr-defined]
            curs.execute(f"SELECT count(*) AS n FROM {self.events_table}")  # noqa: S608
            row = curs.fetchone()
        return int(row["n"]) if row else 0
