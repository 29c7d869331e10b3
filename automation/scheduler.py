"""The scheduler: fires due runs, plans recurring ones, and applies catch-up after downtime.

Each working tick (every `tick` seconds of real time while anything may have changed, at least
every `idle_tick` seconds otherwise: see automation/pace.py; times come from an injectable clock):
1. renew the lease, or stop acting;
2. plan the next occurrences of recurring process actions (a little ahead, so they are in the
   read model before they fall due); occurrences that are already well past were missed, and
   the action's catch-up policy picks which of them still run;
3. on the first tick after a takeover, planned runs that fell due while no scheduler was
   running go through their action's catch-up policy too;
4. record the SLA reminders and breaches of processes that fell due (after downtime, all
   that fell due meanwhile: each once, as the process aggregate decides);
5. start every due run that the tenant's delivery rate allows (a new version of the run in
   the event store: two schedulers can never both start the same attempt), deliver them
   concurrently, and record the outcomes in batches.
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from time import monotonic
from typing import Any
from uuid import UUID, uuid4

import psycopg
import structlog

from automation.delivery import Delivery
from automation.lease import Lease, Takeover
from automation.lookup import Lookup
from automation.pace import Pace
from automation.planning import still_wanted
from commands.action_runs import ActionRunBatches, Outcome, RunPlan
from commands.ports import RateLimiter
from commands.process_timers import ProcessTimers
from domain.action_catalog import parse_retry
from domain.action_run import ActionRun
from domain.schedules import parse_catch_up, parse_schedule
from projections.automation.due import (
    DueRun,
    Recurring,
    due_runs,
    next_due,
    recurring_actions,
    stuck_sending,
)
from projections.processes.timers import Timer, due_timers, next_timer

log = structlog.get_logger("bsdflow.scheduler")
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class SchedulerConfig:
    tick: float = 0.2
    """Seconds between ticks: how late a due run may fire at worst, plus delivery time."""
    horizon: timedelta = timedelta(seconds=30)
    """How far ahead recurring occurrences are planned."""
    grace: timedelta = timedelta(seconds=5)
    """An occurrence older than this when first seen was missed (catch-up decides)."""
    stuck_after: timedelta = timedelta(minutes=5)
    """An attempt with no outcome after this long is failed as 'outcome unknown' (retried)."""
    batch: int = 2_000
    concurrency: int = 64
    idle_tick: float = 5.0
    """With a change counter (`Scheduler.changes`): at most this long between working ticks
    while nothing changes — the lease heartbeat and recurring planning run this often then."""


@dataclass
class Scheduler:
    database_url: str
    runs: ActionRunBatches
    delivery: Delivery
    lookup: Lookup
    limiter: RateLimiter
    clock: Clock = utc_now
    config: SchedulerConfig = field(default_factory=SchedulerConfig)
    name: str = field(default_factory=lambda: f"scheduler-{uuid4().hex[:8]}")
    timers: ProcessTimers | None = None
    """Records processes' SLA timers as they fall due (None: this scheduler does not)."""
    changes: Callable[[], int] | None = None
    """A counter that moves when the event log grows (the events topic's doorbell); lets
    idle ticks skip their queries. None: every tick works."""
    fired: int = 0
    timers_fired: int = 0
    ticks: int = 0
    delivered: int = 0
    _inflight: set[UUID] = field(default_factory=set)
    _timers_handled: dict[Timer, float] = field(default_factory=dict)
    _outcomes: list[Outcome] = field(default_factory=list)

    def run(self, stop: threading.Event) -> None:
        asyncio.run(self._run(stop))

    async def _run(self, stop: threading.Event) -> None:
        lease = Lease(self.database_url, self.name)
        conn: psycopg.Connection[Any] = await asyncio.to_thread(self._connect)
        gate = asyncio.Semaphore(self.config.concurrency)
        tasks: set[asyncio.Task[None]] = set()
        takeover: Takeover | None = None
        missed_since: datetime | None = None
        flushing: asyncio.Task[None] | None = None
        pace = Pace(self.changes, idle_tick=self.config.idle_tick)
        try:
            while not stop.is_set():
                now = self.clock()
                busy = takeover is None or bool(tasks or self._outcomes or self._inflight)
                if not pace.should_work(now, busy=busy):
                    self.ticks += 1  # a tick that knows nothing changed, so needs no query
                    await asyncio.sleep(self.config.tick)
                    continue
                if takeover is None:
                    takeover = await asyncio.to_thread(lease.acquire, now)
                    if takeover is not None:
                        log.info("scheduler leads", epoch=takeover.epoch, holder=self.name)
                        missed_since = takeover.previous_heartbeat
                elif not await asyncio.to_thread(lease.renew, now):
                    log.warning("scheduler lost its lease", epoch=lease.epoch)
                    takeover = None
                if takeover is not None:
                    await asyncio.to_thread(self._plan, conn, lease, now, missed_since)
                    missed_since = None
                    await asyncio.to_thread(self._fire_timers, conn, now)
                    for run in await asyncio.to_thread(self._start_due, conn, lease.epoch, now):
                        task = asyncio.create_task(self._deliver(gate, run))
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
                    pace.worked(await asyncio.to_thread(self._next_due, conn))
                # Outcomes are recorded while the next tick starts runs: neither waits for the other.
                if self._outcomes and (flushing is None or flushing.done()):
                    flushing = asyncio.create_task(self._flush())
                self.ticks += 1
                await asyncio.sleep(self.config.tick)
            if tasks:
                await asyncio.wait(tasks, timeout=10)
            if flushing is not None:
                await flushing
            await self._flush()
        finally:
            await asyncio.to_thread(lease.release)
            conn.close()

    def _connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.database_url, autocommit=True)

    def _plan(
        self,
        conn: psycopg.Connection[Any],
        lease: Lease,
        now: datetime,
        missed_since: datetime | None,
    ) -> None:
        """Plan recurring occurrences; apply catch-up to what was missed.

        Missed are recurring occurrences already past when first seen, and — right after a
        takeover (`missed_since`: the last leader's heartbeat) — planned runs that fell due
        while no scheduler ran. Per process action, the catch-up policy picks among all of
        them together; the rest are cancelled (runs) or passed over (occurrences).
        """
        missed_runs: dict[UUID, list[DueRun]] = defaultdict(list)
        if missed_since is not None:
            for run in due_runs(conn, now - self.config.grace, 100_000):
                if run.status == "planned" and run.due_at > missed_since:
                    missed_runs[run.process_action_id].append(run)
        plans: list[RunPlan] = []
        cancels: list[UUID] = []
        cursors: list[tuple[UUID, datetime]] = []
        for action in recurring_actions(conn):
            runs = missed_runs.pop(action.id, [])
            planned, cancelled, until = self._occurrences(
                action, lease.cursor(action.id), runs, now
            )
            plans.extend(planned)
            cancels.extend(cancelled)
            cursors.append((action.id, until))
        for runs in missed_runs.values():
            keep, _ = parse_catch_up(runs[0].catch_up).select([r.due_at for r in runs], now)
            cancels.extend(r.id for r in runs if r.due_at not in set(keep))
        if plans:
            self.runs.plan(plans)
        if cancels:
            self.runs.cancel(cancels, "missed while no scheduler was running (catch-up policy)")
            log.info("missed runs skipped", count=len(cancels))
        for action_id, until in cursors:  # after the plans are stored: never skip one
            lease.advance_cursor(action_id, until)

    def _fire_timers(self, conn: psycopg.Connection[Any], now: datetime) -> None:
        """Record the timers due by `now`. The read model learns what fired a little later, so
        the processes handled in the last minute are not looked at again meanwhile."""
        if self.timers is None:
            return
        recent = monotonic() - 60.0
        self._timers_handled = {k: t for k, t in self._timers_handled.items() if t > recent}
        while due := due_timers(conn, now, self.config.batch, list(self._timers_handled)):
            fired = self.timers.fire([process_id for process_id, _ in due], now)
            self.timers_fired += len(fired)
            self._timers_handled.update(dict.fromkeys(due, monotonic()))
            if len(due) < self.config.batch:
                return

    def _next_due(self, conn: psycopg.Connection[Any]) -> datetime | None:
        """When the next run or SLA timer falls due."""
        times = [next_due(conn), next_timer(conn) if self.timers is not None else None]
        return min((t for t in times if t is not None), default=None)

    def _occurrences(
        self, action: Recurring, cursor: datetime | None, runs: list[DueRun], now: datetime
    ) -> tuple[list[RunPlan], list[UUID], datetime]:
        schedule = parse_schedule(action.schedule)
        tenant = self.lookup.tenant(action.tenant_id)
        item = self.lookup.action(action.action_id)
        until = now + self.config.horizon
        if item is None or item.retired:
            return [], [], until
        start = cursor or action.created_at
        if schedule.recurring:
            times = schedule.fire_times(start, until, tenant["timezone"], 10_000)
        else:  # a one-off "at" instant
            at = schedule.first_time(action.created_at, {}, tenant["timezone"])
            times = [at] if at is not None and start < at <= until else []
        late = now - self.config.grace
        missed = [t for t in times if t < late]
        upcoming = [t for t in times if t >= late]
        keep: list[datetime] = []
        if missed or runs:
            candidates = sorted({*missed, *(r.due_at for r in runs)})
            keep, _ = parse_catch_up(action.catch_up).select(candidates, now)
        kept = set(keep)
        planned_runs = {r.due_at for r in runs}
        plans = [
            RunPlan(
                tenant_id=action.tenant_id,
                process_action_id=action.id,
                action_id=action.action_id,
                trigger_key=f"at:{at.isoformat()}",
                planned_at=at,
                context={
                    "tenant": tenant,
                    "schedule": {"at": at.isoformat()},
                    "trigger": {"event": "schedule", "at": at.isoformat()},
                    "participants": [],
                    "process": None,
                },
                retry=parse_retry(item.retry),
            )
            for at in [*(t for t in missed if t in kept and t not in planned_runs), *upcoming]
        ]
        return plans, [r.id for r in runs if r.due_at not in kept], until

    def _start_due(
        self, conn: psycopg.Connection[Any], epoch: int, now: datetime
    ) -> list[ActionRun]:
        candidates = [
            r for r in due_runs(conn, now, self.config.batch) if r.id not in self._inflight
        ]
        allowed = [r.id for r in candidates if self._within_rate(r.tenant_id)]

        def unwanted(run: ActionRun) -> str | None:
            timezone = self.lookup.tenant(run.tenant_id)["timezone"]
            return still_wanted(self.lookup, run, now, timezone)

        started = self.runs.start(allowed, now, epoch, unwanted) if allowed else []
        self._inflight.update(run.id for run in started)
        self.fired += len(started)
        stuck = [
            i
            for i in stuck_sending(conn, now - self.config.stuck_after, 500)
            if i not in self._inflight
        ]
        if stuck:
            self._outcomes.extend(
                Outcome(
                    i,
                    False,
                    "delivery outcome unknown: the sender stopped mid-attempt",
                    retryable=True,
                )
                for i in stuck
            )
        return started

    def _within_rate(self, tenant_id: UUID) -> bool:
        rate = int(self.lookup.tenant(tenant_id)["deliveries_per_second"])
        return self.limiter.take(f"deliveries:{tenant_id}", rate, max(rate, 1)) == 0

    async def _deliver(self, gate: asyncio.Semaphore, run: ActionRun) -> None:
        async with gate:
            outcome = await self.delivery.send(run)
        self._outcomes.append(outcome)

    async def _flush(self) -> None:
        if not self._outcomes:
            return
        outcomes, self._outcomes = self._outcomes, []
        try:
            finished = await asyncio.to_thread(self.runs.finish, outcomes, self.clock())
        except Exception:
            log.exception("could not record outcomes; retrying next tick", count=len(outcomes))
            self._outcomes.extend(outcomes)
            return
        self.delivered += sum(1 for run in finished if run.status == "delivered")

        for outcome in outcomes:
            self._inflight.discard(outcome.run_id)
