"""The scheduler's side of SLAs: record the reminders and breaches that fell due, once."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from commands.batches import save_in_batches
from domain.process import Process
from eventstore import EventStore


@dataclass
class ProcessTimers:
    store: EventStore
    actor: str

    def fire(self, process_ids: Iterable[UUID], now: datetime) -> list[Process]:
        """Record what is due by `now` on each process; returns those that changed. A process
        whose timers fired already, or that left the stage, records nothing (the read model
        the ids come from may lag), and two schedulers cannot both record one timer: the
        second save conflicts, and its redo finds nothing left due."""
        ids = list(process_ids)
        preloaded = {p.id: p for p in self.store.find_many(Process, ids)}

        def fire(process_id: UUID) -> Process | None:
            process = preloaded.pop(process_id, None) or self.store.find(Process, process_id)
            return process if process is not None and process.fire_timers(now) else None

        return save_in_batches(self.store, ids, fire, "fire-sla-timers", self.actor)
