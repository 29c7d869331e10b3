"""The documentation pages, served by this server so that they work without internet.

- `/docs` (Swagger UI) and `/redoc`: FastAPI's own pages, with the Swagger UI 5 and ReDoc
  assets that the `fastapi-offline` wheel bundles (served under `/static-offline-docs`);
  Swagger's Authorize button takes the bearer token (`commands.http` declares the scheme).
- GraphiQL at `GET /graphql` (when enabled): our page (`graphiql.html`) over the GraphiQL 2
  build, React 17, graphql-ws and the explorer plugin that the
  `graphene-django-graphiql-static` wheel ships as static files (served under `/graphiql`;
  none of its Django code is imported). Subscriptions in GraphiQL go over graphql-transport-ws
  with the Headers tab's JSON as `connection_init` payload.
"""

from __future__ import annotations

import importlib.util
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

GRAPHIQL_ASSETS = "/graphiql"
GRAPHIQL_WHEEL = "graphene_django_graphiql_static"


def app_with_offline_docs(**kwargs: Any) -> FastAPI:
    """A FastAPI app whose /docs and /redoc load nothing from a CDN."""
    return FastAPIOffline(swagger_ui_parameters={"persistAuthorization": True}, **kwargs)


def graphiql_assets() -> Path:
    """The wheel's static folder, found without importing the package."""
    spec = importlib.util.find_spec(GRAPHIQL_WHEEL)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"{GRAPHIQL_WHEEL} is not installed (GraphiQL's assets)")
    return Path(spec.origin).parent / "static" / GRAPHIQL_WHEEL


def graphiql_page() -> str:
    page = files("infra").joinpath("graphiql.html").read_text(encoding="utf-8")
    return page.replace("{assets}", GRAPHIQL_ASSETS)


def mount_graphiql_assets(app: FastAPI) -> None:
    app.mount(GRAPHIQL_ASSETS, StaticFiles(directory=graphiql_assets()), name="graphiql-assets")
