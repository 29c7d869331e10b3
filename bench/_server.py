"""The uvicorn factory the benchmarks serve, and the one way they start uvicorn:
`python -m bench._server --port N [--app module:factory]`, with the options `bsdflow up` uses
(infra.http_server).

Settings come from the environment (BSDFLOW_*), set by `bench._harness.api_server`.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from fastapi import FastAPI

from infra.api import create_app
from infra.embedded import ServerUrls
from infra.http_server import server_options
from infra.logging import configure_logging
from infra.runtime import build_runtime
from infra.settings import Settings


def create() -> FastAPI:
    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    database, kafka, redis = (
        settings.database_url,
        settings.kafka_bootstrap_servers,
        settings.redis_url,
    )
    if not (database and kafka and redis):
        raise RuntimeError("the benchmark server expects every server URL in the environment")
    urls = ServerUrls(database, kafka, redis)
    runtime = build_runtime(settings, urls)
    app = create_app(runtime)
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Any]:
        async with inner(app) as state:
            yield state
        runtime.close()  # uvicorn got SIGTERM: release the connection pools

    app.router.lifespan_context = lifespan
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--app", default="bench._server:create", help="an app factory")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    options = server_options(Settings().max_header_bytes)
    uvicorn.run(args.app, factory=True, host=args.host, port=args.port, **options)


if __name__ == "__main__":
    main()
