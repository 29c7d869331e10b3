"""`bsdflow token` and `bsdflow url`: a development token, and where the running API answers."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from infra.cli_errors import fail
from infra.settings import DEMO_TENANT, Settings

if TYPE_CHECKING:
    from commands.auth import TokenCodec

app = typer.Typer()
ROLES_HELP = "admin, editor, viewer, automation, platform, or a role the tenant defined"


@app.command()
def token(
    tenant: Annotated[str, typer.Option(help="Tenant slug")] = DEMO_TENANT,
    role: Annotated[
        list[str] | None,
        typer.Option(help=f"Role(s): {ROLES_HELP}; without it, viewer (read only)"),
    ] = None,
    actor: Annotated[str, typer.Option(help="Who acts (the token subject)")] = "dev",
    ttl: Annotated[int, typer.Option(help="Lifetime in seconds")] = 86_400,
    claim: Annotated[
        list[str] | None,
        typer.Option(help="Another claim, name=value (row rules read it as me.claims.<name>)"),
    ] = None,
) -> None:
    """Mint a development JWT signed with this installation's secret."""
    from difflib import get_close_matches

    from domain.grants import BUILT_IN_ROLES, PLATFORM_ROLES, ROLE_NAME

    malformed = [name for name in role or [] if not ROLE_NAME.match(name)]
    if malformed:
        fail("token", f"not a role name: {', '.join(map(repr, malformed))}; roles: {ROLES_HELP}", 2)
    built_in = [*BUILT_IN_ROLES, *PLATFORM_ROLES]
    for name in role or []:
        if name not in built_in:
            close = get_close_matches(name, built_in, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            typer.echo(
                f"bsdflow token: {name!r} is not a built-in role{hint}: it grants what the "
                "tenant's define-role gave it, or nothing",
                err=True,
            )
    if not role:
        # The least privilege unless asked: a token pasted somewhere cannot change anything.
        typer.echo(
            "bsdflow token: no --role given, so this is a viewer token (read only); "
            "use --role admin or --role editor to issue commands",
            err=True,
        )
    claims: dict[str, str] = {}
    for given in claim or []:
        name, equals, value = given.partition("=")
        if not equals or not name:
            fail("token", f"a claim is name=value, not {given!r}", 2)
        claims[name] = value
    codec = token_codec(Settings())
    typer.echo(codec.mint(tenant, role or ["viewer"], actor=actor, ttl_seconds=ttl, claims=claims))


class Endpoint(StrEnum):
    api = "api"
    graphql = "graphql"
    ws = "ws"
    docs = "docs"


@app.command()
def url(
    endpoint: Annotated[
        Endpoint,
        typer.Argument(help="api (base URL), graphql, ws (GraphQL over websockets) or docs"),
    ] = Endpoint.api,
) -> None:
    """Print the URL of the running `bsdflow up` (recorded in the data folder), else the
    configured one (BSDFLOW_HOST, BSDFLOW_PORT): `API=$(bsdflow url)`."""
    from infra.instance import api_url, graphql_url, websocket_url

    base = api_url(Settings())
    typer.echo(
        {
            Endpoint.api: base,
            Endpoint.graphql: graphql_url(base),
            Endpoint.ws: websocket_url(graphql_url(base)),
            Endpoint.docs: f"{base}/docs",
        }[endpoint]
    )


def token_codec(settings: Settings) -> TokenCodec:
    from commands.auth import TokenCodec

    return TokenCodec(settings.signing_secret(), settings.jwt_audience)  # minting needs no OIDC
