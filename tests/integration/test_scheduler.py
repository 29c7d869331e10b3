"""The scheduler's guarantees: one acting instance, no attempt started twice, tenant rates."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from commands.action_runs import RunPlan
from commands.auth import Principal
from domain.action_catalog import RetryPolicy
from domain.ids import tenant_id_for
from infra.automation import AutomationSide
from tests.conftest import Api, FakeClock
from tests.runs import run_settles, until
from tests.servers import SECRET, Recorder


async def delayed_webhook(api: Api, url: str, delay: str = "PT1M") -> str:
    """A `tick` occurrence kind and an action calling `url` a delay after each tick."""
    await api.command(
        "define-occurrence-kind", name="tick", fields=[{"name": "n", "type": "integer"}]
    )
    action = await api.command(
        "create-action", name="Tock", channel="webhook", template={"body": '{"n": {{ occurrence.data.n }}}'},
        config={"url": url}, credentials={"secret": SECRET},
    )  # fmt: skip
    attached = await api.command(
        "attach-process-action", name="Tock later", action_id=action.id,
        trigger={"on": "occurrence_recorded", "kind": "tick"},
        schedule={"type": "relative", "to": "trigger", "offset": delay},
    )  # fmt: skip
    return str(attached.id)


async def tick(api: Api, count: int, start: int = 0) -> None:
    for n in range(start, start + count):
        await api.command(
            "record-occurrence",
            kind="tick",
            occurred_at=datetime.now(UTC).isoformat(),
            data={"n": n},
        )


async def test_two_running_schedulers_deliver_each_run_exactly_once(
    api: Api, read_side: Any, runtime: Any, clock: FakeClock, http_server: Recorder
) -> None:
    def scheduler_only() -> AutomationSide:
        return AutomationSide(runtime, clock=clock, services=frozenset({"scheduler"})).start()

    first, second = scheduler_only(), scheduler_only()
    helpers = AutomationSide(runtime, clock=clock, services=frozenset({"validation", "reactor"}))
    helpers.start()
    try:
        assert helpers.validation is not None
        assert helpers.validation.ready.wait(30)
        pa = await delayed_webhook(api, f"{http_server.url}/ok")
        await tick(api, 40)
        await run_settles(api, pa, "planned", count=40)
        assert http_server.seen == []

        clock.advance(timedelta(minutes=2))
        await until(lambda: len(http_server.seen) >= 40, what="40 deliveries")
        leader = first if first.scheduler.fired else second  # type: ignore[union-attr]
        follower = second if leader is first else first
        assert follower.scheduler.fired == 0  # type: ignore[union-attr]

        leader.stop()  # the follower takes over: its next tick wins the advisory lock
        await tick(api, 10, start=40)  # due at once: the clock is already 2 minutes ahead
        await until(lambda: len(http_server.seen) >= 50, what="50 deliveries")
        await run_settles(api, pa, "delivered", count=50)
        assert follower.scheduler.fired == 10  # type: ignore[union-attr]
    finally:
        for side in (first, second, helpers):
            side.stop()
    ids = [s.headers["webhook-id"] for s in http_server.seen]
    assert len(ids) == len(set(ids)) == 50


async def test_racing_starts_begin_each_attempt_once(api: Api, runtime: Any) -> None:
    """Even without the lease, the run's version in the event store is the fence."""
    tenant_id = tenant_id_for("acme")
    ledger = runtime.commands.action_runs(Principal.system("test"))
    due = datetime.now(UTC)
    plans = [
        RunPlan(tenant_id, tenant_id, tenant_id, f"race:{i}", due, {}, RetryPolicy())
        for i in range(200)
    ]
    ids = [run.id for run in ledger.plan(plans)]
    assert len(ids) == 200
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda fence: ledger.start(ids, due, fence), range(4)))
    started = [run.id for batch in results for run in batch]
    assert sorted(started) == sorted(ids)  # every run started, none twice
    assert all(ledger.load(i).attempts == 1 for i in ids)  # type: ignore[union-attr]


async def test_a_tenant_delivery_rate_spreads_a_burst(
    api: Api, read_side: Any, automation: AutomationSide, clock: FakeClock, http_server: Recorder
) -> None:
    await api.command("change-tenant-settings", settings={"deliveries_per_second": 2})
    pa = await delayed_webhook(api, f"{http_server.url}/ok")
    await tick(api, 6)
    await run_settles(api, pa, "planned", count=6)
    clock.advance(timedelta(minutes=2))
    await until(lambda: len(http_server.seen) >= 6, what="6 deliveries")
    span = http_server.seen[-1].at - http_server.seen[0].at
    assert span >= 1.4  # 2 at once (the burst), then one each 0.5 s
