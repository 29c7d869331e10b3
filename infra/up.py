"""`bsdflow up`: the whole system in one command, on the embedded stack unless configured."""

from __future__ import annotations

import uvicorn
from rich.console import Console
from rich.panel import Panel

from infra.api import create_app
from infra.automation import AutomationSide
from infra.http_server import server_options
from infra.logging import configure_logging
from infra.readside import ReadSide
from infra.runtime import build_runtime, remember_urls, resolve_urls, urls_file
from infra.settings import DEMO_TENANT, Settings


def run_up(settings: Settings, *, read_side: bool, console: Console) -> None:
    configure_logging(settings.log_level, settings.log_json)
    with console.status("starting PostgreSQL, Kafka (Tansu) and Redis…"):
        urls, stack = resolve_urls(settings)
    runtime = build_runtime(settings, urls, stack)
    background = None
    automation = None
    try:
        remember_urls(settings, urls)
        if read_side:
            background = ReadSide(
                urls.database_url,
                urls.kafka_bootstrap_servers,
                urls.redis_url,
                topic=settings.events_topic,
            )
            background.start()
            automation = AutomationSide(runtime).start()
        runtime.ensure_tenant(DEMO_TENANT, "Demo organisation")
        admin = runtime.tokens.mint(DEMO_TENANT, ["admin"], actor="demo-admin")
        base = f"http://{settings.host}:{settings.port}"
        where = f"embedded stack in {settings.data_dir}" if stack else "external servers"
        console.print(
            Panel.fit(
                f"[bold]bsdflow is up[/bold]  ({where})\n\n"
                f"  API        {base}\n"
                f"  OpenAPI    {base}/docs\n"
                f"  Ready      {base}/ready\n"
                f"  PostgreSQL {urls.database_url}\n"
                f"  Kafka      {urls.kafka_bootstrap_servers}\n"
                f"  Redis      {urls.redis_url}\n\n"
                f"  Dev token (tenant '{DEMO_TENANT}', role admin):\n  {admin}\n\n"
                "  export TOKEN=$(.venv/bin/bsdflow token --tenant demo --role admin)\n"
                "  Press Ctrl-C to stop everything.",
                title="bsdflow",
            )
        )
        uvicorn.run(
            create_app(runtime),
            host=settings.host,
            port=settings.port,
            **server_options(settings.max_header_bytes),
        )
    finally:
        with console.status("stopping…"):
            if automation is not None:
                automation.stop()
            if background is not None:
                background.stop()
            urls_file(settings).unlink(missing_ok=True)
            runtime.close()
        console.print("stopped.")
