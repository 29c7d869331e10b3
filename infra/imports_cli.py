"""`bsdflow import FILE --type Site`: a spreadsheet or CSV file imported through the running
instance's API — checked first (counts and the first errors), then applied with a progress
bar; the failed rows are written to an error report beside the file."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console

from infra.cli_errors import fail, problem_reason
from infra.cli_remote import TenantOption, TokenOption, UrlOption, api_client, pairs
from infra.progress import progress_bars
from infra.settings import DEMO_TENANT

console = Console(stderr=True)
JOB = """query($id: UUID!) { importJob(id: $id) {
  status rows valid done failed created updated refusal errorReportUrl
  firstErrors { sheet row field message } } }"""
POLL_SECONDS = 0.2


def import_file(
    file: Annotated[Path, typer.Argument(help=".xlsx, .xlsm, .xlsb, .xls, .ods or .csv")],
    type_: Annotated[str, typer.Option("--type", help="The entity type the rows become")],
    sheet: Annotated[str | None, typer.Option(help="Only this sheet")] = None,
    key: Annotated[
        str | None, typer.Option(help="A unique field: rows with a taken value update")
    ] = None,
    map_: Annotated[
        list[str] | None,
        typer.Option("--map", help="Column=field, for a header not naming its field (repeatable)"),
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Only check: report, write nothing")] = False,
    tenant: TenantOption = DEMO_TENANT,
    token: TokenOption = None,
    url: UrlOption = None,
) -> None:
    """Import FILE as entities of a type: checked row by row first, then applied (unless
    --dry-run). Exits 1 when rows failed, having written FILE's error report beside it."""
    import httpx

    if not file.is_file():
        fail("import", f"no file {file}", 2)
    mapping = pairs(map_, "Column=field", "import")
    form = {"entity_type": type_, "source": "cli", "mapping": orjson.dumps(mapping).decode()}
    form |= {k: v for k, v in (("sheet", sheet), ("key_field", key)) if v}
    with api_client(tenant, token, url, 60) as http:
        try:
            with file.open("rb") as content:
                reply = http.post("/v1/imports", data=form, files={"file": (file.name, content)})
        except httpx.HTTPError as exc:
            fail("import", f"cannot reach bsdflow: {exc}")
        if reply.status_code != 200:
            fail("import", problem_reason(reply))
        job_id = reply.json()["id"]
        with console.status(f"checking {file.name}"):
            job = _until(http, job_id, ("checked", "refused", "applying", "completed", "cancelled"))
        if job["status"] == "refused":
            fail("import", f"{file.name} refused: {job['refusal']}")
        typer.echo(f"{job['rows']:,} rows: {job['valid']:,} valid, "
                   f"{job['rows'] - job['valid']:,} with errors")  # fmt: skip
        for error in job["firstErrors"]:
            typer.echo(f"  {error['sheet']} row {error['row']}: {error['message']}", err=True)
        if dry_run:
            raise typer.Exit(1 if job["valid"] < job["rows"] else 0)
        if job["status"] == "checked":
            started = http.post("/v1/commands/start-import", json={"import_id": job_id})
            if started.status_code != 200:
                fail("import", problem_reason(started))
        job = _applied(http, job_id, job["rows"], file.name)
        typer.echo(f"{job['created']:,} created, {job['updated']:,} updated, "
                   f"{job['failed']:,} failed ({job['status']})")  # fmt: skip
        if job["failed"]:
            report = file.with_name(f"{file.stem}-errors.xlsx")
            report.write_bytes(http.get(job["errorReportUrl"]).content)
            typer.echo(f"the failed rows, with why: {report}", err=True)
            raise typer.Exit(1)
        if job["status"] != "completed":
            raise typer.Exit(1)


def _job(http: Any, job_id: str) -> dict[str, Any] | None:
    reply = http.post("/graphql", json={"query": JOB, "variables": {"id": job_id}})
    body = reply.json()
    if reply.status_code != 200 or body.get("errors"):
        fail("import", str(body.get("errors") or reply.text)[:300])
    job: dict[str, Any] | None = body["data"]["importJob"]
    return job


def _until(http: Any, job_id: str, statuses: tuple[str, ...]) -> dict[str, Any]:
    while (job := _job(http, job_id)) is None or job["status"] not in statuses:
        time.sleep(POLL_SECONDS)
    return job


def _applied(http: Any, job_id: str, rows: int, name: str) -> dict[str, Any]:
    with progress_bars(console, "rows") as bars:
        task = bars.add_task(f"importing {name}", total=rows)
        while True:
            job = _job(http, job_id)
            if job is not None:
                bars.update(task, completed=job["done"] + job["failed"])
                if job["status"] in ("completed", "cancelled", "refused"):
                    return job
            time.sleep(POLL_SECONDS)
