"""A process's timeline: every change of the case (who, when, what), the stages it entered, and
the action runs it triggered with their outcome, oldest first.

It reads what three read models keep (the audit trail, the stage history, the action runs)
under the reader's processes scope: a case the reader does not see has no timeline, and the
data fields it may not see are left out of what changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from projections.base import schema_named
from projections.processes.queries import ProcessReads, ProcessRow

AUDIT, PROCESSES, AUTOMATION = (schema_named(n) for n in ("audit", "processes", "automation"))


@dataclass
class TimelineEntry:
    at: datetime
    position: int
    kind: str
    """The change (`StageEntered`, `DataSet`, `Approved`, …) or `Run` for an action run."""
    actor: str | None
    command: str | None
    fields: list[str]
    """What it changed (for data: the fields, those the reader sees)."""
    stage: str | None = None
    previous: str | None = None
    transition: str | None = None
    run_id: UUID | None = None
    run_status: str | None = None
    run_error: str | None = None


class TimelineReads(ProcessReads):
    async def timeline(self, process: ProcessRow, with_runs: bool) -> list[TimelineEntry]:
        """`process` is a row this reader sees; runs only `with_runs` (a reader of automation)."""
        hidden = frozenset(self.scope.hidden) if self.scope is not None else frozenset()
        async with self.conn.cursor() as cur:
            await cur.execute(
                f"SELECT c.at, c.position, c.event, c.actor, c.command, c.fields, "  # noqa: S608
                "h.stage, h.previous, h.transition "
                f"FROM {AUDIT}.changes c LEFT JOIN {PROCESSES}.stage_history h "
                "ON h.tenant_id = c.tenant_id AND h.process_id = c.aggregate_id "
                "AND h.position = c.position AND c.event IN ('StageEntered', 'Opened', 'Migrated') "
                "WHERE c.aggregate_id = %s ORDER BY c.position",
                (process.id,),
            )
            changes = await cur.fetchall()
            runs: list[tuple[datetime, int, UUID, str, str | None]] = []
            if with_runs:
                await cur.execute(
                    f"SELECT created_at, position, id, status, last_error "  # noqa: S608
                    f"FROM {AUTOMATION}.action_runs WHERE context -> 'process' ->> 'id' = %s "
                    "ORDER BY planned_at LIMIT 1000",
                    (str(process.id),),
                )
                runs = await cur.fetchall()
        entries = [
            TimelineEntry(
                at=at,
                position=position,
                kind=event,
                actor=actor,
                command=command,
                fields=[f for f in fields if f not in hidden],
                stage=stage,
                previous=previous,
                transition=transition,
            )
            for at, position, event, actor, command, fields, stage, previous, transition in changes
        ]
        entries += [
            TimelineEntry(
                at=at,
                position=position,
                kind="Run",
                actor=None,
                command=None,
                fields=[],
                run_id=run_id,
                run_status=status,
                run_error=error,
            )
            for at, position, run_id, status, error in runs
        ]
        return sorted(entries, key=lambda e: (e.at, e.position))
