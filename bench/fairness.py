"""One tenant flooding must not slow another: tenant B's command p99 and freshness p99, alone
and while tenant A sends 5x its `commands_per_second`.

    .venv/bin/python bench/fairness.py [--seconds 10] [--rate 50] [--limit 100] [--flood 5]

Starts the embedded stack, the API (uvicorn, own process), the relay and the projection
workers (own processes). Tenant B sends create-entity commands at `--rate`/s for `--seconds`
(its own load process) and holds a subscription to its entities: a command's latency runs
from its send to its HTTP response; its freshness from the response (the commit is done) to
the subscription message carrying its position, i.e. until the read side shows the write.
That is the baseline. Then the same again while tenant A, whose `commands_per_second` is
`--limit`, sends `--flood` times that (its own load process): the token bucket admits A's
limit and answers the rest 429 with Retry-After. The ratios "with the flood / alone" are the
figures; the target is within 20 % (≤ 1.2x).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from bench._harness import machine_note, percentile, running_stack, stop_process, write_results
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

TARGET_RATIO = 1.2
START_DELAY = 3.0
"""Seconds between planning a phase and its first command: the load processes spawn first."""


def p99(values: list[float]) -> float:
    return round(percentile(values, 0.99), 1)


async def phase(
    base_url: str, b: Tenant, arrivals: dict[int, float], rate: float, seconds: float,
    flood: Schedule | None,
) -> dict[str, float]:  # fmt: skip
    """B's figures over one phase (with A's flood running alongside when given)."""
    begin = time.time() + START_DELAY
    mine = Schedule(base_url, b, rate, int(rate * seconds), begin, 1, 8)
    runs = [drive(mine)]
    if flood is not None:
        runs.append(drive(dataclasses.replace(flood, begin=begin)))
    results = await asyncio.gather(*runs)
    sent: list[Sent] = results[0]
    deadline = time.time() + 10
    while any(p not in arrivals for p, *_ in sent) and time.time() < deadline:
        await asyncio.sleep(0.05)
    seen = [(p, s, c) for p, s, c in sent if p in arrivals]
    figures = {
        "commands": len(sent),
        "failed": mine.count - len(sent),
        "never_shown": len(sent) - len(seen),
        "command_p99_ms": p99([(c - s) * 1000 for _, s, c in sent]),
        "command_p50_ms": round(percentile([(c - s) * 1000 for _, s, c in sent], 0.5), 1),
        "freshness_p99_ms": p99([(arrivals[p] - c) * 1000 for p, _, c in seen]),
        "freshness_p50_ms": round(percentile([(arrivals[p] - c) * 1000 for p, _, c in seen], 0.5), 1),
    }  # fmt: skip
    if flood is not None:
        accepted: list[Sent] = results[1]
        span = max(seconds, 1e-9)
        figures["flood_sent_per_s"] = round(flood.count / span, 1)
        figures["flood_accepted_per_s"] = round(len(accepted) / span, 1)
    return figures


@dataclasses.dataclass(frozen=True)
class Result:
    alone: dict[str, float]
    flooded: dict[str, float]

    @property
    def ratios(self) -> dict[str, float]:
        """B's p99 with A's flood over B's p99 alone."""
        return {
            name: round(self.flooded[f"{name}_p99_ms"] / self.alone[f"{name}_p99_ms"], 2)
            for name in ("command", "freshness")
        }


async def measure(
    base_url: str, a: Tenant, b: Tenant, rate: float, seconds: float, limit: int, times: int
) -> Result:
    arrivals: dict[int, float] = {}
    ws = await subscribe(base_url.replace("http", "ws") + "/graphql", b.token)
    listener = asyncio.create_task(listen(ws, arrivals.setdefault))
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        while not arrivals:  # the pipeline delivers (consumer-group joins take a few seconds)
            await create_entity(http, b, -1)
            await asyncio.sleep(0.5)
    # A's load process keeps 32 connections: enough to send 5x its limit without waiting
    flood = Schedule(base_url, a, limit * times, int(limit * times * seconds), 0.0, 1, 32)
    try:
        alone = await phase(base_url, b, arrivals, rate, seconds, None)
        flooded = await phase(base_url, b, arrivals, rate, seconds, flood)
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await listener
        await ws.close()
    return Result(alone, flooded)


def run(rate: float, seconds: float, limit: int, times: int) -> Result:
    with running_stack() as bench:
        servers = read_side(bench.urls, bench.data_dir)
        try:
            a = new_tenant(bench, "flooder", {**BENCH_SETTINGS, "commands_per_second": limit})
            b = new_tenant(bench, "bystander")
            return asyncio.run(measure(bench.base_url, a, b, rate, seconds, limit, times))
        finally:
            for server in servers:
                stop_process(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="each phase")
    parser.add_argument("--rate", type=float, default=50.0, help="tenant B's commands per second")
    parser.add_argument("--limit", type=int, default=100, help="tenant A's commands_per_second")
    parser.add_argument("--flood", type=int, default=5, help="A sends this many times its limit")
    args = parser.parse_args()
    result = run(args.rate, args.seconds, args.limit, args.flood)
    alone, flooded = result.alone, result.flooded
    print(f"# {machine_note()}; B at {args.rate:g}/s for {args.seconds:g} s per phase; "
          f"A limited to {args.limit}/s, sending {args.limit * args.flood}/s")  # fmt: skip
    for name, figures in (("B alone", alone), ("B while A floods", flooded)):
        print(f"{name}: command p99={figures['command_p99_ms']}ms "
              f"(p50 {figures['command_p50_ms']}ms), freshness p99={figures['freshness_p99_ms']}ms "
              f"(p50 {figures['freshness_p50_ms']}ms); {figures['commands']} committed, "
              f"{figures['failed']} failed, {figures['never_shown']} never shown")  # fmt: skip
    print(
        f"A's flood: {flooded['flood_sent_per_s']}/s sent, "
        f"{flooded['flood_accepted_per_s']}/s accepted (limit {args.limit}/s), the rest 429"
    )
    for name, ratio in result.ratios.items():
        verdict = "within" if ratio <= TARGET_RATIO else "OVER"
        print(f"B's {name} p99, flooded / alone: {ratio}x ({verdict} the {TARGET_RATIO}x target)")
    payload = {"b_rate": args.rate, "a_limit": args.limit, "a_sent_rate": args.limit * args.flood,
               **dataclasses.asdict(result), "p99_ratios": result.ratios}  # fmt: skip
    print(f"# written to {write_results('fairness', payload)}")


if __name__ == "__main__":
    main()
