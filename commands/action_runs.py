"""The batch forms of the action-run commands, for the automation workers (reactor, scheduler).

The command service hands them out (`CommandService.action_runs`) to a principal granted
`automation:run`, whose actor every event names. They are the same domain operations as the
`plan-action-run` and `cancel-action-run` commands, applied to many runs per event-store
transaction: a burst of 50,000 runs due in
one minute is planned and started in thousands per write, not one by one. Per tenant, so every
event's metadata names its tenant. When a concurrent writer got to a run first, the batch falls
back to one run at a time and skips the runs it lost, so one collision never drops the rest.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson

from commands.batches import save_in_batches
from domain.action_catalog import RetryPolicy
from domain.action_run import ActionRun
from domain.errors import Conflict
from eventstore import EventStore


@dataclass(frozen=True)
class RunPlan:
    tenant_id: UUID
    process_action_id: UUID
    action_id: UUID
    trigger_key: str
    planned_at: datetime
    context: dict[str, Any]
    retry: RetryPolicy
    correlation_id: str = ""

    @property
    def run_id(self) -> UUID:
        return ActionRun.create_id(self.process_action_id, self.trigger_key)

    def new_run(self) -> ActionRun:
        return ActionRun.plan(
            self.tenant_id,
            self.process_action_id,
            self.action_id,
            self.trigger_key,
            self.planned_at,
            self.context,
            self.retry,
        )


@dataclass(frozen=True)
class Outcome:
    run_id: UUID
    delivered: bool
    detail: str = ""
    """The provider's answer when delivered, the error otherwise."""
    provider_message_id: str | None = None
    retryable: bool = False


@dataclass
class ActionRunBatches:
    store: EventStore
    actor: str
    jitter: Callable[[], float] = field(default=random.random)

    def plan(self, plans: Iterable[RunPlan]) -> list[ActionRun]:
        """Plan runs not planned before; returns the new ones."""
        by_id = {plan.run_id: plan for plan in plans}

        def new_run(run_id: UUID) -> ActionRun:
            return by_id[run_id].new_run()

        def unless_planned(run_id: UUID) -> ActionRun | None:
            return None if self.store.exists(run_id) else new_run(run_id)

        # Optimistic: most plans are new, so no lookup per run; a run planned before makes the
        # batch's insert fail, and the one-by-one retry skips what exists.
        return self._apply(by_id, new_run, "plan-action-run", redo=unless_planned)

    def start(
        self,
        run_ids: Iterable[UUID],
        at: datetime,
        fence: int,
        unwanted: Callable[[ActionRun], str | None] | None = None,
    ) -> list[ActionRun]:
        """Start the next attempt of each run that is still startable; returns those started.
        A run `unwanted` gives a reason for (a follow-up whose condition no longer holds) is
        cancelled with it instead."""

        def start(run: ActionRun) -> None:
            reason = unwanted(run) if unwanted is not None else None
            if reason is None:
                run.start(at, fence)
            else:
                run.cancel(reason)

        ids = list(run_ids)
        changed = self._apply(
            ids, self._changing(start, ids), "start-action-run", redo=self._changing(start)
        )
        return [run for run in changed if run.status == "sending"]

    def finish(self, outcomes: Sequence[Outcome], at: datetime) -> list[ActionRun]:
        by_id = {o.run_id: o for o in outcomes}

        def finish(run: ActionRun) -> None:
            outcome = by_id[run.id]
            if outcome.delivered:
                run.deliver(at, outcome.provider_message_id, outcome.detail)
            else:
                run.fail(at, outcome.detail, retryable=outcome.retryable, jitter=self.jitter())

        return self._apply(
            by_id,
            self._changing(finish, by_id),
            "record-action-outcome",
            redo=self._changing(finish),
        )

    def cancel(self, run_ids: Iterable[UUID], reason: str) -> list[ActionRun]:
        return self._apply(
            run_ids, self._changing(lambda run: run.cancel(reason)), "cancel-action-run"
        )

    def load(self, run_id: UUID) -> ActionRun | None:
        return self.store.find(ActionRun, run_id)

    def _changing(
        self, change: Callable[[ActionRun], None], run_ids: Iterable[UUID] = ()
    ) -> Callable[[UUID], ActionRun | None]:
        """Load (all of `run_ids` in one query up front, others one by one) and change a run."""
        preloaded = {run.id: run for run in self.store.find_many(ActionRun, list(run_ids))}

        def load_and_change(run_id: UUID) -> ActionRun | None:
            run = preloaded.pop(run_id, None) or self.load(run_id)
            if run is None:
                return None
            try:
                change(run)
            except Conflict:
                return None  # someone else moved it on (cancelled, started, finished)
            return run

        return load_and_change

    def _apply(
        self,
        run_ids: Iterable[UUID],
        operation: Callable[[UUID], ActionRun | None],
        command: str,
        redo: Callable[[UUID], ActionRun | None] | None = None,
    ) -> list[ActionRun]:
        return save_in_batches(
            self.store, run_ids, operation, command, self.actor, redo, weight=_weight
        )


def _weight(run: ActionRun) -> int:
    """Roughly the bytes its pending events will store (a planned run carries its context)."""
    return 300 + (len(orjson.dumps(run.context)) if run.version == 1 else 0)
