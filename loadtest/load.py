"""One run's state, from setup to the last subscription message, and what it measured.

Everything runs on one asyncio event loop (httpx and websockets are both asyncio-native), so
the only contention is the loop itself; the schedule lag says when it is overloaded.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from loadtest.client import ApiClient, OperationError, websocket_url
from loadtest.data import DataGenerator
from loadtest.executors import execute
from loadtest.freshness import FreshnessTracker
from loadtest.metrics import Recorder
from loadtest.progress import LiveView
from loadtest.scenario import ConstantVUs, Scenario
from loadtest.setup import (
    Mint,
    Prepared,
    SetupError,
    prepare,
    prove_live,
    tenant_of,
    wait_until_ready,
)
from loadtest.steps import Mix, Outcome, Step, StepContext, World, read_back
from loadtest.subscriber import SubscriberPool


@dataclass(frozen=True)
class Target:
    url: str
    token: str
    allow_remote: bool = False
    mint: Mint | None = None
    """Mints tokens when a scenario creates its own tenant (needs the signing key)."""


class Load:
    """The state of one run, from setup to the last subscription message."""

    def __init__(
        self, scenario: Scenario, target: Target, mix: Mix, view: LiveView, stop: asyncio.Event
    ) -> None:
        self.scenario, self.target, self.mix = scenario, target, mix
        self.view, self.stop = view, stop
        ex = scenario.executor
        width = ex.vus if isinstance(ex, ConstantVUs) else ex.max_in_flight
        self.api = ApiClient(
            target.url, target.token, timeout=scenario.request_timeout, connections=width + 16
        )
        self.started_at = datetime.now(UTC)
        self.data = DataGenerator(scenario.data.seed, uuid.uuid4().hex[:8], scenario.data.typo_rate)
        self.recorder = Recorder()
        self.tracker = FreshnessTracker(self.recorder.subscription_freshness, origin=0.0)
        self.prepared = Prepared(World(), target.token, tenant_of(target.token))
        self.pool = SubscriberPool(websocket_url(target.url), target.token, 0, [], self.on_message)
        self.reads: set[asyncio.Task[None]] = set()
        self.measuring = False
        self.origin = self.span = 0.0

    async def prepare(self) -> None:
        scenario, view, subs = self.scenario, self.view, self.scenario.subscriptions
        began = asyncio.get_running_loop().time()
        view.phase(f"checking {self.target.url}")
        await wait_until_ready(self.api)
        view.phase(
            f"setting up: {scenario.data.entity_types} entity types, "
            f"{scenario.data.entities} entities (run {self.data.run_tag})"
        )
        self.prepared = await prepare(self.api, scenario, self.data, self.target.mint)
        if not subs.connections:
            return
        view.phase(f"opening {subs.connections} subscription connection(s)")
        self.pool = SubscriberPool(
            websocket_url(self.target.url),
            self.prepared.token,
            subs.connections,
            list(subs.streams),
            self.on_message,
        )
        await self.pool.start()
        if not self.pool.live:
            raise SetupError(f"no subscription connection opened: {self.pool.describe()['errors']}")
        try:
            async with asyncio.timeout(subs.ready_timeout):
                await prove_live(
                    self.api, self.data, self.prepared, self.pool.subscribers, list(subs.streams)
                )
        except TimeoutError:
            raise SetupError(
                f"subscriptions delivered nothing within {subs.ready_timeout:g} s"
            ) from None
        self.prepared.seconds = asyncio.get_running_loop().time() - began

    def on_message(self, subscriber: int, stream: str, position: int, at: float) -> None:
        if self.measuring:
            self.tracker.message(subscriber, stream, position, at)
        else:  # setup: proof that the subscription is live
            key = (subscriber, stream)
            self.prepared.seen[key] = self.prepared.seen.get(key, 0) + 1

    async def measure(self) -> None:
        loop = asyncio.get_running_loop()
        scenario, pool = self.scenario, self.pool
        live = {s.number for s in pool.live}
        self.tracker.expect({stream: set(live) for stream in scenario.subscriptions.streams})
        self.origin = self.tracker.origin = loop.time()
        self.measuring = True
        contexts = [
            StepContext(self.api, self.data, self.prepared.world, p) for p in self.mix.params
        ]

        async def iteration() -> None:
            index = self.mix.pick(self.data.rng.random())
            await self.step(self.mix.labels[index], self.mix.steps[index], contexts[index])

        def connections() -> tuple[int, int]:
            return len(pool.live), scenario.subscriptions.connections

        grace = scenario.request_timeout + 1
        watch = loop.create_task(self.recorder.watch_loop())
        try:
            async with self.view.measuring(self.recorder, self.tracker, self.origin, connections):
                await execute(scenario.executor, iteration, self.recorder, self.stop, grace)
        finally:
            watch.cancel()
        self.span = loop.time() - self.origin
        self.view.phase("waiting for the last reads and subscription messages")
        if self.reads:
            await asyncio.wait(set(self.reads), timeout=scenario.freshness.read_timeout + grace)
        await self.tracker.drain(scenario.freshness.grace, self.closed_subscribers)

    def closed_subscribers(self) -> list[int]:
        return [s.number for s in self.pool.subscribers if s.closed]

    async def step(self, label: str, step: Step, ctx: StepContext) -> None:
        """One operation, timed; a command's change is then followed to its subscribers and,
        for a sample, to a GraphQL read."""
        loop, origin = asyncio.get_running_loop(), self.origin
        began = loop.time()
        try:
            outcome = await step(ctx) or Outcome()
        except OperationError as exc:
            self.recorder.failure(label, began - origin, loop.time() - origin, exc.kind, exc.sample)
            return
        except Exception as exc:  # a custom step's bug must not stop the run
            kind = f"step_error ({type(exc).__name__})"
            sample = {"title": type(exc).__name__, "detail": str(exc)[:300]}
            self.recorder.failure(label, began - origin, loop.time() - origin, kind, sample)
            return
        answered = loop.time()
        self.recorder.success(label, began - origin, answered - origin, command=outcome.command)
        if outcome.position is None:
            return
        if outcome.stream is not None:
            self.tracker.committed(outcome.position, outcome.stream, answered)
        if outcome.read_back and self.data.rng.random() < self.scenario.freshness.read_sample:
            task = loop.create_task(self.read(outcome.read_back, outcome.position, answered))
            self.reads.add(task)
            task.add_done_callback(self.reads.discard)

    async def read(self, target: tuple[str, str], position: int, answered: float) -> None:
        """Time from a command's answer until a GraphQL read shows its change."""
        spec, series = self.scenario.freshness, self.recorder.read_freshness
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(spec.read_timeout):
                await read_back(
                    self.api,
                    target,
                    position,
                    mode=spec.read_mode,
                    poll_interval=spec.poll_interval,
                )
        except OperationError as exc:
            series.fail(answered - self.origin, exc.kind, exc.sample)
            return
        except TimeoutError:
            detail = (
                f"{target[0]} {target[1]} not at position {position} after {spec.read_timeout:g} s"
            )
            series.fail(
                answered - self.origin, "stale", {"title": "read timed out", "detail": detail}
            )
            return
        series.ok.append((answered - self.origin, loop.time() - answered))

    async def close(self) -> None:
        await self.pool.stop()
        await self.api.close()

    def summary(self) -> dict[str, Any]:
        """Everything measured, as the JSON report holds it (thresholds are added after)."""
        scenario, prepared, recorder, span = self.scenario, self.prepared, self.recorder, self.span
        return {
            "tool": "bsdflow loadtest",
            "format": 1,
            "scenario": {
                "name": scenario.name,
                "description": scenario.description,
                "source": str(scenario.source) if scenario.source else None,
                "executor": scenario.executor.model_dump(),
                "mix": [entry.model_dump(exclude_none=True) for entry in scenario.mix],
                "freshness": scenario.freshness.model_dump(),
            },
            "target": self.target.url,
            "tenant": prepared.tenant,
            "started_at": self.started_at.isoformat(),
            "finished_at": datetime.now(UTC).isoformat(),
            "interrupted_by_user": self.stop.is_set(),
            "duration_s": round(span, 3),
            "setup": {
                "commands": prepared.commands,
                "probe_commands": prepared.probes,
                "entity_types": len(prepared.world.types),
                "entities": scenario.data.entities,
                "last_position": prepared.last_position,
                "seconds": round(prepared.seconds, 3),
            },
            "totals": recorder.totals(span),
            "operations": {  # in the mix's order, as the scenario lists them
                label: recorder.operations[label].describe(span)
                for label in self.mix.labels
                if label in recorder.operations
            },
            "freshness": {
                "subscription": recorder.subscription_freshness.describe(span),
                "read": recorder.read_freshness.describe(span)
                | {"mode": scenario.freshness.read_mode},
                "missed": self.tracker.outstanding,
            },
            "subscriptions": self.pool.describe(),
        }
