"""Running a process manager on a `ProjectionWorker`: its tracking is a projection's checkpoint.

The worker already gives a projection what a process manager needs: the events in order, in
batches, and a checkpoint in the unit's own schema committed in one transaction with its
statements. So a process manager runs as a projection whose statements are its reaction's, and
the one thing a projection lacks, issuing commands, happens here, between reacting and handing
the statements over: the commands are stored before the checkpoint commits. A crash in between
replays the batch (as does a failed batch the worker retries event by event), so the commands
must be idempotent: the reactor's run ids derive from the process action and the triggering
event, which makes the second plan a no-op.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Generic, TypeVar

from automation.process_manager import ProcessManager
from eventstore import RecordedEvent
from projections.base import Projection, Statement

C = TypeVar("C")


class Driving(Projection, Generic[C]):
    """A process manager as a projection; `driven` makes one (name, DDL and tables are class
    attributes of a projection, so each manager gets its own subclass)."""

    def __init__(self, manager: ProcessManager[C], issue: Callable[[Sequence[C]], None]) -> None:
        self.manager = manager
        self.issue = issue

    @property
    def schema(self) -> str:
        return self.manager.schema

    def concerns(self, event: RecordedEvent) -> bool:
        return self.manager.concerns(event)

    def create_sql(self, schema: str) -> str:
        return self.manager.create_sql(schema)

    def statements(self, events: Iterable[RecordedEvent]) -> Iterator[Statement]:
        reaction = self.manager.react(events)
        if reaction.commands:
            # Stored before the checkpoint commits (it does after this generator ends and its
            # statements are written, in the same transaction).
            self.issue(reaction.commands)
        yield from reaction.statements


def driven(manager: ProcessManager[C], issue: Callable[[Sequence[C]], None]) -> Driving[C]:
    """`manager` as the unit a `ProjectionWorker` runs, issuing its commands with `issue`."""

    class Driven(Driving[C]):
        name = manager.name
        ddl = manager.ddl
        tables = manager.tables

    return Driven(manager, issue)
