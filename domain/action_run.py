"""ActionRun: one planned execution of a process action, and everything that happened to it.

planned → sending → delivered
                  ↘ failed: retrying (→ sending again) or dead
planned | retrying → cancelled

A run's id comes from its process action and its trigger (an event, or a scheduled instant), so
planning the same trigger twice finds the run that already exists. Each attempt is one
`Started` event at a new version: two schedulers that race to start the same attempt collide on
that version in the event store, and only one of them sends.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.action_catalog import RetryPolicy
from domain.errors import Conflict
from domain.ids import action_run_id_for
from domain.schedules import backoff_delay

STARTABLE = frozenset({"planned", "retrying"})
MAX_ERROR = 2_000


class ActionRun(Aggregate):
    @staticmethod
    def create_id(process_action_id: UUID, trigger_key: str) -> UUID:
        return action_run_id_for(process_action_id, trigger_key)

    @event("Planned")
    def __init__(
        self,
        tenant_id: UUID,
        process_action_id: UUID,
        action_id: UUID,
        trigger_key: str,
        planned_at: datetime,
        context: dict[str, Any],
        retry: dict[str, Any],
    ) -> None:
        self.tenant_id = tenant_id
        self.process_action_id = process_action_id
        self.action_id = action_id
        self.trigger_key = trigger_key
        self.planned_at = planned_at
        self.due_at = planned_at
        self.context = context
        """The triggering record as it was, so the message says what actually happened."""
        self.retry = retry
        self.status = "planned"
        self.attempts = 0
        self.last_error: str | None = None
        self.provider_message_id: str | None = None

    @classmethod
    def plan(
        cls,
        tenant_id: UUID,
        process_action_id: UUID,
        action_id: UUID,
        trigger_key: str,
        planned_at: datetime,
        context: dict[str, Any],
        retry: RetryPolicy,
    ) -> ActionRun:
        return cls(  # the id comes from create_id(process_action_id, trigger_key)
            tenant_id=tenant_id,
            process_action_id=process_action_id,
            action_id=action_id,
            trigger_key=trigger_key,
            planned_at=planned_at,
            context=context,
            retry=retry.to_json(),
        )

    @property
    def startable(self) -> bool:
        return self.status in STARTABLE

    def start(self, at: datetime, fence: int) -> None:
        """Begin the next attempt; `fence` is the scheduler's leadership epoch, for the record."""
        if not self.startable:
            raise Conflict(f"run is {self.status}; only planned or retrying runs start")
        self._started(self.attempts + 1, at, fence)

    @event("Started")
    def _started(self, attempt: int, at: datetime, fence: int) -> None:
        self.status = "sending"
        self.attempts = attempt

    def deliver(self, at: datetime, provider_message_id: str | None, detail: str) -> None:
        self._require_sending()
        self._delivered(self.attempts, at, provider_message_id, detail[:MAX_ERROR])

    @event("Delivered")
    def _delivered(
        self, attempt: int, at: datetime, provider_message_id: str | None, detail: str
    ) -> None:
        self.status = "delivered"
        self.provider_message_id = provider_message_id

    def fail(self, at: datetime, error: str, *, retryable: bool, jitter: float) -> None:
        """Retry with exponential backoff while attempts remain; otherwise the run is dead."""
        self._require_sending()
        policy = RetryPolicy(**self.retry)
        next_at = None
        if retryable and self.attempts < policy.max_attempts:
            delay = backoff_delay(
                self.attempts, policy.backoff_seconds, policy.max_backoff_seconds, jitter
            )
            next_at = at + timedelta(seconds=delay)
        self._failed(self.attempts, at, error[:MAX_ERROR], retryable, next_at)

    @event("Failed")
    def _failed(
        self,
        attempt: int,
        at: datetime,
        error: str,
        retryable: bool,
        next_attempt_at: datetime | None,
    ) -> None:
        self.last_error = error
        if next_attempt_at is None:
            self.status = "dead"
        else:
            self.status = "retrying"
            self.due_at = next_attempt_at

    def cancel(self, reason: str) -> None:
        if not self.startable:
            raise Conflict(f"run is {self.status}; only planned or retrying runs can be cancelled")
        self._cancelled(reason[:MAX_ERROR])

    @event("Cancelled")
    def _cancelled(self, reason: str) -> None:
        self.status = "cancelled"
        self.last_error = reason

    def _require_sending(self) -> None:
        if self.status != "sending":
            raise Conflict(f"run is {self.status}, not sending")
