"""A projection worker's progress: each projection's track, its checkpoints and Kafka offsets."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import psycopg
import structlog
from confluent_kafka import Consumer, KafkaException, TopicPartition

from projections.apply import Delivered, apply_batch
from projections.base import Projection

log = structlog.get_logger("bsdflow.worker")
OFFSET_COMMIT_SECONDS = 1.0
"""Kafka offsets are committed at most this often while busy, and when the worker runs dry.
They only inform tools (the checkpoint decides where to read); one commit per batch was one
broker request per event at low rates. Unwritten checkpoints (below) follow the same pace."""


@dataclass(eq=False)
class Track:
    """One projection's progress inside a worker."""

    projection: Projection
    position: int = 0
    """The last position applied (or known to concern it in no way), announced to readers."""
    durable: dict[int, int] = field(default_factory=dict)
    """partition → the offset after the last message whose checkpoint is written."""
    unwritten: dict[int, Delivered] = field(default_factory=dict)
    """partition → the last event of batches that concern this projection in no way, whose
    checkpoint is not written yet (written with the next batch that does, or in time)."""


class Progress:
    """What the worker's projections have reached, and writing it down: checkpoints in
    PostgreSQL, offsets in Kafka."""

    tracks: list[Track]
    topic: str
    group: str
    _committed_at: float
    _checkpointed_at: float
    _unannounced_checkpoints: bool

    @property
    def projections(self) -> list[Projection]:
        return [track.projection for track in self.tracks]

    @property
    def positions(self) -> dict[str, int]:
        return {track.projection.name: track.position for track in self.tracks}

    @property
    def position(self) -> int:
        """The position every projection of this worker has reached."""
        return min(track.position for track in self.tracks)

    def _write_checkpoints(self, conn: psycopg.Connection[Any], *, now: bool = False) -> None:
        """Write the checkpoints batches of unconcerning events left unwritten (throttled)."""
        if not now and time.monotonic() - self._checkpointed_at < OFFSET_COMMIT_SECONDS:
            return
        if any(track.unwritten for track in self.tracks):
            self._unannounced_checkpoints = True
        for track in self.tracks:
            for partition, last in track.unwritten.items():
                apply_batch(conn, track.projection, [last])  # writes nothing but the checkpoint
                track.durable[partition] = last.offset + 1
            track.unwritten.clear()
        self._checkpointed_at = time.monotonic()

    def _commit_offsets(self, consumer: Consumer, *, now: bool = False) -> None:
        """Commit, per partition, what every projection has applied (only after its DB
        commit), throttled while busy."""
        if not now and time.monotonic() - self._committed_at < OFFSET_COMMIT_SECONDS:
            return
        common = set.intersection(*(set(track.durable) for track in self.tracks))
        offsets = [
            TopicPartition(self.topic, p, min(t.durable[p] for t in self.tracks)) for p in common
        ]
        for track in self.tracks:
            track.durable.clear()
        self._committed_at = time.monotonic()
        if not offsets:
            return
        try:
            consumer.commit(offsets=offsets, asynchronous=True)
        except (KafkaException, RuntimeError) as exc:  # not assigned, or closed: harmless
            log.info("offsets not committed", group=self.group, error=str(exc))
