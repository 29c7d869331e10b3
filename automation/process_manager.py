"""The process-manager contract: events in, commands out, with its own state and tracking.

A process manager follows the events topic in order and decides which commands the events call
for. Unlike a projection it has no read model for anyone to query: its tables hold only the state
it needs to decide (DDL file `ddl` using `{schema}`, tables `tables`), in its own schema, where
its tracking (the checkpoint of what it has reacted to) lives too, so both commit together.

Reacting is pure: `react` turns a batch of events into a `Reaction`, the state statements and the
commands to issue, and neither writes nor sends anything (what it must know beyond its own state
it may only read, from the source of truth, as the reactor's `Lookup` does). Issuing the
commands is the runner's job (`infra/process_managers.py`), which makes the order that keeps a
crash harmless (commands stored, then state and checkpoint committed) the runner's one rule,
not every manager's. A replayed batch reacts again, so a manager's commands must be idempotent
(derived ids).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Generic, TypeVar

from eventstore import RecordedEvent
from projections.base import Statement

C = TypeVar("C")


@dataclass(frozen=True)
class Reaction(Generic[C]):
    """What a batch of events calls for: the manager's state statements and its commands."""

    statements: tuple[Statement, ...] = ()
    """Writes to the manager's own tables (`{schema}`), in order."""
    commands: tuple[C, ...] = ()


class ProcessManager(ABC, Generic[C]):
    name: ClassVar[str]
    ddl: ClassVar[Path]
    """SQL file creating the manager's state tables inside `{schema}`."""
    tables: ClassVar[tuple[str, ...]]

    @property
    def schema(self) -> str:
        """Where its state and its tracking live, apart from the read models (`rm_*`)."""
        return f"automation_{self.name}"

    def create_sql(self, schema: str) -> str:
        return self.ddl.read_text().replace("{schema}", schema)

    @abstractmethod
    def concerns(self, event: RecordedEvent) -> bool:
        """Whether `event` may change the state or call for a command: a batch of events that
        concern the manager in no way only moves its checkpoint."""

    @abstractmethod
    def react(self, events: Iterable[RecordedEvent]) -> Reaction[C]:
        """The state statements and commands for `events` (in order), with no side effect but
        on the manager's in-memory copy of its state, which moves as the statements will."""
