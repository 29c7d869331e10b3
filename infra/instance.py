"""Where a running `bsdflow up` can be reached, for the CLI's clients (`watch`, `loadtest`, `url`).

`bsdflow up` records its servers and the API's base URL in `<data dir>/servers.json`; a client
reads that record first and falls back to the settings (BSDFLOW_HOST, BSDFLOW_PORT), so a user
who starts the system on another port never has to repeat it. This module stays light (no
database or web libraries): every CLI command imports it, and `--help` must answer at once.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson

from infra.settings import Settings

RECORD = "servers.json"
WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}
"""A server listening on every interface is reached on loopback from this machine."""


def urls_file(settings: Settings) -> Path:
    return settings.data_dir / RECORD


def configured_api_url(settings: Settings) -> str:
    """The API's base URL as the settings describe it (what `bsdflow up` serves)."""
    host = WILDCARDS.get(settings.host, settings.host)
    try:
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    except ValueError:
        pass  # a name, not an address
    return f"http://{host}:{settings.port}"


def remember(settings: Settings, servers: Mapping[str, str]) -> None:
    """Record what this process serves; `pid` lets readers tell a record left by a crash."""
    record = {**servers, "api_url": configured_api_url(settings), "pid": os.getpid()}
    path = urls_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(record))


def read_record(settings: Settings) -> dict[str, Any] | None:
    """The record as written, whether or not its process still runs (its servers may)."""
    try:
        record = orjson.loads(urls_file(settings).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return record if isinstance(record, dict) else None


def recorded(settings: Settings) -> dict[str, Any] | None:
    """The record of the `bsdflow up` running on this data folder, if its process is alive."""
    record = read_record(settings)
    pid = record.get("pid") if record else None
    if isinstance(pid, int) and not _alive(pid):
        return None
    return record


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def api_url(settings: Settings | None = None) -> str:
    """The running instance's API base URL, else the configured one."""
    settings = settings or Settings()
    record = recorded(settings)
    if record and isinstance(record.get("api_url"), str):
        return str(record["api_url"])
    return configured_api_url(settings)


def graphql_url(base: str) -> str:
    return base.rstrip("/") + "/graphql"


def websocket_url(url: str) -> str:
    """The ws(s) form of a GraphQL URL: http → ws, https → wss; ws(s) stays as given.

    Raises ValueError for any other scheme, with a sentence the CLI prints as it is."""
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise ValueError(f"{url!r} is not a ws(s):// or http(s):// URL")
    return urlunsplit((scheme, parts.netloc, parts.path or "/graphql", parts.query, ""))
