"""Running automation: the validation worker, the reactor, the scheduler, the import runner
and the inbox watcher, as threads.

The reactor is a process manager: a `ProjectionWorker` drives it (`infra/process_managers.py`)
with its own consumer group and checkpoint, and its plans go through the command service.

Each is a separate concern with its own restart loop; `bsdflow up` runs them in-process and
`bsdflow automation` runs them on their own (docker-compose's `automation` service).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg

from automation.delivery import Delivery
from automation.imports.inbox import Inbox
from automation.imports.report import write_xlsx
from automation.imports.runner import ImportRunner, error_report
from automation.lookup import Lookup
from automation.ports import Channels
from automation.reactor import Reactor
from automation.scheduler import Clock, Scheduler, SchedulerConfig, utc_now
from automation.validation import Validator
from commands.action_runs import RunPlan
from commands.auth import Principal
from commands.imports import CreateImport
from commands.registered import COMMANDS
from domain.import_job import ImportJob
from infra.channels import default_channels
from infra.channels.network import OutboundPolicy
from infra.kafka import validation_topic
from infra.process_managers import driven
from infra.redis_adapters import RedisLocks, RedisTokenBucket
from infra.rpc_server import RpcServer
from infra.runtime import Runtime
from infra.services import Service, spawn
from infra.worker import ProjectionWorker
from projections.access.directory import contacts_of_role
from projections.apply import create_schema

SERVICES = frozenset({"validation", "reactor", "scheduler", "imports", "inbox"})
REACTOR_PATIENCE_MS = 100
"""The reactor may take its events in batches of up to 100 ms: one fetch per event was the
broker's largest cost at low rates, and a triggered action waits for delivery anyway."""


@dataclass
class AutomationSide:
    runtime: Runtime
    clock: Clock = utc_now
    scheduler_config: SchedulerConfig | None = None
    channels: Channels | None = None
    """The delivery channels; by default the built-ins plus installed plugins."""
    services: frozenset[str] = SERVICES
    """Which of validation, reactor and scheduler run here (each scales on its own)."""
    reactor: Reactor | None = None
    scheduler: Scheduler | None = None
    validation: RpcServer | None = None
    reactor_worker: ProjectionWorker | None = None
    imports: ImportRunner | None = None
    inbox: Inbox | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> AutomationSide:
        rt, settings = self.runtime, self.runtime.settings
        urls = rt.urls
        database_url = urls.database_url

        def role_contacts(tenant_id: UUID, role: str) -> list[UUID]:
            # Rare (a run addressed to a role's members): a connection of its own is enough.
            with psycopg.connect(database_url, autocommit=True) as conn:
                return contacts_of_role(conn, tenant_id, role)

        lookup = Lookup(rt.store, role_contacts=role_contacts)
        channels = self.channels or default_channels(
            OutboundPolicy.from_setting(
                settings.outbound.allow,
                connect_timeout=settings.outbound.connect_timeout,
                read_timeout=settings.outbound.read_timeout,
            )
        )
        validator = Validator(rt.store, RedisLocks(rt.redis), channels)
        self.validation = RpcServer(
            urls.kafka_bootstrap_servers,
            f"{settings.events_topic}.validation",
            validator.handlers(partial(validation_topic, settings.events_topic)),
            doorbell=rt.doorbell,
        )
        runs = rt.commands.action_runs(Principal.system("bsdflow-automation"))
        self.reactor = reactor = Reactor(lookup)

        def plan(plans: Sequence[RunPlan]) -> None:
            reactor.planned += len(runs.plan(plans))

        reacting = driven(reactor, plan)
        with psycopg.connect(urls.database_url, autocommit=True) as conn:
            create_schema(conn, reacting, reactor.schema)
            reactor.load(
                conn.execute(
                    f"SELECT tenant_id, id, definition FROM {reactor.schema}.process_actions"  # noqa: S608
                ).fetchall()
            )
        self.reactor_worker = reactor_worker = ProjectionWorker(
            reacting,
            urls.database_url,
            urls.kafka_bootstrap_servers,
            rt.redis,
            topic=settings.events_topic,
            group=f"{settings.events_topic}.automation.reactor",
            announce=False,
            doorbell=rt.doorbell,
            patience_ms=REACTOR_PATIENCE_MS,
        )
        config = self.scheduler_config or SchedulerConfig(
            tick=settings.scheduler.tick, idle_tick=settings.scheduler.idle_tick
        )
        events_topic = settings.events_topic
        self.scheduler = Scheduler(
            urls.database_url,
            runs,
            Delivery(lookup, channels, rt.secrets),
            lookup,
            RedisTokenBucket(rt.redis),
            clock=self.clock,
            config=config,
            timers=rt.commands.process_timers(Principal.system("bsdflow-scheduler")),
            # The relay rings the events topic after each batch it publishes: ticks between
            # rings, with nothing due or in flight, skip their queries.
            changes=lambda: rt.doorbell.rings(events_topic),
        )
        self.imports = ImportRunner(
            urls.database_url,
            rt.commands.import_rows(Principal.system("bsdflow-imports")),
            rt.blobs.path_of,
            changes=lambda: rt.doorbell.rings(events_topic),
        )
        self.inbox = Inbox(
            settings.inbox.resolve(),
            inbox_submit(rt),
            lambda job_id: rt.store.find(ImportJob, job_id),
            lambda job, target: write_xlsx(
                target, *error_report(job, rt.blobs.path_of(job.sha256))
            ),
        )
        unknown = self.services - SERVICES
        if unknown:
            raise ValueError(f"unknown services {sorted(unknown)}; known: {sorted(SERVICES)}")
        runners = {
            "validation": self.validation.run,
            "reactor": reactor_worker.run,
            "scheduler": self.scheduler.run,
            "imports": self.imports.run,
            "inbox": self.inbox.run,
        }
        for name in sorted(self.services):
            self._spawn(name, runners[name])
        return self

    def _spawn(self, name: str, target: Service) -> None:
        self._threads.append(spawn(f"automation-{name}", target, self._stop))

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()


def inbox_submit(rt: Runtime) -> Callable[[str, str, Path, dict[str, Any]], UUID]:
    """An inbox file as `create-import`, by the tenant's inbox (acting with the editor role:
    whoever may write to the inbox folder may import)."""
    spec = COMMANDS["create-import"]

    def submit(tenant: str, type_name: str, path: Path, options: dict[str, Any]) -> UUID:
        principal = Principal("inbox", tenant, frozenset({"editor"}), internal=True)
        body = CreateImport(entity_type=type_name, source="inbox", start=True, **options)
        with path.open("rb") as source:
            staged = rt.blobs.stage(source, path.name, "application/octet-stream")
        try:
            return rt.commands.execute(spec, body, principal, {}, upload=staged).id
        finally:
            rt.blobs.discard(staged)

    return submit
