"""`bsdflow up`: the whole system in one command, on the embedded stack unless configured."""

from __future__ import annotations

import uvicorn
from rich.console import Console
from rich.panel import Panel

from infra.api import create_app
from infra.automation import AutomationSide
from infra.graphql import GraphQLSettings
from infra.http_server import server_options
from infra.instance import configured_api_url
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
        base = configured_api_url(settings)
        graphiql = GraphQLSettings().config(dev=settings.env == "dev").graphiql
        where = f"embedded stack in {settings.data_dir}" if stack else "external servers"
        console.print(
            Panel.fit(
                f"[bold]bsdflow is up[/bold]  ({where})\n\n"
                f"  API        {base}\n"
                f"  GraphQL    {base}/graphql"
                + ("  (GraphiQL: open it in a browser)" if graphiql else "")
                + f"\n  OpenAPI    {base}/docs\n"
                f"  Ready      {base}/ready\n"
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
