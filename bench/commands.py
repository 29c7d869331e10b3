"""Commands appended per second: create-entity in process and over HTTP vs. plain eventsourcing.

    .venv/bin/python bench/commands.py [--seconds N] [--warmup S] [--data-dir DIR]

Starts the embedded stack and the API (uvicorn, own process), creates a tenant and a "Site"
entity type, then measures POST /v1/commands/create-entity with 1 and 32 keep-alive clients
(bench/_rawhttp.py, one connection each), and GET /health with 32 clients as the ceiling of
this load generator on this machine. In this process, 32 threads run create-entity through
the command service with group commit and, for comparison, with one transaction per command.
The baseline, on the same PostgreSQL (its own database), is a plain eventsourcing Application
saving one new aggregate per call, with 1 and 4 threads. Prints one line per figure and the
ratios against DESIGN.md §7's targets; writes the same to bench/results/commands.json.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file shares its name with the project's `commands` package: run as a script, its own
# folder would come first on sys.path and shadow that package. Put the project root there.
_ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _ROOT / "bench"]
sys.path.insert(0, str(_ROOT))

import argparse  # noqa: E402
import random  # noqa: E402
import uuid  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402
import orjson  # noqa: E402
import redis  # noqa: E402
from eventsourcing.application import Application  # noqa: E402
from eventsourcing.domain import Aggregate, event  # noqa: E402

from bench._harness import (  # noqa: E402
    JWT_SECRET,
    Bench,
    Figure,
    Meters,
    async_load,
    cpu_seconds,
    fresh_database,
    interrupt_on_sigterm,
    machine_note,
    ratio,
    run_async,
    running_stack,
    thread_load,
    write_results,
)
from bench._rawhttp import raw_connections  # noqa: E402
from commands.registered import COMMANDS  # noqa: E402
from commands.service import CommandService  # noqa: E402
from eventstore.postgres import PostgresEventStore, eventstore_env  # noqa: E402
from infra.blobs import DiskBlobStore  # noqa: E402
from infra.redis_adapters import RedisLocks  # noqa: E402
from infra.secrets import FernetSecretBox  # noqa: E402

CLIENTS = (1, 32)
BASELINE_THREADS = (1, 4)
BASELINE_DATABASE = "bench_baseline"
TARGET_VS_BASELINE = 5.0  # DESIGN.md §7: commands appended under 32 clients ≥ 5x one-by-one
TARGET_HTTP_RATE = 3000.0  # DESIGN.md §7: ≥ 3k real commands/s over HTTP, 32 clients
TARGET_HTTP_P99_MS = 50.0

SITE_FIELDS = [
    {"name": "title", "type": "text", "required": True, "searchable": "A"},
    {"name": "population", "type": "integer"},
    {"name": "city", "type": "text", "searchable": "B"},
]
CITIES = [
    "Lisbon", "Porto", "Jerusalem", "Haifa", "Lyon", "Marseille", "Kraków", "Gdańsk", "Bristol",
    "Leeds", "Zaragoza", "València", "São Paulo", "Montréal", "Tampere", "Bergen", "Graz", "Turku",
]  # fmt: skip
KINDS = ["depot", "warehouse", "clinic", "school", "substation", "pumping station", "yard"]


@dataclass(frozen=True)
class LoadSettings:
    seconds: float
    warmup: float

    def timing(self, bench: Bench) -> tuple[float, float, Meters]:
        """Duration, warm-up and CPU meters (server process, this load process) of HTTP runs."""
        meters: Meters = {"server": lambda: cpu_seconds(bench.server_pid), "load": cpu_seconds}
        return self.seconds, self.warmup, meters


def site_data(rng: random.Random) -> dict[str, Any]:
    city = rng.choice(CITIES)
    return {
        "title": f"{city} {rng.choice(KINDS)} {rng.randint(1, 999)}",
        "population": rng.randint(0, 2_000_000),
        "city": city,
    }


# ---------------------------------------------------------------------------------------------
# Over HTTP
# ---------------------------------------------------------------------------------------------


def command(base_url: str, name: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(
        f"{base_url}/v1/commands/{name}",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    if response.status_code != 200:
        raise RuntimeError(f"{name} failed: {response.status_code} {response.text}")
    reply: dict[str, Any] = response.json()
    return reply


def set_up_tenant(bench: Bench) -> tuple[str, str]:
    """A fresh tenant (unique slug, so a reused --data-dir works) and its Site type."""
    slug = f"bench-{uuid.uuid4().hex[:8]}"
    platform = bench.tokens.mint("platform", ["platform"], actor="bench")
    command(
        bench.base_url,
        "create-tenant",
        platform,
        {"slug": slug, "name": "Bench Ltd", "settings": {"commands_per_second": 100_000}},
    )
    admin = bench.tokens.mint(slug, ["admin"], actor="bench")
    site = command(
        bench.base_url, "define-entity-type", admin, {"name": "Site", "fields": SITE_FIELDS}
    )
    return admin, str(site["id"])


def error_text(status: int, body: bytes) -> str | None:
    return None if status == 200 else f"{status} {body[:500]!r}"


async def http_create_entity(
    bench: Bench, token: str, type_id: str, clients: int, load: LoadSettings
) -> Figure:
    rng = random.Random(clients)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with raw_connections(bench.base_url, clients) as http:
        head = http[0].head("POST", "/v1/commands/create-entity", headers)

        async def create_one(client: int) -> str | None:
            body = orjson.dumps({"entity_type_id": type_id, "data": site_data(rng)})
            return error_text(*await http[client].send(head, body))

        name = f"create-entity http c={clients}"
        return await async_load(name, "cmd/s", create_one, clients, *load.timing(bench))


async def http_ceiling(bench: Bench, clients: int, load: LoadSettings) -> Figure:
    """GET /health, same clients: what this load generator can drive at best on this machine."""
    async with raw_connections(bench.base_url, clients) as http:
        head = http[0].head("GET", "/health", {})

        async def health(client: int) -> str | None:
            return error_text(*await http[client].send(head))

        name = f"ceiling GET /health http c={clients}"
        return await async_load(name, "req/s", health, clients, *load.timing(bench))


# ---------------------------------------------------------------------------------------------
# In process: the command service itself, without HTTP
# ---------------------------------------------------------------------------------------------


def in_process_create_entity(
    bench: Bench,
    token: str,
    type_id: str,
    threads: int,
    load: LoadSettings,
    *,
    group_commit: bool = True,
) -> Figure:
    """`threads` threads run create-entity through CommandService, as the API's threadpool does."""
    store = PostgresEventStore(
        bench.urls.database_url, pool_size=threads, overflow=0, group_commit=group_commit
    )
    client = redis.Redis.from_url(bench.urls.redis_url)
    service = CommandService(
        store,
        RedisLocks(client),
        DiskBlobStore(bench.data_dir / "in-process-blobs", 1 << 20),
        FernetSecretBox(JWT_SECRET),
    )
    who = bench.tokens.principal(f"Bearer {token}")
    spec = COMMANDS["create-entity"]
    rngs = [random.Random(n) for n in range(threads)]
    try:

        def create_one(thread: int) -> str | None:
            body = spec.model.model_validate(
                {"entity_type_id": type_id, "data": site_data(rngs[thread])}
            )
            service.execute(spec, body, who, {"command": spec.name})
            return None

        mode = "group commit" if group_commit else "one tx per command"
        name = f"create-entity in-process t={threads} ({mode})"
        return thread_load(name, "cmd/s", create_one, threads, load.seconds, load.warmup)
    finally:
        store.close()
        client.close()


# ---------------------------------------------------------------------------------------------
# Baseline: plain eventsourcing, one new aggregate per save
# ---------------------------------------------------------------------------------------------


class Site(Aggregate):
    @event("Created")
    def __init__(self, title: str, population: int, city: str) -> None:
        self.title = title
        self.population = population
        self.city = city


def baseline(bench: Bench, threads: int, load: LoadSettings) -> Figure:
    url = fresh_database(bench.urls.database_url, BASELINE_DATABASE)
    app: Application[Any] = Application(
        env=eventstore_env(url, pool_size=8, overflow=8, group_commit=False)
    )
    rngs = [random.Random(n) for n in range(threads)]
    try:

        def save_one(thread: int) -> str | None:
            app.save(Site(**site_data(rngs[thread])))
            return None

        label = "1-by-1" if threads == 1 else f"1-by-1 t={threads}"
        name = f"eventsourcing {label}"
        return thread_load(name, "events/s", save_one, threads, load.seconds, load.warmup)
    finally:
        app.close()


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def report(figures: dict[str, Figure], args: argparse.Namespace) -> dict[str, Any]:
    http1, http32, ceiling = figures["http_c1"], figures["http_c32"], figures["ceiling_c32"]
    in_process = figures["in_process_t32"]
    es1, es4 = figures["es_t1"], figures["es_t4"]
    ratios = {
        "http_c1/es_t1": ratio(http1, es1),
        "http_c32/es_t1": ratio(http32, es1),
        "http_c32/es_t4": ratio(http32, es4),
        "http_c32/ceiling_c32": ratio(http32, ceiling),
        "in_process_t32/es_t1": ratio(in_process, es1),
        "in_process_t32/es_t4": ratio(in_process, es4),
        "group_commit_gain": ratio(in_process, figures["in_process_t32_alone"]),
    }
    appended_met = ratios["in_process_t32/es_t1"] >= TARGET_VS_BASELINE
    vs_baseline_met = ratios["http_c32/es_t4"] >= TARGET_VS_BASELINE
    http_met = http32.rate >= TARGET_HTTP_RATE and http32.p99_ms < TARGET_HTTP_P99_MS

    print(f"# {machine_note()}; HTTP load: bench/_rawhttp.py, one keep-alive connection per client")
    for figure in figures.values():
        print(figure.line())
        if figure.first_error:
            print(f"  first error: {figure.first_error}")
    print(
        f"ratio in-process t=32 / eventsourcing 1-by-1: {ratios['in_process_t32/es_t1']:.2f}x "
        f"(commands appended under 32 clients, target >= {TARGET_VS_BASELINE:.0f}x: "
        f"{verdict(appended_met)})"
    )
    print(
        f"ratio in-process t=32 / eventsourcing 1-by-1 t=4: {ratios['in_process_t32/es_t4']:.2f}x"
    )
    print(f"ratio group commit / one tx per command (t=32): {ratios['group_commit_gain']:.2f}x")
    print(f"ratio http c=1 / eventsourcing 1-by-1: {ratios['http_c1/es_t1']:.2f}x")
    print(f"ratio http c=32 / eventsourcing 1-by-1: {ratios['http_c32/es_t1']:.2f}x")
    print(
        f"ratio http c=32 / eventsourcing 1-by-1 t=4: {ratios['http_c32/es_t4']:.2f}x "
        f"(target >= {TARGET_VS_BASELINE:.0f}x: {verdict(vs_baseline_met)})"
    )
    print(
        f"ratio http c=32 / ceiling GET /health c=32: {ratios['http_c32/ceiling_c32']:.2f}x "
        "(near 1x: the load generator, not the server, is the limit)"
    )
    print(
        f"target http c=32 >= {TARGET_HTTP_RATE:,.0f} cmd/s with p99 < {TARGET_HTTP_P99_MS:.0f}ms: "
        f"{verdict(http_met)}"
    )
    return {
        "benchmark": "commands",
        "finished_at": datetime.now(UTC).isoformat(),
        "seconds": args.seconds,
        "warmup": args.warmup,
        "note": machine_note(),
        "figures": {key: {"name": f.name, **f.as_dict()} for key, f in figures.items()},
        "ratios": {key: round(value, 3) for key, value in ratios.items()},
        "targets": {
            "in_process_t32/es_t1": {"target": TARGET_VS_BASELINE, "met": appended_met},
            "http_c32/es_t4": {"target": TARGET_VS_BASELINE, "met": vs_baseline_met},
            "http_c32": {
                "target_rate": TARGET_HTTP_RATE,
                "target_p99_ms": TARGET_HTTP_P99_MS,
                "met": http_met,
            },
        },
    }


def measure(bench: Bench, load: LoadSettings) -> dict[str, Figure]:
    token, type_id = set_up_tenant(bench)
    figures: dict[str, Figure] = {}
    for clients in CLIENTS:
        figures[f"http_c{clients}"] = run_async(
            http_create_entity(bench, token, type_id, clients, load)
        )
    figures[f"ceiling_c{CLIENTS[-1]}"] = run_async(http_ceiling(bench, CLIENTS[-1], load))
    figures["in_process_t32"] = in_process_create_entity(bench, token, type_id, 32, load)
    figures["in_process_t32_alone"] = in_process_create_entity(
        bench, token, type_id, 32, load, group_commit=False
    )
    for threads in BASELINE_THREADS:
        figures[f"es_t{threads}"] = baseline(bench, threads, load)
    return figures


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per figure")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before each")
    parser.add_argument("--data-dir", type=Path, default=None, help="keep the stack's data here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    interrupt_on_sigterm()
    try:
        with running_stack(args.data_dir) as bench:
            figures = measure(bench, LoadSettings(args.seconds, args.warmup))
    except KeyboardInterrupt:
        print("interrupted: servers stopped.", file=sys.stderr)
        return 130
    path = write_results("commands", report(figures, args))
    print(f"# written to {path.relative_to(_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
