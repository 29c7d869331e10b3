"""The documentation pages work on a machine without internet: /docs (Swagger UI) and GraphiQL
load every script and stylesheet from this server, and /docs can send a bearer token."""

from __future__ import annotations

import re

import httpx

ASSET = re.compile(r"""<(?:script|link)\b[^>]*?\b(?:src|href)=["']([^"']+)["']""", re.I)
KINDS = {".js": "javascript", ".css": "text/css", ".png": "image/png"}


async def assets_of(http: httpx.AsyncClient, path: str) -> list[str]:
    page = await http.get(path, headers={"Accept": "text/html"})
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    found = ASSET.findall(page.text)
    assert found, page.text
    found = [url for url in found if not url.startswith("data:")]  # inline, nothing to fetch
    for url in found:
        assert url.startswith("/"), f"{path} loads {url}"
        assert not url.startswith("//"), f"{path} loads {url}"
    assert "unpkg.com" not in page.text
    assert "cdn.jsdelivr.net" not in page.text
    return found


async def assert_served(http: httpx.AsyncClient, urls: list[str]) -> None:
    for url in urls:
        response = await http.get(url)
        assert response.status_code == 200, url
        kind = next(kind for suffix, kind in KINDS.items() if url.split("?")[0].endswith(suffix))
        assert kind in response.headers["content-type"], (url, response.headers["content-type"])
        assert len(response.content) > 100, url


async def test_swagger_ui_loads_its_assets_from_this_server(api):
    urls = await assets_of(api.http, "/docs")
    assert any(url.endswith(".js") for url in urls)
    assert any(url.endswith(".css") for url in urls)
    await assert_served(api.http, urls)


async def test_graphiql_loads_its_assets_from_this_server(api):
    urls = await assets_of(api.http, "/graphql")
    assert any(url.endswith(".js") for url in urls)
    assert any(url.endswith(".css") for url in urls)
    await assert_served(api.http, urls)
