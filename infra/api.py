"""The ASGI application: command routes, health and readiness."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from confluent_kafka.admin import AdminClient
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from commands import problems
from commands.http import (
    AdmitFirstMiddleware,
    BodyLimitMiddleware,
    CommandEndpoints,
    RequestContextMiddleware,
    command_router,
)
from commands.registered import COMMANDS
from infra.docs import app_with_offline_docs
from infra.downloads import mount_downloads, mount_import_reports
from infra.graphql import mount_graphql
from infra.redis_adapters import AsyncRedisTokenBucket, rate_prefix
from infra.runtime import Runtime
from infra.settings import GraphQLSettings


def create_app(runtime: Runtime, graphql: GraphQLSettings | None = None) -> FastAPI:
    """`graphql`: the read API's settings, if not the runtime's own."""
    app = app_with_offline_docs(
        title="bsdflow",
        version="0.1.0",
        description="Commands for the bsdflow workflow platform. Reads are served over GraphQL.",
    )
    problems.install(app)
    endpoints = CommandEndpoints(runtime.commands, runtime.tokens, runtime.blobs)
    app.include_router(command_router(COMMANDS, endpoints))
    services = mount_graphql(app, runtime, graphql or runtime.settings.graphql)
    mount_downloads(app, services.api, runtime.blobs)
    mount_import_reports(app, services.api, runtime.store, runtime.blobs)
    # the app's own asyncio Redis client (the read API's: opened and closed with the app)
    limiter = AsyncRedisTokenBucket(services.redis, rate_prefix(runtime.settings.events_topic))
    app.add_middleware(
        AdmitFirstMiddleware, service=runtime.commands, codec=runtime.tokens, limiter=limiter
    )
    app.add_middleware(
        BodyLimitMiddleware,
        limit=runtime.settings.max_body_bytes,
        upload_limit=runtime.settings.max_document_bytes + 65_536,
    )
    app.add_middleware(RequestContextMiddleware)

    @app.get("/health", tags=["operations"])
    async def health() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/ready", tags=["operations"])
    async def ready(request: Request) -> Response:
        """Readiness: PostgreSQL, Kafka and Redis all answer."""
        checks = dict(
            zip(
                ("postgres", "kafka", "redis"),
                await asyncio.gather(
                    run_in_threadpool(_check_postgres, runtime),
                    run_in_threadpool(_check_kafka, runtime),
                    run_in_threadpool(_check_redis, runtime),
                ),
                strict=True,
            )
        )
        ok = all(result == "ok" for result in checks.values())
        body: dict[str, Any] = {"status": "ready" if ok else "not ready", "checks": checks}
        return Response(orjson.dumps(body), 200 if ok else 503, media_type="application/json")

    return app


def _check_postgres(runtime: Runtime) -> str:
    try:
        runtime.store.head()
    except Exception as exc:
        return f"error: {exc}"
    return "ok"


def _check_kafka(runtime: Runtime) -> str:
    try:
        AdminClient({"bootstrap.servers": runtime.urls.kafka_bootstrap_servers}).list_topics(
            timeout=2
        )
    except Exception as exc:
        return f"error: {exc}"
    return "ok"


def _check_redis(runtime: Runtime) -> str:
    try:
        runtime.redis.ping()
    except Exception as exc:
        return f"error: {exc}"
    return "ok"
