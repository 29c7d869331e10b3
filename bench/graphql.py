"""GraphQL list of 100 entities: the read API vs. plain strawberry objects, same run.

    .venv/bin/python bench/graphql.py [--seconds N] [--warmup S] [--data-dir DIR]

Starts the embedded stack and the API (uvicorn, own process), runs the read side in this
process to project a tenant's 100 entities, stops it, then measures POST /graphql
`entities(first: 100) { edges { node { … } } }` (row-level security, one transaction per
request, entity types through the Redis cache) at 8 and 32 keep-alive connections. The baseline,
in its own uvicorn process, is a trivial strawberry schema returning the same 100 objects from
memory (same fields, same JSON), measured the same way. And the same executed list at 8
connections for a role that reads the entities through a row rule (every row passes it) with
one field hidden, against the viewer's (target: within 20 %). Prints one line per figure and the
ratios against DESIGN.md §7; writes them to bench/results/graphql.json.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder would come first on sys.path and `graphql` would name
# this file instead of graphql-core. Put the project root there instead.
_ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _ROOT / "bench"]
sys.path.insert(0, str(_ROOT))

import argparse  # noqa: E402
import contextlib  # noqa: E402
import itertools  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402
import orjson  # noqa: E402
import strawberry  # noqa: E402
from strawberry.asgi import GraphQL  # noqa: E402
from strawberry.scalars import JSON  # noqa: E402

from bench._harness import (  # noqa: E402
    Bench,
    Figure,
    async_load,
    cpu_seconds,
    free_port,
    interrupt_on_sigterm,
    machine_note,
    ratio,
    run_async,
    running_stack,
    stop_process,
    wait_healthy,
    write_results,
)
from bench._rawhttp import raw_connections  # noqa: E402
from infra.readside import ReadSide  # noqa: E402

CONNECTIONS = (8, 32)
RESTRICTED_WITHIN = 0.20
ROWS = 100
TARGET_RATIO = 3.0  # DESIGN.md §7: >= 3x plain strawberry at 32 connections, same run
TARGET_P99_MS = 30.0  # ... and p99 < 30 ms at 8 connections
# Both judged on executed requests: a response-cache hit answers without executing anything.
NODE = "id entityTypeId version title importance data lat lon archived createdAt updatedAt position"
API_QUERY = f"{{ entities(first: {ROWS}) {{ edges {{ node {{ {NODE} }} }} }} }}"
UNCACHED_QUERY = f"query Executed {API_QUERY}"
"""The same question, sent with a new request `extensions` nonce each time: never a
response-cache hit, so every request is executed (transaction, SQL, resolvers)."""
BASELINE_QUERY = f"{{ entities {{ {NODE} }} }}"


# ---------------------------------------------------------------------------------------------
# Baseline: plain strawberry objects, served by `python -m bench._server --app bench.graphql:baseline_app`
# ---------------------------------------------------------------------------------------------


@strawberry.type
class PlainEntity:
    id: uuid.UUID
    entity_type_id: uuid.UUID
    version: int
    title: str | None
    importance: float | None
    data: JSON
    lat: float | None
    lon: float | None
    archived: bool
    created_at: datetime
    updated_at: datetime
    position: int


def plain_entities() -> list[PlainEntity]:
    type_id, now = uuid.uuid4(), datetime.now(UTC)
    return [
        PlainEntity(
            id=uuid.uuid4(),
            entity_type_id=type_id,
            version=1,
            title=f"Site {n}",
            importance=float(n),
            data=JSON({"title": f"Site {n}", "city": "Lisbon", "n": n}),
            lat=38.7 + n / 1000,
            lon=-9.1,
            archived=False,
            created_at=now,
            updated_at=now,
            position=n,
        )
        for n in range(ROWS)
    ]


def baseline_app() -> Any:
    rows = plain_entities()

    @strawberry.type
    class Query:
        @strawberry.field
        def entities(self) -> list[PlainEntity]:
            return rows

    graphql = GraphQL[None, None](strawberry.Schema(query=Query))

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/health":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"{}"})
            return
        await graphql(scope, receive, send)

    return app


@contextlib.contextmanager
def baseline_server(data_dir: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    log_path = data_dir / "baseline.log"
    command = [
        sys.executable, "-m", "bench._server", "--app", "bench.graphql:baseline_app",
        "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, cwd=_ROOT, start_new_session=True
        )
        try:
            base_url = f"http://127.0.0.1:{port}"
            wait_healthy(process, base_url, log_path)
            yield base_url, process.pid
        finally:
            stop_process(process)


# ---------------------------------------------------------------------------------------------
# Data: a tenant with 100 entities, projected by the read side
# ---------------------------------------------------------------------------------------------


def post(bench: Bench, name: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(
        f"{bench.base_url}/v1/commands/{name}",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    if response.status_code != 200:
        raise RuntimeError(f"{name} failed: {response.status_code} {response.text}")
    reply: dict[str, Any] = response.json()
    return reply


BENCH_SETTINGS = {"commands_per_second": 100_000, "graphql_cost_per_request": 1_000_000,
                  "graphql_cost_per_minute": 1_000_000_000}  # fmt: skip
"""Limited by the machine, not by the tenant's quotas."""


def load_entities(bench: Bench) -> tuple[str, str]:
    """A tenant with ROWS entities, visible through GraphQL; returns a viewer's token and that
    of a role reading them through a row rule (all of them) with one field hidden."""
    slug = f"bench-{uuid.uuid4().hex[:8]}"
    post(bench, "create-tenant", bench.tokens.mint("platform", ["platform"]),
         {"slug": slug, "name": "Bench", "settings": BENCH_SETTINGS})  # fmt: skip
    admin = bench.tokens.mint(slug, ["admin"])
    fields = [{"name": "title", "type": "text"}, {"name": "city", "type": "text"},
              {"name": "n", "type": "integer"}]  # fmt: skip
    site = post(bench, "define-entity-type", admin, {"name": "Site", "fields": fields})
    last = 0
    for n in range(ROWS):
        data = {"title": f"Site {n}", "city": "Lisbon", "n": n}
        body = {"entity_type_id": site["id"], "data": data,
                "location": {"lat": 38.7 + n / 1000, "lon": -9.1}}  # fmt: skip
        last = post(bench, "create-entity", admin, body)["position"]
    grant = {"read": "entities", "types": ["Site"], "hide": ["n"],
             "where": {"==": [{"var": "data.city"}, {"var": "me.claims.city"}]}}  # fmt: skip
    post(bench, "define-role", admin, {"name": "regional", "grants": [grant]})
    viewer = bench.tokens.mint(slug, ["viewer"])
    regional = bench.tokens.mint(slug, ["regional"], claims={"city": "Lisbon"})
    response = httpx.post(
        f"{bench.base_url}/graphql",
        json={"query": API_QUERY},
        headers={"Authorization": f"Bearer {viewer}", "X-Min-Position": str(last)},
        timeout=60,
    )
    body = response.json()
    edges = (body.get("data") or {}).get("entities", {}).get("edges", [])
    if len(edges) != ROWS or body["extensions"]["freshness"]["timedOut"]:
        raise RuntimeError(f"the read side did not project {ROWS} entities: {body}")
    return viewer, regional


# ---------------------------------------------------------------------------------------------
# Load
# ---------------------------------------------------------------------------------------------


async def graphql_load(
    name: str, base_url: str, pid: int, query: str, token: str | None, connections: int,
    args: argparse.Namespace,
) -> Figure:  # fmt: skip
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    payload = orjson.dumps({"query": query})
    counter = itertools.count()
    meters = {"server": lambda: cpu_seconds(pid), "load": cpu_seconds}
    async with raw_connections(base_url, connections) as http:
        head = http[0].head("POST", "/graphql", headers)

        async def one(client: int) -> str | None:
            body = payload
            if query is UNCACHED_QUERY:
                body = orjson.dumps({"query": query, "extensions": {"nonce": next(counter)}})
            status, content = await http[client].send(head, body)
            if status != 200 or b'"errors"' in content:
                return f"{status} {content[:300]!r}"
            return None

        label = f"{name} c={connections}"
        return await async_load(label, "req/s", one, connections, args.seconds, args.warmup,
                                meters)  # fmt: skip


def measure(args: argparse.Namespace) -> dict[str, Figure]:
    figures: dict[str, Figure] = {}
    os.environ.setdefault("BSDFLOW_GRAPHQL_REPORT_STATEMENTS", "false")
    with running_stack(args.data_dir) as bench:
        side = ReadSide(
            bench.urls.database_url, bench.urls.kafka_bootstrap_servers, bench.urls.redis_url
        ).start()
        try:
            token, regional = load_entities(bench)
        finally:
            side.stop()  # measure reads alone: no projection work competing for the CPU
        for connections in CONNECTIONS:
            figures[f"api_uncached_c{connections}"] = run_async(
                graphql_load(
                    "graphql api 100 entities, executed",
                    bench.base_url,
                    bench.server_pid,
                    UNCACHED_QUERY,
                    token,
                    connections,
                    args,
                )
            )
            figures[f"api_c{connections}"] = run_async(
                graphql_load(
                    "graphql api 100 entities",
                    bench.base_url,
                    bench.server_pid,
                    API_QUERY,
                    token,
                    connections,
                    args,
                )
            )
        figures["api_restricted_c8"] = run_async(
            graphql_load(
                "graphql api 100 entities, executed, under a row rule and a hidden field",
                bench.base_url,
                bench.server_pid,
                UNCACHED_QUERY,
                regional,
                8,
                args,
            )
        )
        with baseline_server(bench.data_dir) as (base_url, pid):
            for connections in CONNECTIONS:
                figures[f"plain_c{connections}"] = run_async(
                    graphql_load(
                        "plain strawberry 100 objects",
                        base_url,
                        pid,
                        BASELINE_QUERY,
                        None,
                        connections,
                        args,
                    )
                )
    return figures


def report(figures: dict[str, Figure], args: argparse.Namespace) -> dict[str, Any]:
    ratios = {
        f"{api}_c{c}/plain_c{c}": ratio(figures[f"{api}_c{c}"], figures[f"plain_c{c}"])
        for c in CONNECTIONS
        for api in ("api", "api_uncached")
    }
    restricted, viewer = figures["api_restricted_c8"], figures["api_uncached_c8"]
    ratios["api_restricted_c8/api_uncached_c8 (rate)"] = viewer.rate / max(restricted.rate, 1e-9)
    ratios["api_restricted_c8/api_uncached_c8 (p50)"] = restricted.p50_ms / max(viewer.p50_ms, 1e-9)
    ratio_met = ratios["api_uncached_c32/plain_c32"] >= TARGET_RATIO
    p99_met = figures["api_uncached_c8"].p99_ms < TARGET_P99_MS
    print(f"# {machine_note()}")
    for figure in figures.values():
        print(figure.line())
        if figure.first_error:
            print(f"  first error: {figure.first_error}")
    for key, value in ratios.items():
        print(f"ratio {key}: {value:.2f}x")
    print(f"target api executed c=32 >= {TARGET_RATIO:.0f}x plain strawberry: "
          f"{'met' if ratio_met else 'NOT met'}")  # fmt: skip
    print(f"target api executed c=8 p99 < {TARGET_P99_MS:.0f}ms: "
          f"{'met' if p99_met else 'NOT met'}")  # fmt: skip
    slower = ratios["api_restricted_c8/api_uncached_c8 (rate)"]
    print(f"target under a row rule within {RESTRICTED_WITHIN:.0%} of the same read as a viewer: "
          f"{'met' if slower <= 1 + RESTRICTED_WITHIN else 'NOT met'} ({slower:.2f}x)")  # fmt: skip
    return {
        "benchmark": "graphql",
        "finished_at": datetime.now(UTC).isoformat(),
        "seconds": args.seconds,
        "warmup": args.warmup,
        "note": machine_note(),
        "figures": {key: {"name": f.name, **f.as_dict()} for key, f in figures.items()},
        "ratios": {key: round(value, 3) for key, value in ratios.items()},
        "targets": {
            "api_uncached_c32/plain_c32": {"target": TARGET_RATIO, "met": ratio_met},
            "api_uncached_c8_p99_ms": {"target": TARGET_P99_MS, "met": p99_met},
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per figure")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before each")
    parser.add_argument("--data-dir", type=Path, default=None, help="keep the stack's data here")
    args = parser.parse_args(argv)
    interrupt_on_sigterm()
    try:
        figures = measure(args)
    except KeyboardInterrupt:
        print("interrupted: servers stopped.", file=sys.stderr)
        return 130
    path = write_results("graphql", report(figures, args))
    print(f"# written to {path.relative_to(_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
