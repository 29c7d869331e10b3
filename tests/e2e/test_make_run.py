"""`bsdflow up` as a new user runs it: the README tour works as written on whatever port the
settings give, a load test right after it passes; Ctrl-C stops cleanly."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson
import pytest
from tenacity import Retrying, stop_after_delay, wait_fixed

from infra.embedded import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def tour_script() -> str:
    readme = (ROOT / "README.md").read_text()
    tour = readme.split("<!-- tour:start -->")[1].split("<!-- tour:end -->")[0]
    return "\n".join(re.findall(r"```bash\n(.*?)```", tour, flags=re.DOTALL))


def servers_of(up_pid: int, data_dir: Path) -> set[int]:
    """Every process a `bsdflow up` started: its descendants, and the servers that detach
    (PostgreSQL names its data folder; redis-server and Tansu their ports)."""
    record = orjson.loads((data_dir / "servers.json").read_bytes())
    marks = [
        str(data_dir).encode(),
        record["redis_url"].rsplit("/", 1)[0].removeprefix("redis://").encode(),
        record["kafka_bootstrap_servers"].encode(),
    ]
    parents: dict[int, int] = {}
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            parents[int(entry.name)] = int(
                (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
            )
        except (OSError, ValueError, IndexError):
            continue
        if any(mark in cmdline for mark in marks):
            found.add(int(entry.name))
    grown = True
    while grown:
        children = {pid for pid, ppid in parents.items() if ppid in found | {up_pid}}
        grown = not children <= found
        found |= children
    return found - {up_pid}


def alive(pids: set[int]) -> set[int]:
    return {pid for pid in pids if Path(f"/proc/{pid}").exists()}


class Up:
    def __init__(self, data_dir: Path, port: int, ignore_sigint: bool = False) -> None:
        self.port = port
        self.data_dir = data_dir
        self.env = {
            **{
                k: v
                for k, v in os.environ.items()
                if k not in ("DATABASE_URL", "REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS")
            },
            "BSDFLOW_DATA_DIR": str(data_dir),
            "BSDFLOW_PORT": str(port),
            # a busy machine's read side may need longer than a client's default 5 s wait
            "BSDFLOW_GRAPHQL_TIMEOUT": "60",
            "BSDFLOW_GRAPHQL_MAX_TIMEOUT": "90",
            "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        }
        command = [str(BIN / "bsdflow"), "up"]
        if ignore_sigint:  # as a job started in the background from a script: SIGINT ignored
            command = ["bash", "-c", f"trap '' INT; exec {command[0]} up"]
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for attempt in Retrying(stop=stop_after_delay(60), wait=wait_fixed(0.2), reraise=True):
            with attempt:
                assert self.process.poll() is None, self.process.stdout.read()  # type: ignore[union-attr]
                assert httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200

    def stop(self, sig: signal.Signals = signal.SIGINT) -> str:
        """Stop with `sig`; every server and worker it started must be gone after."""
        started = servers_of(self.process.pid, self.data_dir)
        assert len(started) >= 4, f"expected PostgreSQL, Tansu, Redis and the workers: {started}"
        self.process.send_signal(sig)
        output, _ = self.process.communicate(timeout=60)
        assert self.process.returncode == 0, output
        for attempt in Retrying(stop=stop_after_delay(15), wait=wait_fixed(0.1), reraise=True):
            with attempt:
                assert alive(started) == set(), f"left running after {sig.name}: {alive(started)}"
        return output

    def command(self, name: str, body: dict[str, Any], token: str) -> dict[str, Any]:
        reply = httpx.post(
            f"http://127.0.0.1:{self.port}/v1/commands/{name}",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert reply.status_code == 200, reply.text
        return dict(reply.json())

    def graphql(self, query: str, token: str, min_position: int) -> dict[str, Any]:
        reply = httpx.post(
            f"http://127.0.0.1:{self.port}/graphql",
            json={"query": query},
            headers={"Authorization": f"Bearer {token}", "X-Min-Position": str(min_position)},
            timeout=60,
        )
        body = reply.json()
        assert "errors" not in body, body
        assert body["extensions"]["freshness"]["timedOut"] is False, body
        return dict(body["data"])


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "bsdflow-data"


def test_readme_tour_against_bsdflow_up_and_clean_restart(data_dir: Path) -> None:
    port = free_port()
    script = tour_script()
    assert ":8000" not in script, "the tour names a port: it must follow BSDFLOW_PORT"
    up = Up(data_dir, port)
    try:
        result = subprocess.run(
            ["bash", "-e", "-c", script],
            check=False,
            cwd=ROOT,
            env=up.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        lines = [line for line in result.stdout.splitlines() if line.strip()]
        out = result.stdout
        assert '"status":"ready"' in out
        assert '"title":"Invalid data"' in out
        assert '"pointer":"/data/colour"' in out
        assert '"status":409' in out
        replays = [line for line in lines if '"version":2' in line and lines.count(line) > 1]
        assert len(replays) == 2
        assert replays[0] == replays[1], "the idempotent retry differs"
        assert '"status":403' in out
        assert '"path":["condition",">=",0,"var"]' in out, "the rule typo was not refused"
        assert '"hasCredentials":true' in out, "the process action did not reach GraphQL"
        assert '"title":"Guard failed"' in out, "the guarded move was not refused"
        assert '"stage":"fixing","definitionVersion":1' in out, "the case did not move"
        assert '"reason":"requires","message":"set summary first"' in out
        assert '"entityType":{"name":"Site"}' in out, "GraphQL did not read the write"
        assert '"title":"Jerusalem depot","snippet":"<b>Jerusalem</b> <b>depot</b>"' in out
        assert '"distanceM"' in out
        assert '"entityChanged":{"position":' in out
        assert '"population":940000' in out
        assert '"processes":null' in out, "a role's reads were not applied"
        assert '"sources":["membership","token"]' in out
        assert '"reads":["entities"]' in out
        assert "2 rows: 1 valid, 1 with errors" in out, "the CSV was not checked"
        assert "1 created, 0 updated, 1 failed (completed)" in out, "the CSV was not imported"
        assert "exit 1" in out
        assert Path("/tmp/bsdflow-sites-errors.xlsx").exists()
        assert "Valve on floor 2 is corroded." in out, "the document did not download"
        assert lines[-1] == "404", "a role without documents downloaded one"
        assert (data_dir / "documents").exists()

        loadtest = subprocess.run(
            [str(BIN / "bsdflow"), "loadtest", "smoke", "--quiet"],
            check=False,
            cwd=ROOT,
            env=up.env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert loadtest.returncode == 0, loadtest.stdout + loadtest.stderr
        assert f"against http://127.0.0.1:{port} (tenant loadtest-" in loadtest.stdout
    finally:
        banner = up.stop()
    assert "bsdflow is up" in banner
    for url in ("/graphql", "/docs", ""):
        assert f"http://127.0.0.1:{port}{url}" in banner, f"the banner lacks the {url!r} URL"
    assert "GraphiQL" in banner
    lines = banner.splitlines()
    token = lines[next(i for i, line in enumerate(lines) if "Dev token" in line) + 1]
    secret = (data_dir / "jwt-secret").read_text().strip()
    claims = jwt.decode(token, secret, algorithms=["HS256"], audience="bsdflow")
    assert claims["roles"] == ["admin"], "the banner's token is not whole on its own line"
    assert "stopped." in banner
    assert not (data_dir / "postgres" / "postmaster.pid").exists(), "PostgreSQL still running"

    again = Up(data_dir, port)
    try:
        token = subprocess.run(
            [str(BIN / "bsdflow"), "token", "--tenant", "demo", "--role", "admin"],
            env=again.env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        reply = httpx.post(
            f"http://127.0.0.1:{port}/v1/commands/define-entity-type",
            json={"name": "Site", "fields": []},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert reply.status_code == 409, "the second run did not reuse the first run's data"
        # New writes after the restart reach the read side (the broker started empty) ...
        ada = again.command("register-participant", {"name": "Ada after restart"}, token)
        seen = again.graphql("{ participants { edges { node { name } } } }", token, ada["position"])
        names = {edge["node"]["name"] for edge in seen["participants"]["edges"]}
        assert "Ada after restart" in names
        site = again.graphql("{ entityTypes { id name } }", token, ada["position"])["entityTypes"]
        site_id = next(t["id"] for t in site if t["name"] == "Site")
        # ... and are pushed to subscribers.
        watch = subprocess.Popen(
            [str(BIN / "bsdflow"), "watch", "subscription { entityChanged { position } }",
             "--count", "1", "--timeout", "60", "--token", token],
            cwd=ROOT, env=again.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert watch.stderr is not None
        assert "subscribed" in watch.stderr.readline()
        created = again.command(
            "create-entity", {"entity_type_id": site_id, "data": {"title": "After restart"}}, token
        )
        pushed, _ = watch.communicate(timeout=90)
        assert watch.returncode == 0
        assert orjson.loads(pushed)["entityChanged"]["position"] == created["position"]
    finally:
        again.stop(signal.SIGTERM)


def test_a_background_bsdflow_up_stops_on_sigint_too(data_dir: Path) -> None:
    """Started from a script with `&`, a job inherits SIGINT ignored; it must still stop.
    While it runs, a second `bsdflow up` on its data folder is refused: it would share the
    first one's servers and lose them when the first stops."""
    up = Up(data_dir, free_port(), ignore_sigint=True)
    try:
        second = subprocess.run(
            [str(BIN / "bsdflow"), "up"],
            check=False,
            cwd=ROOT,
            env={**up.env, "BSDFLOW_PORT": str(free_port())},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 1, second
        assert second.stderr.strip().splitlines()[-1] == (
            f"bsdflow up: another bsdflow up (pid {up.process.pid}) is running on {data_dir}: "
            "stop it first, or give this one its own BSDFLOW_DATA_DIR"
        )
        assert "Traceback" not in second.stderr + second.stdout
        assert httpx.get(f"http://127.0.0.1:{up.port}/ready", timeout=5).status_code == 200
    finally:
        assert "stopped." in up.stop(signal.SIGINT)
