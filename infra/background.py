"""The background services of one process, composed from one `Settings`: the relay, projection
workers and automation (`bsdflow workers`, `relay`, `worker` and `automation` choose which).

Started in data-flow order and stopped in reverse, until SIGINT or SIGTERM; the write side
(command service, event store pool) is built only when automation, which issues commands, runs.
"""

from __future__ import annotations

from collections.abc import Collection

from infra.automation import SERVICES, AutomationSide
from infra.logging import configure_logging
from infra.readside import ReadSide
from infra.runtime import Runtime, build_runtime, running_servers
from infra.services import ShutdownRequest
from infra.settings import Settings

ALL_AUTOMATION = SERVICES


def run_background(
    settings: Settings,
    *,
    relay: bool,
    projections: Collection[str] | None,
    automation: Collection[str],
) -> None:
    """`projections`: None for every projection; `automation`: validation, reactor, scheduler, imports."""
    shutdown = ShutdownRequest()  # first: a signal during start-up still stops properly
    configure_logging(settings.log_level, settings.log_json)
    with running_servers(settings) as urls:
        runtime: Runtime | None = build_runtime(settings, urls) if automation else None
        read_side: ReadSide | None = None
        automation_side: AutomationSide | None = None
        try:
            if not shutdown.event.is_set() and (relay or projections is None or projections):
                read_side = ReadSide(
                    urls.database_url,
                    urls.kafka_bootstrap_servers,
                    urls.redis_url,
                    topic=settings.events_topic,
                    projections=projections,
                ).start(with_relay=relay)
            if not shutdown.event.is_set() and runtime is not None:
                automation_side = AutomationSide(runtime, services=frozenset(automation)).start()
            shutdown.wait()
        finally:
            if automation_side is not None:
                automation_side.stop()
            if read_side is not None:
                read_side.stop()
            if runtime is not None:
                runtime.close()
