"""Concurrent subscribers on one API process: fan-out latency (p50/p99/max) and memory per socket.

    .venv/bin/python bench/subscribers.py [--subscribers 5000] [--baseline 100]
                                          [--rate 2] [--seconds 15] [--processes 4]

Starts the embedded stack, the API (uvicorn, own process) and the read side (`bsdflow relay`,
`bsdflow worker`). `--processes` client processes (asyncio) open graphql-transport-ws
connections, one `entityChanged { position }` subscription each, all in one tenant; then
create-entity commands go out at `--rate`/s for `--seconds`. Each delivery's latency runs from
the command's HTTP response (its commit is done) to that subscriber's message. The same is
measured first with `--baseline` subscribers (same run, same stack): the ratio shows what the
number of sockets costs. Memory per connection is the API process's RSS after opening the
sockets minus before, divided by their number.

Anchor: Hasura serves 5k subscribers per vCPU (its 1 s polling bounds freshness at ≈ 1 s).
Target (DESIGN.md §7): 5,000 subscribers on one API process, fan-out p99 < 500 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from bench._harness import (
    Bench,
    machine_note,
    percentile,
    running_stack,
    stop_process,
    write_results,
)
from bench._live import (
    Sent,
    Tenant,
    create_entity,
    listen,
    new_tenant,
    raise_fd_limit,
    read_side,
    rss_mb,
    subscribe,
)

TARGET_SUBSCRIBERS = 5_000
TARGET_P99_MS = 500.0
Arrivals = dict[int, list[float]]
"""Position → the arrival time at each subscriber that received it."""


def clients(url: str, token: str, count: int, deflate: bool, pipe: Connection) -> None:
    """A client process: open `count` subscriptions, say how many, record until told to stop."""
    raise_fd_limit()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    pipe.send(asyncio.run(_clients(url, token, count, deflate, pipe)))


async def _clients(
    url: str, token: str, count: int, deflate: bool, pipe: Connection
) -> tuple[Arrivals, int]:
    arrivals: Arrivals = {}
    failed = 0

    def arrived(position: int, at: float) -> None:
        arrivals.setdefault(position, []).append(at)

    async def one() -> Any:
        for attempt in range(5):  # a burst of handshakes may overflow the listen backlog
            try:
                return await subscribe(url, token, deflate=deflate)
            except OSError:
                await asyncio.sleep(0.2 * (attempt + 1))
        return await subscribe(url, token, deflate=deflate)

    sockets = []
    for start in range(0, count, 100):  # in waves: the server accepts ~1k handshakes/s
        opened = await asyncio.gather(
            *(one() for _ in range(start, min(count, start + 100))), return_exceptions=True
        )
        sockets += [ws for ws in opened if not isinstance(ws, BaseException)]
        failed += sum(isinstance(ws, BaseException) for ws in opened)
    listeners = [asyncio.create_task(listen(ws, arrived)) for ws in sockets]
    pipe.send(len(sockets))
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, pipe.recv)  # "stop"
    for task in listeners:
        task.cancel()
    await asyncio.gather(*listeners, return_exceptions=True)
    failed += sum(1 for task in listeners if not task.cancelled() and task.exception())
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return arrivals, failed


@dataclass
class Phase:
    subscribers: int
    connected: int
    failed: int
    rss_before_mb: float
    rss_after_mb: float
    commands: int
    expected: int
    delivered: int
    latencies_ms: list[float]

    def as_dict(self) -> dict[str, Any]:
        lat = self.latencies_ms
        return {
            "subscribers": self.subscribers,
            "connected": self.connected,
            "failed": self.failed,
            "commands": self.commands,
            "deliveries_expected": self.expected,
            "deliveries": self.delivered,
            "fanout_ms": {
                "p50": round(percentile(lat, 0.5), 1),
                "p99": round(percentile(lat, 0.99), 1),
                "max": round(max(lat, default=float("nan")), 1),
            },
            "api_rss_mb": {
                "before": round(self.rss_before_mb, 1),
                "after": round(self.rss_after_mb, 1),
            },
            "kib_per_connection": round(self.kib_per_connection, 1),
        }

    @property
    def kib_per_connection(self) -> float:
        return (self.rss_after_mb - self.rss_before_mb) * 1024 / max(self.connected, 1)


async def commands(base_url: str, tenant: Tenant, rate: float, seconds: float) -> list[Sent]:
    """Commands at a steady `rate`, one at a time (each is one change fanned out to all)."""
    sent: list[Sent] = []
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        begin = time.time()
        for i in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, begin + i / rate - time.time()))
            found = await create_entity(http, tenant, i)
            if found is not None:
                sent.append(found)
    return sent


def phase(bench: Bench, tenant: Tenant, args: argparse.Namespace, subscribers: int) -> Phase:
    url = bench.base_url.replace("http", "ws") + "/graphql"
    context = multiprocessing.get_context("spawn")
    share = [subscribers // args.processes + (n < subscribers % args.processes)
             for n in range(args.processes)]  # fmt: skip
    share = [n for n in share if n]
    rss_before = rss_mb(bench.server_pid)
    pipes, workers = [], []
    for count in share:
        mine, theirs = context.Pipe()
        worker = context.Process(
            target=clients, args=(url, tenant.token, count, args.deflate, theirs)
        )
        worker.start()
        pipes.append(mine)
        workers.append(worker)
    try:
        connected = sum(pipe.recv() for pipe in pipes)
        time.sleep(1.0)  # let the server settle (allocations, subscriptions registered)
        rss_after = rss_mb(bench.server_pid)
        sent = asyncio.run(commands(bench.base_url, tenant, args.rate, args.seconds))
        time.sleep(args.drain)
        for pipe in pipes:
            pipe.send("stop")
        results = [pipe.recv() for pipe in pipes]
    finally:
        for worker in workers:
            worker.join(30)
            if worker.is_alive():
                worker.kill()
    arrivals: Arrivals = {}
    for found, _ in results:
        for position, times in found.items():
            arrivals.setdefault(position, []).extend(times)
    latencies = [(at - committed) * 1000 for position, _, committed in sent
                 for at in arrivals.get(position, ())]  # fmt: skip
    return Phase(
        subscribers=subscribers,
        connected=connected,
        failed=sum(f for _, f in results) + subscribers - connected,
        rss_before_mb=rss_before,
        rss_after_mb=rss_after,
        commands=len(sent),
        expected=len(sent) * connected,
        delivered=len(latencies),
        latencies_ms=latencies,
    )


def warm_up(bench: Bench, tenant: Tenant) -> None:
    """Until a command reaches a subscriber (consumer-group joins take a few seconds)."""

    async def run() -> None:
        ws = await subscribe(bench.base_url.replace("http", "ws") + "/graphql", tenant.token)
        got = asyncio.Event()
        listener = asyncio.create_task(listen(ws, lambda p, at: got.set()))
        async with httpx.AsyncClient(base_url=bench.base_url, timeout=30) as http:
            while not got.is_set():
                await create_entity(http, tenant, -1)
                await asyncio.sleep(0.5)
        listener.cancel()
        await ws.close()

    asyncio.run(run())


def run(args: argparse.Namespace) -> dict[str, Any]:
    limit = raise_fd_limit()  # the API process inherits it (one descriptor per socket)
    with running_stack() as bench:
        servers = read_side(bench.urls, bench.data_dir)
        try:
            tenant = new_tenant(bench, "crowd")
            warm_up(bench, tenant)
            baseline = phase(bench, tenant, args, args.baseline)
            time.sleep(1.0)
            crowd = phase(bench, tenant, args, args.subscribers)
        finally:
            for server in servers:
                stop_process(server)
    return {"fd_limit": limit, "rate": args.rate, "seconds": args.seconds,
            "processes": args.processes, "baseline": baseline.as_dict(),
            "crowd": crowd.as_dict()}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=TARGET_SUBSCRIBERS)
    parser.add_argument("--baseline", type=int, default=100, help="subscribers, same run")
    parser.add_argument("--rate", type=float, default=2.0, help="commands per second")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--processes", type=int, default=4, help="client processes")
    parser.add_argument("--deflate", action=argparse.BooleanOptionalAction, default=True,
                        help="clients offer permessage-deflate, as browsers do")  # fmt: skip
    parser.add_argument("--drain", type=float, default=3.0,
                        help="seconds to wait for the last deliveries")  # fmt: skip
    args = parser.parse_args()
    result = run(args)
    print(f"# {machine_note()}; subscribers: {args.processes} client processes (asyncio); "
          f"{args.rate:g} commands/s for {args.seconds:g} s; fd limit {result['fd_limit']}; "
          f"clients offer permessage-deflate: {args.deflate}")  # fmt: skip
    base, crowd = result["baseline"], result["crowd"]
    for figure in (base, crowd):
        f = figure["fanout_ms"]
        print(f"{figure['subscribers']} subscribers ({figure['connected']} connected, "
              f"{figure['failed']} failed): fan-out p50={f['p50']}ms p99={f['p99']}ms "
              f"max={f['max']}ms, {figure['deliveries']}/{figure['deliveries_expected']} "
              f"deliveries")  # fmt: skip
    ratio = crowd["fanout_ms"]["p99"] / max(base["fanout_ms"]["p99"], 1e-9)
    print(f"fan-out p99 {crowd['subscribers']} vs {base['subscribers']} subscribers: "
          f"{ratio:.1f}x (target p99 < {TARGET_P99_MS:.0f} ms at {TARGET_SUBSCRIBERS:,}; "
          f"Hasura anchor: 5k subscribers per vCPU, ≈ 1 s polling)")  # fmt: skip
    print(f"API memory: {crowd['api_rss_mb']['before']} MiB -> {crowd['api_rss_mb']['after']} "
          f"MiB with {crowd['connected']} sockets = {crowd['kib_per_connection']} KiB per "
          f"connection")  # fmt: skip
    print(f"# written to {write_results('subscribers', result)}")


if __name__ == "__main__":
    main()
