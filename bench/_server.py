"""The uvicorn factory the benchmarks serve: `uvicorn bench._server:create --factory`.

Settings come from the environment (BSDFLOW_*), set by `bench._harness.api_server`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI

from infra.api import create_app
from infra.embedded import ServerUrls
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
