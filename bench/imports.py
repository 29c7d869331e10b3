"""Imports: rows into entities end to end, against the same rows as HTTP commands.

    .venv/bin/python bench/imports.py [--rows 100000] [--clients 32] [--baseline-seconds 10]

1. The import: a CSV file of N rows (a unique code, a name, a number, a date) uploaded with
   `POST /v1/imports`, checked, started, and applied by the import runner (in this process, on
   the same stack), timed from `start-import` to `completed` — and the check on its own.
2. Baseline, same run and server: the same kind of rows as `create-entity` commands over HTTP
   from 32 clients, each its own keep-alive connection, for `--baseline-seconds`.

Prints one line per figure; writes bench/results/imports.json. Target: ≥ 5,000 rows/s.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import orjson

from automation.imports.runner import BATCH, ImportRunner
from bench._harness import (
    Bench,
    async_load,
    interrupt_on_sigterm,
    machine_note,
    run_async,
    running_stack,
    write_results,
)
from bench._rawhttp import raw_connections
from bench.commands import command
from bench.scheduler import console, settings_for
from commands.auth import Principal
from domain.import_job import ImportJob
from infra.logging import configure_logging
from infra.runtime import build_runtime

FIELDS = [
    {"name": "code", "type": "text", "required": True, "unique": True},
    {"name": "name", "type": "text", "required": True},
    {"name": "population", "type": "integer"},
    {"name": "opened", "type": "date"},
]
TARGET = 5_000


def rows_csv(count: int) -> bytes:
    out = io.StringIO()
    out.write("Code,Name,Population,Opened\n")
    for n in range(count):
        out.write(f"C{n},Site number {n},{n * 7},2024-0{1 + n % 9}-1{n % 9}\n")
    return out.getvalue().encode()


def tenant(bench: Bench) -> tuple[str, str]:
    slug = f"bench-{uuid.uuid4().hex[:8]}"
    platform = bench.tokens.mint("platform", ["platform"], actor="bench")
    command(bench.base_url, "create-tenant", platform,
            {"slug": slug, "name": "Bench", "settings": {"commands_per_second": 100_000}})  # fmt: skip
    admin = bench.tokens.mint(slug, ["admin"], actor="bench")
    site = command(bench.base_url, "define-entity-type", admin, {"name": "Site", "fields": FIELDS})
    return admin, str(site["id"])


def imported(bench: Bench, count: int, batch: int) -> dict[str, Any]:
    admin, _ = tenant(bench)
    headers = {"Authorization": f"Bearer {admin}"}
    content = rows_csv(count)
    reply = httpx.post(f"{bench.base_url}/v1/imports", headers=headers, timeout=120,
                       data={"entity_type": "Site"}, files={"file": ("sites.csv", content)})  # fmt: skip
    reply.raise_for_status()
    job_id = uuid.UUID(reply.json()["id"])
    settings = settings_for(bench.urls, bench.data_dir / "server", "bsdflow.events")
    runtime = build_runtime(settings, bench.urls)
    try:
        rows = runtime.commands.import_rows(Principal.system("bsdflow-imports"))
        runner = ImportRunner(bench.urls.database_url, rows, runtime.blobs.path_of, batch=batch)
        job = runtime.store.find(ImportJob, job_id)
        assert job is not None
        started = time.perf_counter()
        job = runner.check(job)
        check_s = time.perf_counter() - started
        command(bench.base_url, "start-import", admin, {"import_id": str(job_id)})
        job = runtime.store.find(ImportJob, job_id)
        assert job is not None
        assert job.status == "applying"
        done = threading.Event()
        with console.status("importing") as status:

            def show() -> None:
                while not done.wait(1.0):
                    now = runtime.store.find(ImportJob, job_id)
                    if now is not None:
                        rate = now.done / (time.perf_counter() - started)
                        status.update(f"importing: {now.done:,}/{count:,} ({rate:,.0f} rows/s)")

            ticker = threading.Thread(target=show, daemon=True)
            started = time.perf_counter()
            ticker.start()
            job = runner.apply(job)
            apply_s = time.perf_counter() - started
            done.set()
    finally:
        runtime.close()
    assert (job.status, job.created, job.failed) == ("completed", count, 0), vars(job)
    rate = count / apply_s
    print(f"import: {count:,} rows applied in {apply_s:.1f} s = {rate:,.0f} rows/s "
          f"(checked in {check_s:.1f} s = {count / check_s:,.0f} rows/s)", flush=True)  # fmt: skip
    return {"rows": count, "apply_seconds": round(apply_s, 2), "rate": round(rate, 1),
            "check_seconds": round(check_s, 2), "check_rate": round(count / check_s, 1)}  # fmt: skip


def one_by_one(bench: Bench, clients: int, seconds: float) -> dict[str, Any]:
    admin, site = tenant(bench)
    headers = {"Authorization": f"Bearer {admin}", "Content-Type": "application/json"}
    counter = iter(range(10**9))

    async def run() -> Any:
        async with raw_connections(bench.base_url, clients) as http:
            head = http[0].head("POST", "/v1/commands/create-entity", headers)

            async def create(client: int) -> str | None:
                n = next(counter)
                data = {"code": f"C{n}", "name": f"Site number {n}", "population": n * 7,
                        "opened": f"2024-0{1 + n % 9}-1{n % 9}"}  # fmt: skip
                body = orjson.dumps({"entity_type_id": site, "data": data})
                status, reply = await http[client].send(head, body)
                return None if status == 200 else f"{status} {reply[:200]!r}"

            return await async_load(
                f"create-entity http c={clients}", "rows/s", create, clients, seconds, 1.0
            )

    figure = run_async(run())
    print(figure.line(), flush=True)
    return figure.as_dict()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--baseline-seconds", type=float, default=10.0)
    parser.add_argument("--batch", type=int, default=BATCH, help="rows per transaction")
    args = parser.parse_args()
    interrupt_on_sigterm()
    configure_logging("WARNING", json=False)
    results: dict[str, Any] = {"note": machine_note()}
    print(f"# {results['note']}", flush=True)
    with (
        tempfile.TemporaryDirectory(prefix="bsdflow-bench-") as tmp,
        running_stack(Path(tmp) / "api") as bench,
    ):
        results["baseline"] = base = one_by_one(bench, args.clients, args.baseline_seconds)
        results["import"] = imp = imported(bench, args.rows, args.batch)
    ratio = imp["rate"] / base["rate"] if base["rate"] else float("nan")
    results.update(ratio=round(ratio, 2), target=TARGET, met=imp["rate"] >= TARGET)
    print(f"import / HTTP commands: {ratio:.2f}x; target {TARGET:,} rows/s "
          f"{'met' if imp['rate'] >= TARGET else 'NOT met'}", flush=True)  # fmt: skip
    print(f"# written to {write_results('imports', results)}")


if __name__ == "__main__":
    main()
