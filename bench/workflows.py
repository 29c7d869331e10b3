"""Workflows: guarded transitions over HTTP, SLA timers due together, simulation over history.

    .venv/bin/python bench/workflows.py [--seconds 10] [--clients 8] [--timers 50000]
                                        [--events 1000000]

1. Transitions per second through HTTP: each client moves its own case back and forth by a
   definition's transitions, each with a guard (`data.level >= 3`, the actor's roles); the
   baseline, same run and server, is `enter-stage` on cases with free stages.
2. SLA timers: N cases whose SLA falls due in the same minute; the scheduler (its own clock,
   moved to the due minute) records every breach. Checked: none missed, none doubled (each
   case has exactly one SlaBreached). Baseline: plain eventsourcing saving N one-event
   aggregates 1,000 per call.
3. Simulation: N recorded occurrences of one tenant replayed through a proposed process action
   (about 10 % match its condition); the baseline is reading and decoding the same events.

Prints one line per figure; writes bench/results/workflows.json. The defaults take about
5 minutes on a 2-core machine (most of it storing the million events).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson
import psycopg

from bench._harness import (
    Bench,
    Figure,
    async_load,
    fresh_database,
    interrupt_on_sigterm,
    machine_note,
    run_async,
    running_stack,
    write_results,
)
from bench._rawhttp import raw_connections
from bench.commands import command
from bench.scheduler import (
    OffsetClock,
    baseline,
    close_clients,
    console,
    settings_for,
    watch,
)
from domain.action_catalog import ActionCatalogItem
from domain.calendar import BusinessCalendar
from domain.occurrence import Occurrence
from domain.process import Process
from domain.process_definition import ProcessDefinition
from domain.tenant import Tenant
from domain.workflow import Clock
from eventstore.envelope import decode_event
from eventstore.postgres import PostgresEventStore
from eventstore.reading import events_after
from infra.automation import AutomationSide
from infra.embedded import ServerUrls
from infra.logging import configure_logging
from infra.readdb import migrate_read_side
from infra.readside import ReadSide
from infra.runtime import build_runtime
from infra.simulation import simulate

GUARD = {"and": [{">=": [{"var": "data.level"}, 3]}, {"in": ["admin", {"var": "me.roles"}]}]}
PING = {
    "key": "ping",
    "name": "Ping",
    "fields": [{"name": "level", "type": "integer"}],
    "stages": ["a", "b"],
    "transitions": [
        {"name": "go", "from": "a", "to": "b", "guard": GUARD},
        {"name": "back", "from": "b", "to": "a", "guard": GUARD},
    ],
}
WAIT = {
    "name": "Wait",
    "fields": [],
    "stages": [{"name": "waiting", "sla": {"within": "PT1M"}}, "done"],
    "transitions": [{"name": "finish", "from": "waiting", "to": "done"}],
}


# ---------------------------------------------------------------------------------------------
# 1. Transitions over HTTP
# ---------------------------------------------------------------------------------------------


async def moving(
    bench: Bench, token: str, cases: list[str], guarded: bool, seconds: float
) -> Figure:
    """Each client moves its case a → b → a …: by guarded transitions, or by enter-stage."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    name = "move-process" if guarded else "enter-stage"
    at_b = [False] * len(cases)
    async with raw_connections(bench.base_url, len(cases)) as http:
        head = http[0].head("POST", f"/v1/commands/{name}", headers)

        async def move(client: int) -> str | None:
            step = ("back" if at_b[client] else "go") if guarded else ("a" if at_b[client] else "b")
            key = "transition" if guarded else "stage"
            body = orjson.dumps({"process_id": cases[client], key: step})
            status, reply = await http[client].send(head, body)
            if status != 200:
                return f"{status} {reply[:300]!r}"
            at_b[client] = not at_b[client]
            return None

        label = f"{name} http c={len(cases)}" + (" (guarded transitions)" if guarded else "")
        return await async_load(label, "moves/s", move, len(cases), seconds, 1.0)


def transitions(bench: Bench, clients: int, seconds: float) -> dict[str, Any]:
    slug = f"bench-{uuid.uuid4().hex[:8]}"
    platform = bench.tokens.mint("platform", ["platform"], actor="bench")
    settings = {"commands_per_second": 100_000}
    command(
        bench.base_url,
        "create-tenant",
        platform,
        {"slug": slug, "name": "Bench", "settings": settings},
    )
    admin = bench.tokens.mint(slug, ["admin"], actor="bench")
    command(bench.base_url, "publish-process-definition", admin, PING)
    defined = [
        command(bench.base_url, "open-process", admin, {"definition": "ping", "title": f"c{n}",
                                            "data": {"level": 5}})["id"]
        for n in range(clients)
    ]  # fmt: skip
    free = [
        command(bench.base_url, "open-process", admin, {"kind": "ping", "title": f"f{n}",
                                            "stages": ["a", "b"]})["id"]
        for n in range(clients)
    ]  # fmt: skip
    base = run_async(moving(bench, admin, free, False, seconds))
    guarded = run_async(moving(bench, admin, defined, True, seconds))
    for figure in (base, guarded):
        print(figure.line(), flush=True)
    ratio = guarded.rate / base.rate if base.rate else float("nan")
    print(f"guarded transitions / enter-stage: {ratio:.2f}x", flush=True)
    return {"enter_stage": base.as_dict(), "move_process": guarded.as_dict(), "ratio": ratio}


# ---------------------------------------------------------------------------------------------
# 2. SLA timers due in the same minute
# ---------------------------------------------------------------------------------------------


def timers(urls: ServerUrls, root: Path, count: int, timeout: float) -> dict[str, Any]:
    base_s = baseline(fresh_database(urls.database_url, "bench_plain"), count)
    base_rate = count / base_s
    print(f"baseline: plain eventsourcing, {count:,} one-event aggregates saved 1,000 per call: "
          f"{base_rate:,.0f}/s ({base_s:.2f} s)", flush=True)  # fmt: skip
    database_url = fresh_database(urls.database_url, "bench_workflows")
    PostgresEventStore(database_url, 1, 0).close()
    migrate_read_side(database_url)
    topic = f"bsdflow.events.bench_workflows_{uuid.uuid4().hex[:8]}"
    run_urls = ServerUrls(database_url, urls.kafka_bootstrap_servers, urls.redis_url)
    with contextlib.ExitStack() as up:
        runtime = build_runtime(settings_for(run_urls, root / "runtime", topic), run_urls)
        up.callback(runtime.close)
        read = ReadSide(database_url, urls.kafka_bootstrap_servers, urls.redis_url, topic=topic,
                        projections=["processes"])  # fmt: skip
        up.callback(close_clients, read)
        up.callback(read.stop)
        read.start()
        clock = OffsetClock()
        side = AutomationSide(runtime, clock=clock, services=frozenset({"scheduler"}))
        up.callback(side.stop)
        side.start()
        scheduler = side.scheduler
        assert scheduler is not None

        tenant = Tenant.create("bench", "Bench", {})
        definition = ProcessDefinition.publish_first(tenant.id, "wait", "", WAIT)
        meta = {"tenant_id": str(tenant.id), "actor": "bench", "correlation_id": "bench"}
        runtime.store.save(tenant, definition, metadata=meta)
        due = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=2)
        entered = Clock(due - timedelta(minutes=1), BusinessCalendar.of({}))
        workflow = definition.workflow()
        started = time.perf_counter()
        with console.status("opening cases") as status:
            for first in range(0, count, 500):
                cases = [
                    Process.open_defined(tenant.id, "wait", 1, workflow, entered, f"case {n}")
                    for n in range(first, min(first + 500, count))
                ]
                runtime.store.save(*cases, metadata=meta)
                status.update(f"opening cases: {first + len(cases):,}/{count:,}")
        open_s = time.perf_counter() - started
        conn = psycopg.connect(database_url, autocommit=True)
        up.callback(conn.close)

        def counted(where: str) -> int:
            sql = f"SELECT count(*) FROM rm_processes.processes WHERE {where}"
            row = conn.execute(sql).fetchone()
            return int(row[0]) if row else 0

        watch("read model", lambda: {"timers": counted("next_timer_at IS NOT NULL")}, count,
              timeout, started)  # fmt: skip
        fired_before = scheduler.timers_fired
        clock.show(due + timedelta(seconds=30))  # the middle of the due minute
        t0 = time.perf_counter()
        reached = watch(
            "breaches",
            lambda: {"recorded": scheduler.timers_fired - fired_before,
                     "visible": counted("sla_breached")},
            count, timeout, t0,
        )  # fmt: skip
        time.sleep(2)  # a few more ticks: nothing more may fire
        breaches = conn.execute(
            "SELECT count(*), count(DISTINCT originator_id) FROM bsdflow_events "
            "WHERE topic LIKE %s",
            ("%Process.SlaBreached",),
        ).fetchone()
        assert breaches is not None
    total, distinct = int(breaches[0]), int(breaches[1])
    rate = count / reached["recorded"]
    print(f"SLA breaches recorded (all {count:,} due in one minute): {rate:,.0f}/s "
          f"({reached['recorded']:.2f} s from the due instant; {rate / base_rate:.3f}x baseline); "
          f"visible in the read model after {reached['visible']:.2f} s", flush=True)  # fmt: skip
    print(f"exactly once: {distinct:,} of {count:,} cases breached, {total - distinct} doubled, "
          f"{count - distinct} missed", flush=True)  # fmt: skip
    return {
        "cases": count,
        "open_s": round(open_s, 3),
        "recorded_s": round(reached["recorded"], 3),
        "visible_s": round(reached["visible"], 3),
        "rate": round(rate, 1),
        "baseline_rate": round(base_rate, 1),
        "breaches": total,
        "distinct": distinct,
        "missed": count - distinct,
        "doubled": total - distinct,
    }


# ---------------------------------------------------------------------------------------------
# 3. Simulation over recorded history
# ---------------------------------------------------------------------------------------------


def simulation(urls: ServerUrls, count: int) -> dict[str, Any]:
    database_url = fresh_database(urls.database_url, "bench_simulation")
    store = PostgresEventStore(database_url, 1, 0)
    try:
        tenant = Tenant.create("sim", "Sim", {})
        action = ActionCatalogItem.create(
            tenant.id, "Note", "webhook", {"body": "{}"}, {"url": "https://example.invalid"},
            None, {"max_attempts": 1},
        )  # fmt: skip
        meta = {"tenant_id": str(tenant.id), "actor": "bench", "correlation_id": "bench"}
        store.save(tenant, action, metadata=meta)
        at = datetime(2026, 1, 1, tzinfo=UTC)
        started = time.perf_counter()
        with console.status("recording occurrences") as status:
            for first in range(0, count, 1_000):
                batch = [
                    Occurrence.record(tenant.id, "reading", at + timedelta(seconds=n),
                                      {"value": n % 100})
                    for n in range(first, min(first + 1_000, count))
                ]  # fmt: skip
                store.save(*batch, metadata=meta)
                done = first + len(batch)
                rate = done / (time.perf_counter() - started)
                status.update(f"recording occurrences: {done:,}/{count:,} ({rate:,.0f}/s)")
        record_s = time.perf_counter() - started

        with psycopg.connect(database_url, autocommit=True) as conn:
            started, read = time.perf_counter(), 0
            position = 0
            while rows := events_after(conn, position, 5_000):
                position = rows[-1][0]
                read += sum(1 for row in rows if decode_event(*row).tenant_id == tenant.id)
            scan_s = time.perf_counter() - started

        proposal = {
            "action_id": str(action.id),
            "trigger": {"on": "occurrence_recorded", "kind": "reading"},
            "condition": {">=": [{"var": "data.value"}, 90]},
            "schedule": {"type": "relative", "to": "trigger", "offset": "PT5M"},
            "recipients": [],
            "steps": [],
        }
        result = simulate(store, database_url, tenant.id, proposal, None, None, count)
    finally:
        store.close()
    rate, scan_rate = result.events / result.seconds, read / scan_s
    print(f"simulation: {result.events:,} events replayed at {rate:,.0f}/s "
          f"({result.seconds:.2f} s), {len(result.runs):,} runs planned; baseline (read and "
          f"decode only): {scan_rate:,.0f}/s; {rate / scan_rate:.2f}x baseline "
          f"(recording them took {record_s:.0f} s)", flush=True)  # fmt: skip
    return {
        "events": result.events,
        "seconds": round(result.seconds, 3),
        "rate": round(rate, 1),
        "runs": len(result.runs),
        "scan_rate": round(scan_rate, 1),
        "target_rate": 100_000,
        "met": rate >= 100_000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per transition figure")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--timers", type=int, default=50_000, help="SLAs due in one minute")
    parser.add_argument("--events", type=int, default=1_000_000, help="history to simulate")
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    interrupt_on_sigterm()
    configure_logging("WARNING", json=False)
    results: dict[str, Any] = {"note": machine_note()}
    print(f"# {results['note']}", flush=True)
    with (
        tempfile.TemporaryDirectory(prefix="bsdflow-bench-") as tmp,
        running_stack(Path(tmp) / "api") as bench,
    ):
        results["transitions"] = transitions(bench, args.clients, args.seconds)
        if args.timers:
            results["timers"] = timers(bench.urls, Path(tmp), args.timers, args.timeout)
        if args.events:
            results["simulation"] = simulation(bench.urls, args.events)
    print(f"# written to {write_results('workflows', results)}")


if __name__ == "__main__":
    main()
