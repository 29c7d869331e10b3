"""What CLI commands that work through a running instance's API share: its address, whose
token, and the client they make of them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from infra.settings import Settings

if TYPE_CHECKING:
    import httpx

TenantOption = Annotated[str, typer.Option(help="Whose records (with the dev token)")]
TokenOption = Annotated[
    str | None, typer.Option(envvar="TOKEN", help="Bearer token (default: the tenant's admin)")
]
UrlOption = Annotated[
    str | None,
    typer.Option(help="API base URL (default: the `bsdflow up` running on this data folder)"),
]


def api_client(tenant: str, token: str | None, url: str | None, timeout: float) -> httpx.Client:
    """A client of the running instance, as `token` or else the tenant's dev admin."""
    import httpx

    from infra.dev_cli import token_codec
    from infra.instance import api_url

    settings = Settings()
    bearer = token or token_codec(settings).mint(tenant, ["admin"], actor="bsdflow-cli")
    return httpx.Client(
        base_url=url or api_url(settings),
        headers={"Authorization": f"Bearer {bearer}"},
        timeout=timeout,
    )


def pairs(given: list[str] | None, what: str, command: str) -> dict[str, str]:
    """`--map old=new` options as a dict (the last `=` splits: a column may hold one)."""
    from infra.cli_errors import fail

    found: dict[str, str] = {}
    for item in given or []:
        key, equals, value = item.rpartition("=")
        if not equals or not key or not value:
            fail(command, f"a mapping is {what}, not {item!r}", 2)
        found[key] = value
    return found
