"""One tenant flooding must not slow another: tenant B's command p99 and freshness p99, alone
and while tenant A sends 5x its `commands_per_second`.

    .venv/bin/python bench/fairness.py [--seconds 30] [--rounds 3] [--rate 50] [--limit 20] [--flood 5]

Starts the embedded stack, the API (uvicorn, own process), the relay and the projection
workers (own processes). Tenant B sends create-entity commands at `--rate`/s (its own load
process) and holds a subscription to its entities: a command's latency runs from its send to
its HTTP response; its freshness from the response (the commit is done) to the subscription
message carrying its position, i.e. until the read side shows the write. Three conditions,
`--seconds` of B's load each, interleaved in `--rounds` rounds (the machine's other load drifts
during a run) and pooled: B alone (the baseline); B while tenant A, whose
`commands_per_second` is `--limit`, sends exactly that (all admitted: A's fair share); B while
A sends `--flood` times it (over bench/_rawhttp.py, from its own process: the token bucket
admits A's limit and answers the rest 429 with Retry-After). The figure is B's p99 with A
flooding over B's p99 alone, target within 20 % (≤ 1.2x); flooding over A-at-its-limit says
what A's excess itself costs B. The p99s leave out the first second of each phase (SETTLING:
new connections, and A's one-second burst after a pause), printed apart. The API process's
CPU time per condition and where B's slowest commands fell are reported too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import multiprocessing
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from concurrent.futures import ProcessPoolExecutor

import httpx
import orjson

from bench._harness import (
    Bench,
    cpu_seconds,
    machine_note,
    percentile,
    running_stack,
    stop_process,
    write_results,
)
from bench._live import (
    BENCH_SETTINGS,
    Schedule,
    Sent,
    Tenant,
    create_entity,
    drive,
    listen,
    new_tenant,
    read_side,
    subscribe,
)
from bench._rawhttp import RawConnection, raw_connections

TARGET_RATIO = 1.2
SETTLING = 1.0
"""Seconds at the start of each phase left out of the p99s (printed apart): B's new keep-alive
connections, and, with A flooding, the second's worth of burst its bucket holds after a pause
(a burst the limit allows, measured: B's slowest commands were all in these 0.2 s)."""
START_DELAY = 3.0
"""Seconds between planning a phase and its first command: the load processes spawn first."""


@dataclasses.dataclass(frozen=True)
class Flood:
    """Tenant A's commands: `rate`/s from `begin` (wall clock) for `seconds`, whatever the
    answers say (429s included), over `connections` keep-alive connections."""

    base_url: str
    tenant: Tenant
    rate: float
    seconds: float
    connections: int
    begin: float = 0.0


def _flood(flood: Flood) -> dict[str, float]:
    """In a process of its own, on bench/_rawhttp.py (≈ 0.06 ms of CPU a request, httpx ≈ 1
    ms): the load generator must not take the cores the server needs."""
    return asyncio.run(_flood_async(flood))


async def _flood_async(flood: Flood) -> dict[str, float]:
    count = int(flood.rate * flood.seconds)
    statuses: list[int] = []
    body = orjson.dumps({"entity_type_id": flood.tenant.entity_type_id, "data": {"title": "a"}})
    async with raw_connections(flood.base_url, flood.connections) as connections:
        head = connections[0].head("POST", "/v1/commands/create-entity", {
            "Authorization": f"Bearer {flood.tenant.token}", "Content-Type": "application/json"})  # fmt: skip
        idle: asyncio.Queue[RawConnection] = asyncio.Queue()
        for connection in connections:
            idle.put_nowait(connection)

        async def one() -> None:
            connection = await idle.get()
            try:
                statuses.append((await connection.send(head, body))[0])
            finally:
                idle.put_nowait(connection)

        tasks = []
        for i in range(count):
            await asyncio.sleep(max(0.0, flood.begin + i / flood.rate - time.time()))
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks, return_exceptions=True)
    span = max(time.time() - flood.begin, 1e-9)
    accepted, refused = statuses.count(200), statuses.count(429)
    return {
        "seconds": span,
        "sent": len(statuses),
        "accepted": accepted,
        "refused": refused,
        "other": len(statuses) - accepted - refused,
    }


async def flooding(flood: Flood) -> dict[str, float]:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        return await asyncio.get_running_loop().run_in_executor(pool, _flood, flood)


@dataclasses.dataclass
class Condition:
    """Tenant B's samples under one condition, pooled over the rounds."""

    command_ms: list[float] = dataclasses.field(default_factory=list)
    freshness_ms: list[float] = dataclasses.field(default_factory=list)
    """Both after each phase's first SETTLING seconds; `whole_*` with them."""
    whole_command_ms: list[float] = dataclasses.field(default_factory=list)
    whole_freshness_ms: list[float] = dataclasses.field(default_factory=list)
    slowest: list[tuple[float, float]] = dataclasses.field(default_factory=list)
    """(seconds into its phase, ms) of B's slowest commands: where in a phase the tail is."""
    failed: int = 0
    never_shown: int = 0
    api_cpu_s: float = 0.0
    flood: dict[str, float] = dataclasses.field(default_factory=dict)

    def figures(self) -> dict[str, float]:
        def at(values: list[float], fraction: float) -> float:
            return round(percentile(values, fraction), 1)

        found = {
            "commands": len(self.whole_command_ms),
            "failed": self.failed,
            "never_shown": self.never_shown,
            "command_p50_ms": at(self.command_ms, 0.5),
            "command_p99_ms": at(self.command_ms, 0.99),
            "freshness_p50_ms": at(self.freshness_ms, 0.5),
            "freshness_p99_ms": at(self.freshness_ms, 0.99),
            "whole_command_p99_ms": at(self.whole_command_ms, 0.99),
            "whole_freshness_p99_ms": at(self.whole_freshness_ms, 0.99),
            "api_cpu_s": round(self.api_cpu_s, 1),
            "slowest_commands": self.slowest,  # type: ignore[dict-item]
        }
        if self.flood:
            span = max(self.flood["seconds"], 1e-9)
            found |= {
                "flood_sent_per_s": round(self.flood["sent"] / span, 1),
                "flood_accepted_per_s": round(self.flood["accepted"] / span, 1),
                "flood_refused_429": self.flood["refused"],
                "flood_other_errors": self.flood["other"],
            }
        return found


async def phase(
    bench: Bench, b: Tenant, arrivals: dict[int, float], rate: float, seconds: float,
    flood: Flood | None, into: Condition,
) -> None:  # fmt: skip
    """B's commands for `seconds` (with A's alongside when given), added to `into`."""
    cpu = cpu_seconds(bench.server_pid)
    begin = time.time() + START_DELAY
    mine = Schedule(bench.base_url, b, rate, int(rate * seconds), begin, 1, 8)
    flooded = (
        asyncio.ensure_future(flooding(dataclasses.replace(flood, begin=begin)))
        if flood is not None
        else None
    )
    sent: list[Sent] = await drive(mine)
    deadline = time.time() + 10
    while any(p not in arrivals for p, *_ in sent) and time.time() < deadline:
        await asyncio.sleep(0.05)
    seen = [(p, s, c) for p, s, c in sent if p in arrivals]
    settled = begin + SETTLING
    into.command_ms += [(c - s) * 1000 for _, s, c in sent if s >= settled]
    into.whole_command_ms += [(c - s) * 1000 for _, s, c in sent]
    into.slowest = sorted(
        [*into.slowest, *((round(s - begin, 2), round((c - s) * 1000, 1)) for _, s, c in sent)],
        key=lambda t: -t[1],
    )[:8]
    into.freshness_ms += [(arrivals[p] - c) * 1000 for p, s, c in seen if s >= settled]
    into.whole_freshness_ms += [(arrivals[p] - c) * 1000 for p, _, c in seen]
    into.failed += mine.count - len(sent)
    into.never_shown += len(sent) - len(seen)
    if flooded is not None:
        for key, value in (await flooded).items():
            into.flood[key] = into.flood.get(key, 0) + value
    into.api_cpu_s += cpu_seconds(bench.server_pid) - cpu


@dataclasses.dataclass(frozen=True)
class Result:
    phases: dict[str, dict[str, float]]
    """"alone", "at_limit" (A sends its limit: all admitted), "flooded" (A sends N times it)."""

    def ratios(self, over: str, prefix: str = "") -> dict[str, float]:
        """B's p99 while A floods over B's p99 in phase `over` (`whole_`: the phases whole)."""
        flooded, base = self.phases["flooded"], self.phases[over]
        return {
            name: round(flooded[f"{prefix}{name}_p99_ms"] / base[f"{prefix}{name}_p99_ms"], 2)
            for name in ("command", "freshness")
        }


async def measure(
    bench: Bench, a: Tenant, b: Tenant, rate: float, seconds: float, rounds: int, limit: int,
    times: int,
) -> Result:  # fmt: skip
    arrivals: dict[int, float] = {}
    ws = await subscribe(bench.base_url.replace("http", "ws") + "/graphql", b.token)
    listener = asyncio.create_task(listen(ws, arrivals.setdefault))
    async with httpx.AsyncClient(base_url=bench.base_url, timeout=30) as http:
        while not arrivals:  # the pipeline delivers (consumer-group joins take a few seconds)
            await create_entity(http, b, -1)
            await asyncio.sleep(0.5)
    each = seconds / rounds
    # 32 connections: enough to send N times A's limit without waiting for answers
    floods = {
        "alone": None,
        "at_limit": Flood(bench.base_url, a, limit, each, 32),
        "flooded": Flood(bench.base_url, a, limit * times, each, 32),
    }
    conditions = {name: Condition() for name in floods}
    try:
        for _ in range(rounds):  # interleaved: the machine's other load drifts over a run
            for name, flood in floods.items():
                await phase(bench, b, arrivals, rate, each, flood, conditions[name])
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await listener
        await ws.close()
    return Result({name: c.figures() for name, c in conditions.items()})


def run(rate: float, seconds: float, rounds: int, limit: int, times: int) -> Result:
    with running_stack() as bench:
        servers = read_side(bench.urls, bench.data_dir)
        try:
            a = new_tenant(bench, "flooder", {**BENCH_SETTINGS, "commands_per_second": limit})
            b = new_tenant(bench, "bystander")
            return asyncio.run(measure(bench, a, b, rate, seconds, rounds, limit, times))
        finally:
            for server in servers:
                stop_process(server)


LABELS = {"alone": "B alone", "at_limit": "B, A at its limit", "flooded": "B, A flooding"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # 30 s: about 1,400 of B's commands per condition after the settling seconds, so its p99
    # is the 14th slowest, not (as with 10 s) the 4th: one stall no longer moves the figure.
    parser.add_argument("--seconds", type=float, default=30.0, help="of B's load per condition")
    parser.add_argument("--rounds", type=int, default=3, help="the conditions, interleaved")
    parser.add_argument("--rate", type=float, default=50.0, help="tenant B's commands per second")
    parser.add_argument("--limit", type=int, default=20, help="tenant A's commands_per_second")
    parser.add_argument("--flood", type=int, default=5, help="A sends this many times its limit")
    args = parser.parse_args()
    result = run(args.rate, args.seconds, args.rounds, args.limit, args.flood)
    print(f"# {machine_note()}; B at {args.rate:g}/s for {args.seconds:g} s per condition "
          f"({args.rounds} rounds); "
          f"A limited to {args.limit}/s, flooding at {args.limit * args.flood}/s")  # fmt: skip
    for name, f in result.phases.items():
        line = (f"{LABELS[name]}: command p99={f['command_p99_ms']}ms (p50 {f['command_p50_ms']}ms), "
                f"freshness p99={f['freshness_p99_ms']}ms (p50 {f['freshness_p50_ms']}ms); "
                f"{f['commands']} committed, {f['failed']} failed, {f['never_shown']} never shown; "
                f"API CPU {f['api_cpu_s']} s; whole phases: command p99={f['whole_command_p99_ms']}ms, "
                f"freshness p99={f['whole_freshness_p99_ms']}ms")  # fmt: skip
        if "flood_sent_per_s" in f:
            line += (f"; A sent {f['flood_sent_per_s']}/s, {f['flood_accepted_per_s']}/s accepted, "
                     f"{f['flood_refused_429']} answered 429, {f['flood_other_errors']} other")  # fmt: skip
        print(line)
    for name, ratio in result.ratios("alone").items():
        verdict = "within" if ratio <= TARGET_RATIO else "OVER"
        print(f"B's {name} p99, A flooding / B alone: {ratio}x "
              f"({verdict} the {TARGET_RATIO}x target)")  # fmt: skip
    for name, ratio in result.ratios("alone", "whole_").items():
        print(f"B's {name} p99, A flooding / B alone, first {SETTLING:g} s of each phase "
              f"included: {ratio}x")  # fmt: skip
    for name, ratio in result.ratios("at_limit").items():
        print(f"B's {name} p99, A flooding / A at its limit: {ratio}x (what the excess costs)")
    payload = {"b_rate": args.rate, "a_limit": args.limit, "a_flood_rate": args.limit * args.flood,
               **dataclasses.asdict(result), "p99_ratios_over_alone": result.ratios("alone"),
               "p99_ratios_over_at_limit": result.ratios("at_limit"),
               "whole_p99_ratios_over_alone": result.ratios("alone", "whole_")}  # fmt: skip
    print(f"# written to {write_results('fairness', payload)}")


if __name__ == "__main__":
    main()
