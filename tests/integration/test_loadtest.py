"""`bsdflow loadtest` against the real app: a uvicorn server on a free port, backed by the
test's event store, relay, projections and fan-out.

The report must agree with what the server recorded: every accepted command is one event in
the store, every created entity is in the read model, and every command's change reached the
held-open subscription. A breached threshold makes the command exit non-zero.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from rich.console import Console
from typer.testing import CliRunner

from infra.api import create_app
from infra.cli import app as cli
from infra.runtime import Runtime
from loadtest import StepContext, Target, load_scenario, run, with_overrides
from loadtest.scenario import Operation, SubscriptionSpec
from tests.conftest import JWT_SECRET
from tests.servers import uvicorn_serving

TENANT = "loadtest"
STREAMED = ("create-entity", "update-entity", "record-occurrence", "open-process")


@pytest.fixture
def base_url(runtime: Runtime, read_side: Any) -> Iterator[str]:
    """The app under uvicorn in a thread of its own (websockets need a real server)."""
    runtime.ensure_tenant(TENANT, "Load test")
    with uvicorn_serving(create_app(runtime)) as port:
        yield f"http://127.0.0.1:{port}"


def read_model_counts(base_url: str, token: str, runtime: Runtime) -> dict[str, int]:
    """Counts once every projection has applied the whole event store (X-Min-Position)."""
    position = runtime.store.head()
    response = httpx.post(
        f"{base_url}/graphql",
        json={"query": "{ counts { entities occurrences processes } }"},
        headers={"Authorization": f"Bearer {token}", "X-Min-Position": str(position)},
        timeout=30,
    )
    body = response.json()
    assert not body.get("errors"), body
    assert not body["extensions"]["freshness"]["timedOut"], body
    counts: dict[str, int] = body["data"]["counts"]
    return counts


def test_a_short_run_reports_what_the_server_recorded(
    base_url: str, runtime: Runtime, tmp_path: Path
) -> None:
    token = runtime.tokens.mint(TENANT, ["admin"], actor="loadtest")
    smoke = with_overrides(load_scenario("smoke"), duration=3, rate=6)
    scenario = smoke.model_copy(update={"thresholds": ["errors < 1%", "missed == 0"]})
    before = runtime.store.count()
    output = io.StringIO()

    result = run(
        scenario,
        Target(base_url, token),
        out_dir=tmp_path,
        console=Console(file=output, width=140),
        live=False,
    )

    summary, ops = result.summary, result.summary["operations"]
    totals, setup = summary["totals"], summary["setup"]
    assert result.passed, summary["thresholds"]
    assert totals["count"] == sum(op["count"] for op in ops.values()) >= 12
    assert totals["iterations_started"] == totals["count"] + totals["interrupted"]
    assert totals["errors"] == {}
    assert totals["dropped"] == 0
    # One accepted command, one event: setup, probes and the measured commands together.
    grown = runtime.store.count() - before
    assert grown == setup["commands"] + totals["commands_ok"]
    ok = {name: op["ok"] for name, op in ops.items()}
    assert totals["commands_ok"] == sum(ok.get(name, 0) for name in (*STREAMED,))
    counts = read_model_counts(base_url, token, runtime)
    assert counts["entities"] == setup["entities"] + ok.get("create-entity", 0)
    # Every streamed command's position reached the one subscriber, none went missing.
    fresh = summary["freshness"]
    assert fresh["missed"] == 0
    assert fresh["subscription"]["count"] == sum(ok.get(name, 0) for name in STREAMED)
    assert fresh["subscription"]["latency_ms"]["p99"] < 10_000
    assert fresh["read"]["count"] >= 1
    assert fresh["read"]["errors"] == {}
    assert summary["subscriptions"]["connected"] == summary["subscriptions"]["connections"] == 1
    for name in ("search", "get-entity", "create-entity"):
        figures = ops[name]["latency_ms"]
        assert 0 < figures["p50"] <= figures["p95"] <= figures["p99"] <= figures["max"]

    assert result.json_path is not None
    assert result.html_path is not None
    assert json.loads(result.json_path.read_text())["totals"]["count"] == totals["count"]
    html = result.html_path.read_text()
    assert "<svg" in html
    assert "latency over time" in html
    assert "latency histogram" in html
    assert not re.search(r"<link|<script[^>]+src|@import|url\(", html, re.IGNORECASE)
    urls = re.findall(r"https?://[^\s\"'<>)]+", html)
    assert all(u.startswith(base_url) for u in urls), urls  # the target, named, never fetched
    printed = output.getvalue()
    assert "→ subscriber" in printed
    assert "✓ missed == 0" in printed


def test_a_breached_threshold_exits_non_zero(
    base_url: str, runtime: Runtime, tmp_path: Path
) -> None:
    token = runtime.tokens.mint(TENANT, ["admin"], actor="loadtest")
    out = tmp_path / "reports"
    result = CliRunner().invoke(
        cli,
        ["loadtest", "smoke", "--url", base_url, "--token", token, "--duration", "1s",
         "--rate", "4", "--out", str(out), "--threshold", "p99 < 0.001ms", "--quiet"],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "p99 < 0.001ms" in result.output
    assert "thresholds breached" in result.output
    written = json.loads(next(out.glob("smoke-*.json")).read_text())
    assert written["passed"] is False
    breached = [v for v in written["thresholds"] if not v["passed"]]
    assert [v["threshold"] for v in breached] == ["p99 < 0.001ms"]
    assert list(out.glob("smoke-*.html"))


def test_a_remote_target_is_refused_unless_allowed() -> None:
    result = CliRunner().invoke(
        cli, ["loadtest", "smoke", "--url", "http://10.1.2.3:8000", "--token", "t", "--quiet"]
    )
    assert result.exit_code == 2
    assert "not a loopback address" in result.output


def test_after_the_tour_a_run_passes_in_a_tenant_of_its_own(
    base_url: str, runtime: Runtime, tmp_path: Path
) -> None:
    """The README tour types `incident` occurrences with fields the generator does not send;
    without --token the load test creates its own tenant, types and kinds, and leaves `demo`
    as it was (nothing of it shows up in the user's searches)."""
    runtime.ensure_tenant("demo", "Demo organisation")
    demo = runtime.tokens.mint("demo", ["admin"])
    kind = httpx.post(
        f"{base_url}/v1/commands/define-occurrence-kind",
        headers={"Authorization": f"Bearer {demo}"},
        json={"name": "incident", "fields": [
            {"name": "severity", "type": "integer", "required": True},
            {"name": "summary", "type": "text"}]},
    )  # fmt: skip
    assert kind.status_code == 200, kind.text
    out = tmp_path / "reports"
    result = CliRunner().invoke(
        cli,
        ["loadtest", "smoke", "--url", base_url, "--duration", "2s", "--rate", "6",
         "--out", str(out), "--quiet"],
        env={"BSDFLOW_JWT_SECRET": JWT_SECRET, "BSDFLOW_DATA_DIR": str(tmp_path / "cli")},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    written = json.loads(next(out.glob("smoke-*.json")).read_text())
    assert written["tenant"].startswith("loadtest-"), written["tenant"]
    assert f"(tenant {written['tenant']})" in result.output
    assert written["totals"]["errors"] == {}
    assert read_model_counts(base_url, demo, runtime) == {
        "entities": 0, "occurrences": 0, "processes": 0
    }  # fmt: skip


async def unknown_field(ctx: StepContext) -> None:
    """A custom step the server refuses: create-entity with a field the type lacks."""
    type_id, _ = ctx.world.types[0]
    await ctx.api.command("create-entity", {"entity_type_id": type_id, "data": {"colour": "red"}})


def test_each_error_kind_keeps_a_sample_of_what_was_sent_and_answered(
    base_url: str, runtime: Runtime, tmp_path: Path
) -> None:
    token = runtime.tokens.mint(TENANT, ["admin"], actor="loadtest")
    smoke = with_overrides(load_scenario("smoke"), duration=1, rate=5)
    bad = Operation(op="custom", name="bad-entity", call=f"{__name__}:unknown_field")
    scenario = smoke.model_copy(update={"mix": [bad], "thresholds": [],
                                        "subscriptions": SubscriptionSpec(connections=0)})  # fmt: skip
    output = io.StringIO()

    result = run(scenario, Target(base_url, token), out_dir=tmp_path,
                 console=Console(file=output, width=200), live=False)  # fmt: skip

    totals = result.summary["totals"]
    assert set(totals["errors"]) == {"http_422"}
    sample = totals["error_samples"]["http_422"]
    assert sample["operation"] == "bad-entity"
    assert sample["status"] == 422
    assert sample["title"] == "Invalid data"
    assert "data.colour" in sample["detail"]
    assert sample["request"]["method"] == "POST"
    assert sample["request"]["path"] == "/v1/commands/create-entity"
    assert '"colour":"red"' in sample["request"]["body"]
    per_op = result.summary["operations"]["bad-entity"]["error_samples"]["http_422"]
    assert per_op["request"] == sample["request"]
    assert result.json_path is not None
    assert result.html_path is not None
    written = json.loads(result.json_path.read_text())
    assert written["totals"]["error_samples"]["http_422"]["title"] == "Invalid data"
    html = result.html_path.read_text()
    assert "Invalid data" in html
    assert "/v1/commands/create-entity" in html
    assert "&quot;colour&quot;:&quot;red&quot;" in html
    assert "POST /v1/commands/create-entity → 422 Invalid data" in output.getvalue()
