"""`make run`'s own configuration against the API-only server, and what it costs when idle.

    .venv/bin/python bench/make_run.py [--seconds 10] [--idle-seconds 30] [--skip api-only,idle]

In one run: (a) the API-only server exactly as bench/commands.py starts it (embedded stack plus
uvicorn in its own process, no relay, workers or automation): create-entity over HTTP from 1
and 32 keep-alive clients (bench/_rawhttp.py) and GET /health from 1; then (b) a real
`bsdflow up` (own data folder, free port) — the API in its process, the relay, every projection
worker and automation in `bsdflow workers` — measured the same way, and the ratios of the two
(target: the all-in-one within 1.5x of API-only on each figure). (c) Idle: with `bsdflow up`
running and no request, `--settle` seconds after it answered /ready and its workers applied
the set-up commands, the CPU time of every process it started (the API, the workers, and the
PostgreSQL, Tansu and redis-server it started, found by data folder and port) over
`--idle-seconds`, in % of one core (target: < 5 % in total).

Everything shares the machine's cores with the load generator (and whatever else runs: the
output says the load average and the machine's busy share during the idle window).
Prints one line per figure; writes bench/results/make_run.json.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/commands.py shares its name with the `commands` package: keep bench/ off sys.path.
_ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _ROOT / "bench"]
sys.path.insert(0, str(_ROOT))

import argparse  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from typing import Any  # noqa: E402

import orjson  # noqa: E402

from bench._harness import (  # noqa: E402
    Bench,
    Figure,
    Meters,
    async_load,
    cpu_seconds,
    interrupt_on_sigterm,
    run_async,
    running_stack,
    write_results,
)
from bench._rawhttp import raw_connections  # noqa: E402
from bench._upstack import (  # noqa: E402
    IdleCost,
    Up,
    bsdflow_up,
    cpu_of,
    idle_cost,
    processes_of,
    wait_caught_up,
)
from bench.commands import error_text, set_up_tenant, site_data  # noqa: E402

TARGET_RATIO = 1.5  # the all-in-one within 1.5x of API-only (rate down, latency up)
TARGET_IDLE_PERCENT = 5.0  # of one core, every process of `bsdflow up` together
FIGURES = ("http_c1", "http_c32", "health_c1")


@dataclass(frozen=True)
class Load:
    seconds: float
    warmup: float


async def create_entities(
    bench: Bench, token: str, type_id: str, clients: int, load: Load, meters: Meters, label: str
) -> Figure:
    rng = random.Random(clients)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with raw_connections(bench.base_url, clients) as http:
        head = http[0].head("POST", "/v1/commands/create-entity", headers)

        async def create_one(client: int) -> str | None:
            body = orjson.dumps({"entity_type_id": type_id, "data": site_data(rng)})
            return error_text(*await http[client].send(head, body))

        name = f"{label} create-entity http c={clients}"
        return await async_load(name, "cmd/s", create_one, clients, load.seconds, load.warmup,
                                meters)  # fmt: skip


async def health(bench: Bench, clients: int, load: Load, meters: Meters, label: str) -> Figure:
    async with raw_connections(bench.base_url, clients) as http:
        head = http[0].head("GET", "/health", {})

        async def one(client: int) -> str | None:
            return error_text(*await http[client].send(head))

        name = f"{label} GET /health http c={clients}"
        return await async_load(name, "req/s", one, clients, load.seconds, load.warmup, meters)


def measure(bench: Bench, load: Load, meters: Meters, label: str) -> dict[str, Figure]:
    token, type_id = set_up_tenant(bench)
    return {
        "http_c1": run_async(create_entities(bench, token, type_id, 1, load, meters, label)),
        "http_c32": run_async(create_entities(bench, token, type_id, 32, load, meters, label)),
        "health_c1": run_async(health(bench, 1, load, meters, label)),
    }


def measure_api_only(load: Load) -> dict[str, Figure]:
    with running_stack() as bench:
        meters: Meters = {"api": lambda: cpu_seconds(bench.server_pid), "load": cpu_seconds}
        return measure(bench, load, meters, "api-only")


def settled(up: Up, settle: float) -> float:
    """Wait until the workers applied what exists (they joined their groups), then `settle`."""
    position = int(orjson.loads(_ready(up))["position"])
    caught_up = wait_caught_up(up.bench.urls.database_url, position)
    time.sleep(settle)
    return caught_up


def _ready(up: Up) -> bytes:
    """One command, so there is a position to wait for: the demo tenant's first entity type."""
    import httpx

    token = up.bench.tokens.mint("demo", ["admin"], actor="bench")
    reply = httpx.post(
        f"{up.bench.base_url}/v1/commands/define-entity-type",
        json={"name": f"Probe {time.time_ns()}", "fields": []},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    reply.raise_for_status()
    return reply.content


def meters_of(up: Up) -> Meters:
    """CPU seconds of each kind of process `bsdflow up` started, and of this load process."""

    def kind(prefix: str) -> float:
        return sum(cpu_of(pid) for pid, what in processes_of(up).items() if what.startswith(prefix))

    meters: Meters = {
        name: (lambda prefix=prefix: kind(prefix))
        for name, prefix in (
            ("api", "api"), ("workers", "workers"), ("tansu", "tansu"), ("pg", "postgres"),
            ("redis", "redis"),
        )
    }  # fmt: skip
    return meters | {"load": cpu_seconds}


def measure_make_run(
    load: Load | None,
    idle_seconds: float,
    settle: float,
    data_dir: Path,
    threads: bool,
    source: Path | None = None,
) -> tuple[dict[str, Figure], IdleCost | None, float]:
    with bsdflow_up(data_dir, source) as up:
        caught_up = settled(up, settle)
        idle = idle_cost(up, idle_seconds, with_threads=threads) if idle_seconds > 0 else None
        figures: dict[str, Figure] = {}
        if load is not None:
            figures = measure(up.bench, load, meters_of(up), "make-run")
        return figures, idle, caught_up


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------


def comparisons(api: dict[str, Figure], run: dict[str, Figure]) -> dict[str, dict[str, float]]:
    """Per figure: how many times slower the all-in-one is (rate, p50, p99); 1.0 = the same."""
    found = {}
    for key in FIGURES:
        if key in api and key in run:
            a, r = api[key], run[key]
            found[key] = {
                "rate": a.rate / r.rate if r.rate else float("inf"),
                "p50": r.p50_ms / a.p50_ms if a.p50_ms else float("inf"),
                "p99": r.p99_ms / a.p99_ms if a.p99_ms else float("inf"),
            }
    return found


def report(
    args: argparse.Namespace,
    api: dict[str, Figure],
    run: dict[str, Figure],
    idle: IdleCost | None,
    caught_up: float,
) -> dict[str, Any]:
    print(
        "# load generator, API, workers, PostgreSQL, Tansu and Redis share this machine; "
        f"load average now {' '.join(Path('/proc/loadavg').read_text().split()[:3])}"
    )
    for figure in [*api.values(), *run.values()]:
        print(figure.line())
        if figure.first_error:
            print(f"  first error: {figure.first_error}")
    ratios = comparisons(api, run)
    for key, found in ratios.items():
        worst = max(found.values())
        print(
            f"ratio make-run vs api-only, {key}: rate {found['rate']:.2f}x slower, "
            f"p50 {found['p50']:.2f}x, p99 {found['p99']:.2f}x "
            f"(target <= {TARGET_RATIO}x: {'met' if worst <= TARGET_RATIO else 'NOT met'})"
        )
    if run:
        print(f"make-run: workers caught up {caught_up:.1f} s after /ready")
    if idle is not None:
        shares = ", ".join(f"{kind} {share:.2f}%" for kind, share in idle.per_process.items())
        met = "met" if idle.total < TARGET_IDLE_PERCENT else "NOT met"
        print(
            f"idle make-run: {idle.total:.2f}% of one core in total over {idle.seconds:.0f} s "
            f"(target < {TARGET_IDLE_PERCENT:.0f}%: {met}); machine busy {idle.machine_percent:.0f}%"
            f" of all cores meanwhile, load average {idle.load_average}"
        )
        print(f"  per process: {shares}")
        for process, by_thread in idle.per_thread.items():
            top = sorted(by_thread.items(), key=lambda kv: -kv[1])[:12]
            print(f"  threads of {process}: " + ", ".join(f"{t} {s:.2f}%" for t, s in top))
    return {
        "benchmark": "make_run",
        "finished_at": datetime.now(UTC).isoformat(),
        "seconds": args.seconds,
        "warmup": args.warmup,
        "api_only": {key: {"name": f.name, **f.as_dict()} for key, f in api.items()},
        "make_run": {key: {"name": f.name, **f.as_dict()} for key, f in run.items()},
        "slower_than_api_only": {
            key: {k: round(v, 3) for k, v in found.items()} for key, found in ratios.items()
        },
        "target_ratio": TARGET_RATIO,
        "idle": None
        if idle is None
        else {
            "seconds": round(idle.seconds, 1),
            "settle": args.settle,
            "total_percent_of_one_core": round(idle.total, 2),
            "per_process_percent": {k: round(v, 2) for k, v in idle.per_process.items()},
            "machine_busy_percent": round(idle.machine_percent, 1),
            "load_average": idle.load_average,
            "target_percent": TARGET_IDLE_PERCENT,
            "met": idle.total < TARGET_IDLE_PERCENT,
        },
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per figure")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before each")
    parser.add_argument("--idle-seconds", type=float, default=30.0, help="idle window")
    parser.add_argument(
        "--settle", type=float, default=15.0, help="seconds after start-up before the idle window"
    )
    parser.add_argument(
        "--skip",
        default="",
        help="comma-separated parts to leave out: api-only, make-run (its load), idle",
    )
    parser.add_argument(
        "--threads", action="store_true", help="also print the idle CPU of each thread"
    )
    parser.add_argument("--data-dir", type=Path, default=None, help="bsdflow up's data folder")
    parser.add_argument(
        "--source",
        type=Path,
        default=None,
        help="run bsdflow up from this checkout instead (e.g. `git worktree` of the baseline)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    interrupt_on_sigterm()
    skip = {part.strip() for part in args.skip.split(",") if part.strip()}
    unknown = skip - {"api-only", "make-run", "idle"}
    if unknown:
        print(f"unknown parts to skip: {sorted(unknown)}", file=sys.stderr)
        return 2
    load = Load(args.seconds, args.warmup)
    run_load = None if "make-run" in skip else load
    idle_seconds = 0.0 if "idle" in skip else args.idle_seconds
    root = Path(tempfile.mkdtemp(prefix="bsdflow-make-run-"))
    try:
        api = {} if "api-only" in skip else measure_api_only(load)
        data_dir = args.data_dir.resolve() if args.data_dir else root / "up"
        run, idle, caught_up = measure_make_run(
            run_load, idle_seconds, args.settle, data_dir, args.threads, args.source
        )
    except KeyboardInterrupt:
        print("interrupted: servers stopped.", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(root, ignore_errors=True)
    path = write_results("make_run", report(args, api, run, idle, caught_up))
    print(f"# written to {path.relative_to(_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
