"""Commit → subscriber latency at a steady command rate (p50/p99), through the whole pipeline.

    .venv/bin/python bench/freshness.py [--rate 100] [--seconds 10]

Starts the embedded stack, the API (uvicorn, own process), the relay and the projection
workers (`bsdflow relay`, `bsdflow worker`, own processes), opens a GraphQL subscription
(`entityChanged`, graphql-transport-ws) and issues create-entity commands at a steady rate.
For each command, latency runs from its HTTP response (the commit is already done) and from
its send, to the subscription message carrying its position. The anchor is Hasura's 1 s
polling (≈ 500 ms average staleness); the target is p99 < 100 ms at 500 commands/s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import orjson
from websockets.asyncio.client import connect

from bench._harness import (
    JWT_SECRET,
    machine_note,
    percentile,
    running_stack,
    stop_process,
    write_results,
)

BIN = Path(sys.executable).parent
SUBSCRIPTION = "subscription { entityChanged { position } }"


def read_side(urls, data_dir: Path) -> list[subprocess.Popen[bytes]]:  # type: ignore[no-untyped-def]
    env = {
        **os.environ,
        "DATABASE_URL": urls.database_url,
        "KAFKA_BOOTSTRAP_SERVERS": urls.kafka_bootstrap_servers,
        "REDIS_URL": urls.redis_url,
        "BSDFLOW_JWT_SECRET": JWT_SECRET,
        "BSDFLOW_DATA_DIR": str(data_dir / "read-side"),
        "BSDFLOW_LOG_LEVEL": "WARNING",
    }
    log = (data_dir / "read-side.log").open("ab")
    return [
        subprocess.Popen([str(BIN / "bsdflow"), *cmd], env=env, stdout=log, stderr=subprocess.STDOUT,
                         start_new_session=True)
        for cmd in (["relay"], ["worker"])
    ]  # fmt: skip


async def subscriber(
    url: str, token: str, arrivals: dict[int, float], ready: asyncio.Event
) -> None:
    async with connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(
            orjson.dumps({"type": "connection_init", "payload": {"token": token}}).decode()
        )
        await ws.recv()
        await ws.send(
            orjson.dumps(
                {"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}}
            ).decode()
        )
        ready.set()
        async for raw in ws:
            message = orjson.loads(raw)
            if message.get("type") == "next":
                position = message["payload"]["data"]["entityChanged"]["position"]
                arrivals.setdefault(position, time.perf_counter())


async def run(rate: int, seconds: float) -> dict[str, object]:
    with running_stack() as bench:
        processes = read_side(bench.urls, bench.data_dir)
        try:
            return await measure(bench, rate, seconds)
        finally:
            for process in processes:
                stop_process(process)


async def measure(bench, rate: int, seconds: float) -> dict[str, object]:  # type: ignore[no-untyped-def]
    admin = bench.tokens.mint("fresh", ["admin"])
    platform = bench.tokens.mint("x", ["platform"])
    async with httpx.AsyncClient(
        base_url=bench.base_url, timeout=30, limits=httpx.Limits(max_connections=64)
    ) as http:
        await http.post("/v1/commands/create-tenant", json={"slug": "fresh", "name": "Fresh"},
                        headers={"Authorization": f"Bearer {platform}"})  # fmt: skip
        headers = {"Authorization": f"Bearer {admin}"}
        site = (await http.post("/v1/commands/define-entity-type", headers=headers, json={
            "name": "Site", "fields": [{"name": "title", "type": "text"}]})).json()["id"]  # fmt: skip
        arrivals: dict[int, float] = {}
        ready = asyncio.Event()
        ws_url = bench.base_url.replace("http", "ws") + "/graphql"
        listener = asyncio.create_task(subscriber(ws_url, admin, arrivals, ready))
        await ready.wait()
        sent: dict[int, tuple[float, float]] = {}

        async def one(i: int) -> None:
            started = time.perf_counter()
            reply = await http.post("/v1/commands/create-entity", headers=headers,
                                    json={"entity_type_id": site, "data": {"title": f"site {i}"}})  # fmt: skip
            if reply.status_code == 200:
                sent[reply.json()["position"]] = (started, time.perf_counter())

        # Warm up until the pipeline delivers (consumer-group join takes a few seconds).
        while not arrivals:
            await one(-1)
            await asyncio.sleep(0.5)
        arrivals.clear()
        sent.clear()
        tasks, interval, begin = [], 1.0 / rate, time.perf_counter()
        for i in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, begin + i * interval - time.perf_counter()))
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
        deadline = time.perf_counter() + 10
        while len(set(sent) - set(arrivals)) and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
    from_commit = [(arrivals[p] - t[1]) * 1000 for p, t in sent.items() if p in arrivals]
    from_send = [(arrivals[p] - t[0]) * 1000 for p, t in sent.items() if p in arrivals]
    achieved = len(sent) / seconds
    return {
        "rate_target": rate, "rate_achieved": round(achieved, 1), "commands": len(sent),
        "missing": len(set(sent) - set(arrivals)),
        "commit_to_subscriber_ms": {q: round(percentile(from_commit, f), 1) for q, f in (("p50", .5), ("p99", .99))},
        "send_to_subscriber_ms": {q: round(percentile(from_send, f), 1) for q, f in (("p50", .5), ("p99", .99))},
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=100, help="commands per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    figures = asyncio.run(run(args.rate, args.seconds))
    c, s = figures["commit_to_subscriber_ms"], figures["send_to_subscriber_ms"]
    print(f"# {machine_note()}")
    print(
        f"commands at {figures['rate_achieved']}/s (asked {args.rate}/s), {figures['commands']} sent, {figures['missing']} never pushed"
    )
    print(
        f"commit -> subscriber: p50={c['p50']}ms p99={c['p99']}ms (target p99 < 100 ms; Hasura 1 s polling ≈ 500 ms avg)"
    )  # type: ignore[index]
    print(f"send -> subscriber: p50={s['p50']}ms p99={s['p99']}ms")  # type: ignore[index]
    print(f"# written to {write_results('freshness', figures)}")


if __name__ == "__main__":
    main()
