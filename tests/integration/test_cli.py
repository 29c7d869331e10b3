"""`bsdflow watch` and `bsdflow projections` against the real app and servers: what a user
sees when a token is refused, a subscription is wrong, a dead letter does not exist."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from typer.testing import CliRunner, Result

from domain.process import Process
from infra.api import create_app
from infra.cli import app as cli
from infra.runtime import Runtime
from tests.servers import uvicorn_serving

BIN = Path(sys.executable).parent
TENANT = "demo"
CHANGES = "subscription { entityChanged { position entity { title } } }"


@pytest.fixture
def base_url(runtime: Runtime) -> Iterator[str]:
    runtime.ensure_tenant(TENANT, "Demo organisation")
    with uvicorn_serving(create_app(runtime)) as port:
        yield f"http://127.0.0.1:{port}"


def servers_env(runtime: Runtime, tmp_path: Path) -> dict[str, str]:
    """The test's servers as a user configures them: all three set, nothing embedded."""
    return {
        "DATABASE_URL": runtime.urls.database_url,
        "KAFKA_BOOTSTRAP_SERVERS": runtime.urls.kafka_bootstrap_servers,
        "REDIS_URL": runtime.urls.redis_url,
        "BSDFLOW_DATA_DIR": str(tmp_path / "cli"),
    }


def watch(base_url: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["watch", CHANGES, "--url", f"{base_url}/graphql", *args])


def only_line(result: Result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def test_watch_with_a_refused_token_says_so_in_one_line(base_url: str) -> None:
    result = watch(base_url, "--token", "not-a-token", "--timeout", "10")
    assert result.exit_code == 1
    assert only_line(result).startswith(
        "bsdflow watch: the server refused the token (close 4403 Forbidden)"
    )


def test_watch_of_a_wrong_subscription_says_why(base_url: str, runtime: Runtime) -> None:
    token = runtime.tokens.mint(TENANT, ["viewer"])
    result = CliRunner().invoke(
        cli, ["watch", "subscription { nothing }", "--url", f"{base_url}/graphql",
              "--token", token, "--timeout", "10"],
    )  # fmt: skip
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("# subscribed")
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("bsdflow watch: the server refused the subscription: ")
    assert "nothing" in last
    assert "Traceback" not in result.output


def test_watch_accepts_the_http_url_and_prints_the_change(
    base_url: str, runtime: Runtime, read_side: Any
) -> None:
    """`--url http://…/graphql` is spoken to as ws://; commands are sent until the change
    arrives (the subscription may become live a moment after `# subscribed`)."""
    admin = runtime.tokens.mint(TENANT, ["admin"])
    auth = {"Authorization": f"Bearer {admin}"}
    kind = httpx.post(f"{base_url}/v1/commands/define-entity-type", headers=auth,
                      json={"name": "Site", "fields": [{"name": "title", "type": "text"}]})  # fmt: skip
    assert kind.status_code == 200, kind.text
    process = subprocess.Popen(
        [str(BIN / "bsdflow"), "watch", CHANGES, "--url", f"{base_url}/graphql", "--count", "1",
         "--timeout", "60", "--token", runtime.tokens.mint(TENANT, ["viewer"])],
        env=os.environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stderr is not None
    assert process.stderr.readline().startswith("# subscribed to ws://127.0.0.1:")
    for _ in range(120):  # bounded: each round waits up to half a second for the exit
        created = httpx.post(f"{base_url}/v1/commands/create-entity", headers=auth,
                             json={"entity_type_id": kind.json()["id"], "data": {"title": "Depot"}})  # fmt: skip
        assert created.status_code == 200, created.text
        try:
            process.wait(0.5)
            break
        except subprocess.TimeoutExpired:
            continue
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert '"entityChanged":{"position":' in out
    assert '"title":"Depot"' in out


def test_retrying_a_dead_letter_that_does_not_exist_fails(runtime: Runtime, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["projections", "dead-letters", "--retry", "999"], env=servers_env(runtime, tmp_path)
    )
    assert result.exit_code == 1, result.output
    assert only_line(result) == "bsdflow projections dead-letters: no dead letter 999"


def test_lag_is_a_table_like_status(runtime: Runtime, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["projections", "lag"], env=servers_env(runtime, tmp_path))
    assert result.exit_code == 0, result.output
    assert "\t" not in result.stdout
    header = next(line for line in result.stdout.splitlines() if "projection" in line)
    assert "behind" in header
    assert "┃" in header or "│" in header, "not drawn as a table"
    rows = [line for line in result.stdout.splitlines() if "entities" in line]
    assert rows, result.stdout
    assert [cell.strip() for cell in rows[0].split("│") if cell.strip()] == ["entities", "0"]


async def test_migrating_every_case_of_a_definition_reports_those_that_cannot_move(
    base_url: str, runtime: Runtime, read_side: Any, settled: Any
) -> None:
    from tests.unit.commands.test_process_definitions import incident

    admin = runtime.tokens.mint(TENANT, ["admin"])
    auth = {"Authorization": f"Bearer {admin}"}

    def command(command_name: str, /, **body: Any) -> dict[str, Any]:
        reply = httpx.post(f"{base_url}/v1/commands/{command_name}", headers=auth, json=body)
        assert reply.status_code == 200, reply.text
        return dict(reply.json())

    command("publish-process-definition", **incident())
    cases = [command("open-process", definition="incident", title=f"c{n}")["id"] for n in range(3)]
    command("move-process", process_id=cases[0], transition="triage")
    command("publish-process-definition", **incident(stages=["new", "assessing", "closed"],
                                                     transitions=[]))  # fmt: skip
    last = command("open-process", definition="incident", title="already v2")
    await settled(last["position"])

    def migrate(*extra: str) -> Result:
        return CliRunner().invoke(
            cli,
            ["processes", "migrate", "incident", "--url", base_url, "--token", admin, *extra],
        )

    partial = migrate("--to", "2")
    assert partial.exit_code == 1, (partial.stdout, partial.stderr)
    assert "0 migrated, 0 already at that version, 3 refused" in partial.stdout, partial.stderr
    assert "/mapping/triage: no stage of version 2 for 'triage'" in partial.stderr
    mapping = [f"--map={s}=assessing" for s in ("triage", "fixing", "review")]
    done = migrate("--to", "2", *mapping)
    assert done.exit_code == 0, done.output
    assert "3 migrated" in done.stdout
    stages = [runtime.store.find(Process, UUID(c)).stage for c in cases]  # type: ignore[union-attr]
    assert stages == ["assessing", "new", "new"]
