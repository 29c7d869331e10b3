"""A record's history with 1,000 changes, against reading the record itself, same run.

    .venv/bin/python bench/audit.py [--changes 1000] [--seconds 10] [--warmup 1] [--data-dir DIR]

Starts the embedded stack and the API (uvicorn, own process), runs the read side in this
process while one entity is created and updated `--changes - 1` times over HTTP, stops it,
then measures POST /graphql `history(id)` (every change: event, actor, command, time,
correlation id, fields) from one keep-alive connection, and the baseline `entity(id)` (the
same record's current state) the same way, and `recordAt(id, position)` midway through the changes (the record rebuilt from
its events, from the snapshot before); every request is executed (no response-cache hit).
Target: history and recordAt p95 < 50 ms (history's p99 is reported, and is the stricter). Writes bench/results/audit.json.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import orjson
from rich.progress import Progress

from bench._harness import (
    Bench,
    Figure,
    async_load,
    cpu_seconds,
    machine_note,
    run_async,
    running_stack,
    write_results,
)
from infra.readside import ReadSide

TARGET_MS = 50.0
HISTORY = "query($id: UUID!) { history(id: $id) { position event actor command at correlationId fields } }"
ENTITY = "query($id: UUID!) { entity(id: $id) { id version title data updatedAt } }"
RECORD_AT = (
    "query($id: UUID!, $at: Int!) { recordAt(id: $id, position: $at) { version position state } }"
)


def build_history(bench: Bench, changes: int) -> tuple[str, str, int]:
    """(admin token, entity id, the position of a change midway) of a record with `changes`
    changes, applied by the read side."""
    platform = bench.tokens.mint("platform", ["platform"])
    admin = bench.tokens.mint("audit", ["admin"], actor="bench")
    with httpx.Client(base_url=bench.base_url, timeout=30) as http:

        def command(name: str, body: dict[str, object], token: str = admin) -> dict[str, object]:
            reply = http.post(
                f"/v1/commands/{name}", json=body, headers={"Authorization": f"Bearer {token}"}
            )
            reply.raise_for_status()
            found: dict[str, object] = reply.json()
            return found

        command(
            "create-tenant",
            {"slug": "audit", "name": "Audit", "settings": {"commands_per_second": 100_000}},
            platform,
        )
        fields = [{"name": "title", "type": "text"}, {"name": "count", "type": "integer"}]
        kind = command("define-entity-type", {"name": "Counter", "fields": fields})
        entity = command(
            "create-entity", {"entity_type_id": kind["id"], "data": {"title": "c", "count": 0}}
        )
        last = entity
        midway = int(str(entity["position"]))
        with Progress() as progress:
            task = progress.add_task("updating the record", total=changes - 1)
            for n in range(1, changes):
                last = command("update-entity", {"entity_id": entity["id"], "data": {"count": n}})
                if n == changes // 2 + 7:  # between two snapshots (every 50 versions)
                    midway = int(str(last["position"]))
                progress.advance(task)
        wait = http.post(
            "/graphql",
            json={"query": ENTITY, "variables": {"id": entity["id"]}},
            headers={"Authorization": f"Bearer {admin}", "X-Min-Position": str(last["position"])},
        )
        assert wait.json()["data"]["entity"]["version"] == changes, wait.text
    return admin, str(entity["id"]), midway


async def load(bench: Bench, name: str, query: str, token: str, variables: dict[str, object],
               seconds: float, warmup: float) -> Figure:  # fmt: skip
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    nonces = itertools.count()
    async with httpx.AsyncClient(base_url=bench.base_url, timeout=30) as http:

        async def one(_: int) -> str | None:
            # A new nonce each time: never a response-cache hit, every request is executed.
            body = orjson.dumps(
                {"query": query, "variables": variables, "extensions": {"n": next(nonces)}}
            )
            reply = await http.post("/graphql", content=body, headers=headers)
            if reply.status_code != 200 or b'"errors"' in reply.content:
                return f"{reply.status_code} {reply.content[:300]!r}"
            return None

        meters = {"api": lambda: cpu_seconds(bench.server_pid), "load": cpu_seconds}
        return await async_load(name, "req/s", one, 1, seconds, warmup, meters)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=1_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    with running_stack(args.data_dir) as bench:
        side = ReadSide(
            bench.urls.database_url, bench.urls.kafka_bootstrap_servers, bench.urls.redis_url
        ).start()
        try:
            started = time.perf_counter()
            token, entity, midway = build_history(bench, args.changes)
            built = time.perf_counter() - started
        finally:
            side.stop()  # measure reads alone
        record = {"id": entity}
        history = run_async(load(bench, f"history of {args.changes:,} changes", HISTORY, token,
                                 record, args.seconds, args.warmup))  # fmt: skip
        past = run_async(load(bench, f"recordAt midway through {args.changes:,} changes",
                              RECORD_AT, token, {"id": entity, "at": midway}, args.seconds,
                              args.warmup))  # fmt: skip
        current = run_async(load(bench, "entity by id (baseline)", ENTITY, token, record,
                                 args.seconds, args.warmup))  # fmt: skip
    met = history.p99_ms < TARGET_MS
    past_met = past.p99_ms < TARGET_MS
    print(f"# {machine_note()}; {args.changes:,} changes written and applied in {built:.1f} s")
    for figure in (history, past, current):
        print(figure.line())
    print(f"ratio history/entity p50: {history.p50_ms / current.p50_ms:.1f}x")
    print(f"ratio recordAt/entity p50: {past.p50_ms / current.p50_ms:.1f}x")
    print(f"target history p95 < {TARGET_MS:.0f} ms (p99 {history.p99_ms:.1f} ms): "
          f"{'met' if met else 'NOT met'}")  # fmt: skip
    print(f"target recordAt p95 < {TARGET_MS:.0f} ms (p99 {past.p99_ms:.1f} ms): "
          f"{'met' if past_met else 'NOT met'}")  # fmt: skip
    path = write_results(
        "audit",
        {"changes": args.changes, "history": history.as_dict(), "record_at": past.as_dict(),
         "entity": current.as_dict(), "target_met": met and past_met},
    )  # fmt: skip
    print(f"# written to {path}")


if __name__ == "__main__":
    main()
