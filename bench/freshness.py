"""Commit → subscriber latency at a steady command rate (p50/p99), through the whole pipeline.

    .venv/bin/python bench/freshness.py [--rate 500] [--seconds 10] [--processes 2]

Starts the embedded stack, the API (uvicorn, own process), the relay and the projection
workers (`bsdflow relay`, `bsdflow worker`, own processes), opens a GraphQL subscription
(`entityChanged`, graphql-transport-ws) and issues create-entity commands at a steady rate from
`--processes` load processes. For each command, latency runs from its HTTP response (the
commit is already done) and from its send, to the subscription message carrying its position.
The anchor is Hasura's 1 s polling (≈ 500 ms average staleness); the target is p99 < 100 ms at
500 commands/s.

Each hop is timed too, so a regression says where it is: HTTP response → Kafka (the message's
timestamp: relay wake-up and produce; negative when the busy API answers after the relay has
already produced), Kafka → a probe consumer (broker and fetch), Kafka → the worker's Redis
publish (consume, apply, commit), Redis → the websocket (API fan-out). The commit itself is not
timestamped anywhere, so "commit" in the figures means the HTTP response that reports it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis.asyncio as aioredis
from confluent_kafka import Consumer

from bench._harness import machine_note, percentile, running_stack, stop_process, write_results
from bench._live import (
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
from infra.kafka import EVENTS_TOPIC, consumer_config, header
from projections.notify import changes_channel, decode_changes

TARGET_P99_MS = 100.0


class KafkaProbe:
    """A consumer of its own group: when each position was produced and when it could be read."""

    def __init__(self, bootstrap: str) -> None:
        config = consumer_config(bootstrap, f"bench.freshness.probe.{time.time_ns()}")
        self.consumer = Consumer({**config, "auto.offset.reset": "latest"})
        self.produced: dict[int, float] = {}
        self.read: dict[int, float] = {}
        self.assigned = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> KafkaProbe:
        self.consumer.subscribe([EVENTS_TOPIC], on_assign=lambda c, ps: self.assigned.set())
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.consumer.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            message = self.consumer.poll(0.05)
            if message is None or message.error() is not None:
                continue
            at = time.time()
            position = int(header(message.headers(), "position") or 0)  # type: ignore[arg-type]
            self.read.setdefault(position, at)
            self.produced.setdefault(position, message.timestamp()[1] / 1000)


async def redis_probe(url: str, tenant_id: str, published: dict[int, float]) -> None:
    """When the first projection announced each position."""
    client = aioredis.Redis.from_url(url)
    pubsub = client.pubsub()
    await pubsub.subscribe(changes_channel(tenant_id))
    try:
        async for message in pubsub.listen():
            if message["type"] == "message":
                at = time.time()
                for change in decode_changes(message["data"]):
                    published.setdefault(change.position, at)
    finally:
        await pubsub.aclose()
        await client.aclose()


def stats(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(values, 0.5), 1),
        "p99": round(percentile(values, 0.99), 1),
        "max": round(max(values, default=float("nan")), 1),
    }


def run(rate: int, seconds: float, processes: int, connections: int) -> dict[str, object]:
    with running_stack() as bench:
        servers = read_side(bench.urls, bench.data_dir)
        try:
            tenant = new_tenant(bench, "fresh")
            tenant_id = bench.tokens.principal(f"Bearer {tenant.token}").tenant_id
            with KafkaProbe(bench.urls.kafka_bootstrap_servers) as probe:
                return asyncio.run(
                    measure(
                        bench.base_url, bench.urls.redis_url, str(tenant_id), tenant, probe,
                        rate, seconds, processes, connections,
                    )
                )  # fmt: skip
        finally:
            for server in servers:
                stop_process(server)


async def measure(
    base_url: str,
    redis_url: str,
    tenant_id: str,
    tenant: Tenant,
    probe: KafkaProbe,
    rate: int,
    seconds: float,
    processes: int,
    connections: int,
) -> dict[str, object]:
    import httpx

    arrivals: dict[int, float] = {}
    published: dict[int, float] = {}
    ws = await subscribe(base_url.replace("http", "ws") + "/graphql", tenant.token)
    listener = asyncio.create_task(listen(ws, arrivals.setdefault))
    announcer = asyncio.create_task(redis_probe(redis_url, tenant_id, published))
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        # Warm up until the pipeline delivers (consumer-group joins take a few seconds).
        while not arrivals or not probe.assigned.is_set() or not probe.read:
            await create_entity(http, tenant, -1)
            await asyncio.sleep(0.5)
    await asyncio.sleep(0.5)
    arrivals.clear()
    schedule = Schedule(base_url, tenant, rate, int(rate * seconds), time.time() + 3.0,
                        processes, connections)  # fmt: skip
    sent: list[Sent] = await drive(schedule)
    deadline = time.time() + 10
    while any(p not in arrivals for p, *_ in sent) and time.time() < deadline:
        await asyncio.sleep(0.05)
    for task in (listener, announcer):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    await ws.close()
    return figures(schedule, sent, arrivals, published, probe)


def figures(
    schedule: Schedule,
    sent: list[Sent],
    arrivals: dict[int, float],
    published: dict[int, float],
    probe: KafkaProbe,
) -> dict[str, object]:
    seen = [(p, s, c) for p, s, c in sent if p in arrivals]
    span = max((c for _, _, c in sent), default=schedule.begin) - schedule.begin

    def hop(start: dict[int, float] | None, end: dict[int, float]) -> dict[str, float]:
        return stats(
            [(end[p] - (start[p] if start else c)) * 1000 for p, _, c in seen
             if p in end and (start is None or p in start)]
        )  # fmt: skip

    return {
        "rate_target": schedule.rate,
        "rate_achieved": round(len(sent) / max(span, 1e-9), 1),
        "commands": len(sent),
        "failed": schedule.count - len(sent),
        "missing": len(sent) - len(seen),
        "load_processes": schedule.processes,
        "commit_to_subscriber_ms": stats([(arrivals[p] - c) * 1000 for p, _, c in seen]),
        "send_to_subscriber_ms": stats([(arrivals[p] - s) * 1000 for p, s, _ in seen]),
        "send_to_commit_ms": stats([(c - s) * 1000 for _, s, c in sent]),
        "hops_ms": {
            "response_to_kafka": hop(None, probe.produced),
            "kafka_to_probe_consumer": hop(probe.produced, probe.read),
            "kafka_to_redis_publish": hop(probe.produced, published),
            "redis_publish_to_subscriber": hop(published, arrivals),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=500, help="commands per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--processes", type=int, default=2, help="load-generator processes")
    parser.add_argument("--connections", type=int, default=32,
                        help="keep-alive connections per load process")  # fmt: skip
    args = parser.parse_args()
    result = run(args.rate, args.seconds, args.processes, args.connections)
    c = result["commit_to_subscriber_ms"]
    s = result["send_to_subscriber_ms"]
    w = result["send_to_commit_ms"]
    print(f"# {machine_note()}; load: {args.processes} processes x {args.connections} connections")
    print(f"commands at {result['rate_achieved']}/s (asked {args.rate}/s), "
          f"{result['commands']} committed, {result['failed']} failed, "
          f"{result['missing']} never pushed")  # fmt: skip
    print(f"commit (HTTP response) -> subscriber: p50={c['p50']}ms p99={c['p99']}ms max={c['max']}ms "  # type: ignore[index]
          f"(target p99 < {TARGET_P99_MS:.0f} ms; Hasura 1 s polling ≈ 500 ms avg: "
          f"p50 {500 / c['p50']:.1f}x better)")  # type: ignore[index]  # fmt: skip
    print(f"send -> subscriber: p50={s['p50']}ms p99={s['p99']}ms")  # type: ignore[index]
    print(f"send -> commit (HTTP): p50={w['p50']}ms p99={w['p99']}ms")  # type: ignore[index]
    for name, hop in result["hops_ms"].items():  # type: ignore[attr-defined]
        print(f"  hop {name}: p50={hop['p50']}ms p99={hop['p99']}ms max={hop['max']}ms")
    print(f"# written to {write_results('freshness', result)}")


if __name__ == "__main__":
    main()
