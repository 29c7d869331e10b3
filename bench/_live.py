"""Shared pieces of the live-update benchmarks (freshness.py, subscribers.py).

The read side (relay, projection workers) runs as `bsdflow relay` / `bsdflow worker` processes;
commands are driven by spawned load processes so that neither the load generator nor the
subscribers' event loop is the bottleneck; every timestamp is wall-clock (`time.time()`), so
times taken in different processes compare.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from bench._harness import JWT_SECRET, Bench
from infra.embedded import ServerUrls

BIN = Path(sys.executable).parent
PROTOCOL = Subprotocol("graphql-transport-ws")
ENTITY_CHANGED = "subscription { entityChanged { position } }"


def read_side(urls: ServerUrls, data_dir: Path) -> list[subprocess.Popen[bytes]]:
    """`bsdflow relay` and `bsdflow worker` (every projection), each in its own process."""
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


def raise_fd_limit() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit (thousands of sockets); returns the new soft."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def rss_mb(pid: int) -> float:
    """Resident set size of a process, in MiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass(frozen=True)
class Tenant:
    token: str
    entity_type_id: str


BENCH_SETTINGS = {
    "commands_per_second": 100_000,
    "graphql_cost_per_request": 1_000_000,
    "graphql_cost_per_minute": 1_000_000_000,
    "subscriptions": 1_000_000,
}
"""A benchmark's tenant is limited by the machine, not by its quotas."""


def new_tenant(bench: Bench, slug: str, settings: dict[str, int] | None = None) -> Tenant:
    """A tenant with a "Site" entity type (`settings`: BENCH_SETTINGS); its admin's token."""
    admin = bench.tokens.mint(slug, ["admin"])
    platform = bench.tokens.mint("x", ["platform"])
    body = {"slug": slug, "name": slug.title(), "settings": settings or BENCH_SETTINGS}
    with httpx.Client(base_url=bench.base_url, timeout=30) as http:
        http.post("/v1/commands/create-tenant", json=body,
                  headers={"Authorization": f"Bearer {platform}"}).raise_for_status()  # fmt: skip
        reply = http.post("/v1/commands/define-entity-type", headers={"Authorization": f"Bearer {admin}"},
                          json={"name": "Site", "fields": [{"name": "title", "type": "text"}]})  # fmt: skip
        reply.raise_for_status()
    return Tenant(admin, reply.json()["id"])


Sent = tuple[int, float, float]
"""(event-store position, request sent, response received: the commit is done)."""


async def create_entity(http: httpx.AsyncClient, tenant: Tenant, i: int) -> Sent | None:
    started = time.time()
    reply = await http.post(
        "/v1/commands/create-entity",
        headers={"Authorization": f"Bearer {tenant.token}"},
        json={"entity_type_id": tenant.entity_type_id, "data": {"title": f"site {i}"}},
    )
    if reply.status_code != 200:
        return None
    return int(reply.json()["position"]), started, time.time()


@dataclass(frozen=True)
class Schedule:
    """`count` commands at `rate`/s from `begin` (wall clock), dealt round-robin to processes."""

    base_url: str
    tenant: Tenant
    rate: float
    count: int
    begin: float
    processes: int
    connections: int
    """Keep-alive connections per process (one httpx client each: cheapest per request)."""


def _drive(schedule: Schedule, me: int) -> list[Sent]:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    return asyncio.run(_drive_async(schedule, me))


async def _drive_async(schedule: Schedule, me: int) -> list[Sent]:
    clients = [
        httpx.AsyncClient(base_url=schedule.base_url, timeout=30, limits=httpx.Limits(
            max_connections=1, max_keepalive_connections=1))
        for _ in range(schedule.connections)
    ]  # fmt: skip
    idle: asyncio.Queue[httpx.AsyncClient] = asyncio.Queue()
    for client in clients:
        idle.put_nowait(client)
    sent: list[Sent] = []

    async def one(i: int) -> None:
        client = await idle.get()
        try:
            found = await create_entity(client, schedule.tenant, i)
        finally:
            idle.put_nowait(client)
        if found is not None:
            sent.append(found)

    tasks = []
    for i in range(me, schedule.count, schedule.processes):
        await asyncio.sleep(max(0.0, schedule.begin + i / schedule.rate - time.time()))
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks, return_exceptions=True)
    for client in clients:
        await client.aclose()
    return sent


async def drive(schedule: Schedule) -> list[Sent]:
    """Run the schedule in `processes` spawned processes; every command that committed."""
    context = multiprocessing.get_context("spawn")
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(schedule.processes, mp_context=context) as pool:
        parts = await asyncio.gather(
            *(loop.run_in_executor(pool, _drive, schedule, n) for n in range(schedule.processes))
        )
    return [s for part in parts for s in part]


def frame(message: dict[str, Any]) -> str:
    return orjson.dumps(message).decode()


async def subscribe(
    url: str, token: str, query: str = ENTITY_CHANGED, *, deflate: bool = True
) -> ClientConnection:
    """An acknowledged graphql-transport-ws connection with one subscription (id "1").

    `deflate`: offer permessage-deflate, as browsers do (the server decides whether to use it).
    """
    ws = await connect(
        url,
        subprotocols=[PROTOCOL],
        open_timeout=60,
        max_queue=None,
        ping_interval=None,
        compression="deflate" if deflate else None,
    )
    await ws.send(frame({"type": "connection_init", "payload": {"token": token}}))
    ack = orjson.loads(await asyncio.wait_for(ws.recv(), 60))
    if ack.get("type") != "connection_ack":
        raise RuntimeError(f"not acknowledged: {ack}")
    await ws.send(frame({"id": "1", "type": "subscribe", "payload": {"query": query}}))
    return ws


async def listen(ws: ClientConnection, on_position: Callable[[int, float], None]) -> None:
    """Report (position, arrival) of each `next`; answer pings; ends when the socket closes."""
    async for raw in ws:
        at = time.time()
        message = orjson.loads(raw)
        kind = message.get("type")
        if kind == "next":
            on_position(message["payload"]["data"]["entityChanged"]["position"], at)
        elif kind == "ping":
            await ws.send(frame({"type": "pong"}))
        elif kind in ("error", "complete"):
            raise RuntimeError(f"subscription ended by the server: {message}")
