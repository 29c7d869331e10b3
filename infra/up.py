"""`bsdflow up`: the whole system in one command, on the embedded stack unless configured.

The API serves in this process; the relay, the projection workers and automation run in a
second one (`bsdflow workers`), so their Python never competes with the API for one GIL and
one event loop. SIGINT and SIGTERM stop both and then the embedded servers, in that order; the
workers' process also stops by itself if this one dies (Linux's parent-death signal).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import uvicorn
from rich.console import Console
from rich.panel import Panel

from infra.api import create_app
from infra.embedded import EmbeddedStack, ServerUrls, die_with_parent
from infra.http_server import server_options
from infra.instance import configured_api_url
from infra.logging import configure_logging
from infra.projections_cli import migration_progress
from infra.readdb import migrate_read_side
from infra.runtime import Runtime, build_runtime, remember_urls, resolve_urls, urls_file
from infra.services import stopped_by_signals
from infra.settings import DEMO_TENANT, Settings


class AlreadyUp(Exception):
    """Another `bsdflow up` holds this data folder."""


@contextlib.contextmanager
def holding(data_dir: Path) -> Iterator[None]:
    """This data folder for this process alone, until its servers are stopped: a second
    `bsdflow up` on it (or one started while the first still stops) would share the first's
    servers and lose them when it stops them. The lock goes with the process, however it ends."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with (data_dir / "up.lock").open("a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "?"
            raise AlreadyUp(
                f"another bsdflow up (pid {holder}) is running on {data_dir}: stop it first, "
                "or give this one its own BSDFLOW_DATA_DIR"
            ) from None
        lock.truncate(0)
        lock.write(str(os.getpid()))
        lock.flush()
        yield


def run_up(settings: Settings, *, read_side: bool, console: Console) -> None:
    configure_logging(settings.log_level, settings.log_json)
    with holding(settings.data_dir), stopped_by_signals(), contextlib.suppress(KeyboardInterrupt):
        stack: EmbeddedStack | None = None
        runtime: Runtime | None = None
        workers: WorkersProcess | None = None
        try:
            with console.status("starting PostgreSQL, Kafka (Tansu) and Redis…"):
                urls, stack = resolve_urls(settings)
            runtime = build_runtime(settings, urls, stack)
            remember_urls(settings, urls)
            runtime.ensure_tenant(DEMO_TENANT, "Demo organisation")
            if read_side:
                with migration_progress() as progress:
                    migrate_read_side(urls.database_url, progress=progress)
                workers = WorkersProcess(settings, urls).start()
            _banner(console, settings, runtime, embedded=stack is not None)
            uvicorn.run(
                create_app(runtime),
                host=settings.host,
                port=settings.port,
                **server_options(settings.max_header_bytes),
            )
        finally:
            with console.status("stopping…"):
                if workers is not None:
                    workers.stop()
                urls_file(settings).unlink(missing_ok=True)
                if runtime is not None:
                    runtime.close()  # stops the embedded stack too
                elif stack is not None:
                    stack.stop()
            console.print("stopped.")


def _banner(console: Console, settings: Settings, runtime: Runtime, *, embedded: bool) -> None:
    urls = runtime.urls
    admin = runtime.tokens.mint(DEMO_TENANT, ["admin"], actor="demo-admin")
    base = configured_api_url(settings)
    graphiql = settings.graphql.for_env(dev=settings.env == "dev").graphiql
    where = f"embedded stack in {settings.data_dir}" if embedded else "external servers"
    console.print(
        Panel.fit(
            f"[bold]bsdflow is up[/bold]  ({where})\n\n"
            f"  API        {base}\n"
            f"  GraphQL    {base}/graphql"
            + ("  (GraphiQL: open it in a browser)" if graphiql else "")
            + f"\n  OpenAPI    {base}/docs\n"
            f"  Ready      {base}/ready\n"
            f"  Inbox      {settings.inbox}/<tenant>/<entity type>/  (spreadsheets to import)\n"
            f"  PostgreSQL {urls.database_url}\n"
            f"  Kafka      {urls.kafka_bootstrap_servers}\n"
            f"  Redis      {urls.redis_url}\n\n"
            "  In another terminal, from this folder:\n"
            "  export TOKEN=$(.venv/bin/bsdflow token --tenant demo --role admin)\n"
            "  API=$(.venv/bin/bsdflow url)   # watch and loadtest find this instance\n\n"
            "  Press Ctrl-C to stop everything.",
            title="bsdflow",
        )
    )
    # Outside the box and never wrapped, so a terminal copies the token in one piece.
    console.print(f"Dev token (tenant '{DEMO_TENANT}', role admin, valid 24 h):")
    console.print(admin, soft_wrap=True, highlight=False, markup=False)


class WorkersProcess:
    """`bsdflow workers` as a child process pointed at this process's servers."""

    def __init__(self, settings: Settings, urls: ServerUrls) -> None:
        self.env = {
            **os.environ,
            "DATABASE_URL": urls.database_url,
            "KAFKA_BOOTSTRAP_SERVERS": urls.kafka_bootstrap_servers,
            "REDIS_URL": urls.redis_url,
            "BSDFLOW_DATA_DIR": str(settings.data_dir.resolve()),
            "BSDFLOW_EVENTS_TOPIC": settings.events_topic,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkersProcess:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "infra.cli", "workers"],
            env=self.env,
            stdin=subprocess.DEVNULL,
            # Its own process group: a Ctrl-C reaches this process, which stops it in order.
            start_new_session=True,
            preexec_fn=die_with_parent,  # noqa: PLW1509 - only sets a signal, no locks
        )
        return self

    def stop(self, timeout: float = 30.0) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.process = None
