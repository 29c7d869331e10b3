"""The `bsdflow` CLI as a user meets it before anything runs: it answers at once, finds the
running instance's address, mints the least privilege unless asked, and fails in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jwt
import pytest
from typer.testing import CliRunner, Result

from infra.cli import app as cli
from infra.instance import remember
from infra.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("confluent_kafka", "strawberry", "fastapi", "eventsourcing", "psycopg_pool", "uvicorn")
SUBSCRIPTION = "subscription { entityChanged { position } }"


def invoke(args: list[str], data_dir: Path, **env: str) -> Result:
    return CliRunner().invoke(cli, args, env={"BSDFLOW_DATA_DIR": str(data_dir), **env})


def claims(token: str) -> dict[str, object]:
    decoded: dict[str, object] = jwt.decode(token, options={"verify_signature": False})
    return decoded


@pytest.mark.parametrize("args", [["--help"], ["token", "--role", "viewer"], ["url"]], ids=" ".join)
def test_light_commands_import_no_server_library(args: list[str], tmp_path: Path) -> None:
    """`--help`, `token` and `url` must not pay for the web, database and Kafka libraries."""
    probe = f"""
import json, sys
from infra.cli import app
try:
    app({args!r}, standalone_mode=False)
except SystemExit:
    pass
print(json.dumps(sorted({{m.split(".")[0] for m in sys.modules}} & set({list(HEAVY)!r}))))
"""
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={**os.environ, "BSDFLOW_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
    )
    imported = json.loads(done.stdout.strip().splitlines()[-1])
    assert imported == [], f"`bsdflow {' '.join(args)}` imported {imported}"


def test_token_without_a_role_is_a_viewer_and_says_so(tmp_path: Path) -> None:
    result = invoke(["token", "--tenant", "demo"], tmp_path)
    assert result.exit_code == 0, result.output
    assert claims(result.stdout.strip())["roles"] == ["viewer"]
    assert "no --role given" in result.stderr
    assert "viewer" in result.stderr


def test_token_with_roles_mints_them(tmp_path: Path) -> None:
    result = invoke(["token", "--role", "admin", "--role", "editor"], tmp_path)
    assert result.exit_code == 0, result.output
    assert claims(result.stdout.strip())["roles"] == ["admin", "editor"]
    assert result.stderr == ""


def test_a_role_that_is_not_built_in_is_minted_with_a_warning(tmp_path: Path) -> None:
    # A tenant may define its own roles, which the CLI cannot see: a typo of a built-in one
    # gets a hint, not a refusal.
    result = invoke(["token", "--role", "admn"], tmp_path)
    assert result.exit_code == 0, result.output
    assert claims(result.stdout.strip())["roles"] == ["admn"]
    assert result.stderr.strip().splitlines() == [
        "bsdflow token: 'admn' is not a built-in role (did you mean 'admin'?): it grants what "
        "the tenant's define-role gave it, or nothing"
    ]


def test_a_malformed_role_name_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = invoke(["token", "--role", "Admin!"], tmp_path)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "bsdflow token: not a role name: 'Admin!'; roles: admin, editor, viewer, automation, "
        "platform, or a role the tenant defined"
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["worker", "--projection", "entitys"], "bsdflow worker: unknown projection 'entitys'"),
        (["automation", "--service", "reactr"], "bsdflow automation: unknown service 'reactr'"),
    ],
    ids=["worker", "automation"],
)
def test_an_unknown_service_is_one_line_and_exit_2_before_anything_starts(
    args: list[str], message: str, tmp_path: Path
) -> None:
    result = invoke(args, tmp_path)
    assert result.exit_code == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"{message}; known: ")
    assert not (tmp_path / "postgres").exists()


def test_url_follows_the_settings_when_nothing_runs(tmp_path: Path) -> None:
    assert invoke(["url"], tmp_path).stdout.strip() == "http://127.0.0.1:8000"
    moved = invoke(["url", "ws"], tmp_path, BSDFLOW_PORT="8101")
    assert moved.stdout.strip() == "ws://127.0.0.1:8101/graphql"
    anywhere = invoke(["url", "docs"], tmp_path, BSDFLOW_HOST="0.0.0.0", BSDFLOW_PORT="8101")
    assert anywhere.stdout.strip() == "http://127.0.0.1:8101/docs"


def test_url_reads_the_running_instance_from_the_data_folder(tmp_path: Path) -> None:
    """What `bsdflow up` recorded wins over the settings of the shell asking."""
    remember(Settings(data_dir=tmp_path, port=8202), {"database_url": "postgresql://x"})
    assert invoke(["url"], tmp_path).stdout.strip() == "http://127.0.0.1:8202"
    assert invoke(["url", "graphql"], tmp_path, BSDFLOW_PORT="9999").stdout.strip() == (
        "http://127.0.0.1:8202/graphql"
    )


def test_a_record_left_by_a_dead_process_is_ignored(tmp_path: Path) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    record = {"api_url": "http://127.0.0.1:8202", "pid": int(gone.stdout)}
    (tmp_path / "servers.json").write_text(json.dumps(record))
    assert invoke(["url"], tmp_path, BSDFLOW_PORT="8101").stdout.strip() == (
        "http://127.0.0.1:8101"
    )


@pytest.mark.parametrize(
    ("url", "code", "message"),
    [
        ("ftp://127.0.0.1/graphql", 2, "'ftp://127.0.0.1/graphql' is not a ws(s):// or http(s):// URL"),
        ("http://127.0.0.1:1/graphql", 1, "cannot connect to ws://127.0.0.1:1/graphql"),
    ],
)  # fmt: skip
def test_watch_fails_in_one_line(url: str, code: int, message: str, tmp_path: Path) -> None:
    """An http URL is turned into ws (the message names the ws URL it tried)."""
    result = invoke(["watch", SUBSCRIPTION, "--url", url, "--token", "t"], tmp_path)
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"bsdflow watch: {message}"), lines
    assert "Traceback" not in result.output


def test_a_token_carries_the_claims_given(tmp_path: Path) -> None:
    result = invoke(["token", "--role", "viewer", "--claim", "region=north"], tmp_path)
    assert result.exit_code == 0, result.output
    assert claims(result.stdout.strip())["region"] == "north"
    bad = invoke(["token", "--role", "viewer", "--claim", "region"], tmp_path)
    assert bad.exit_code == 2
    assert bad.stderr.strip() == "bsdflow token: a claim is name=value, not 'region'"
