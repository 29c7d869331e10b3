"""`bsdflow processes migrate`: move every case of a definition to another of its versions,
through the running instance's API (each case one `migrate-process`, checked as any other)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console

from infra.cli_errors import fail, problem_reason
from infra.cli_remote import TenantOption, TokenOption, UrlOption, api_client, pairs
from infra.progress import progress_bars
from infra.settings import DEMO_TENANT

app = typer.Typer(help="Work on many processes at once.", no_args_is_help=True)
console = Console(stderr=True)
CASES = """query($key: String!, $after: String) {
  processes(filter: {definitionKey: $key, status: "open"}, first: 200, after: $after) {
    edges { node { id definitionVersion } } pageInfo { hasNextPage endCursor } } }"""


@app.command()
def migrate(
    definition: Annotated[str, typer.Argument(help="The definition's key")],
    to: Annotated[int | None, typer.Option(help="The version (default: the latest)")] = None,
    map_: Annotated[
        list[str] | None,
        typer.Option("--map", help="old=new: the stage a case in `old` goes to (repeatable)"),
    ] = None,
    tenant: TenantOption = DEMO_TENANT,
    token: TokenOption = None,
    url: UrlOption = None,
) -> None:
    """Migrate every open case of DEFINITION to a version, showing progress; the cases that
    cannot move (a stage without a mapping, data the version lacks) are listed, and nothing of
    theirs changes."""
    import httpx

    mapping = pairs(map_, "old=new", "processes migrate")
    with api_client(tenant, token, url, 30) as http:
        try:
            cases = _cases(http, definition)
        except httpx.HTTPError as exc:
            fail("processes migrate", f"cannot reach bsdflow: {exc}")
        todo = [c for c in cases if to is None or c["definitionVersion"] != to]
        moved, current, refused = 0, 0, []
        with progress_bars(console, "cases") as bars:
            task = bars.add_task(f"migrating {definition}", total=len(todo))
            for case in todo:
                body: dict[str, Any] = {"process_id": case["id"], "mapping": mapping}
                if to is not None:
                    body["version"] = to
                reply = http.post("/v1/commands/migrate-process", json=body)
                if reply.status_code == 200:
                    moved += 1
                elif reply.status_code == 409 and "at version" in reply.text:
                    current += 1
                else:
                    refused.append((case["id"], problem_reason(reply)))
                bars.advance(task)
    typer.echo(f"{moved} migrated, {current} already at that version, {len(refused)} refused")
    for case_id, reason in refused[:20]:
        typer.echo(f"  {case_id}: {reason}", err=True)
    if refused:
        raise typer.Exit(1)


def _cases(http: Any, key: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    after = None
    while True:
        reply = http.post(
            "/graphql", json={"query": CASES, "variables": {"key": key, "after": after}}
        )
        body = reply.json()
        if reply.status_code != 200 or body.get("errors"):
            fail("processes migrate", str(body.get("errors") or reply.text)[:300])
        page = body["data"]["processes"]
        found += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return found
        after = page["pageInfo"]["endCursor"]
