"""Before measuring: a tenant, entity types and seed entities through the real command API,
the read side caught up with them, and every subscription proven live.

A subscription is live once it has delivered a message: graphql-transport-ws acknowledges the
connection, not the subscription, so probes (real commands, counted with the setup) are sent
until each connection has received something on each stream.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import orjson

from loadtest.client import ApiClient, OperationError, describe_sample
from loadtest.data import DataGenerator
from loadtest.scenario import Scenario, Stream
from loadtest.steps import BUILTIN, Outcome, StepContext, World, create_entity
from loadtest.subscriber import Subscriber

READY_WAIT = 30.0
CATCH_UP_WAIT = 60.0
Mint = Callable[[str, list[str]], str]
"""(tenant slug, roles) → a bearer token, for scenarios that create their own tenant."""


class SetupError(RuntimeError):
    pass


@dataclass
class Prepared:
    world: World
    token: str
    tenant: str
    commands: int = 0
    last_position: int = 0
    probes: int = 0
    seconds: float = 0.0
    seen: dict[tuple[int, str], int] = field(default_factory=dict)
    """(subscriber, stream) → messages seen before measuring (readiness)."""

    def note(self, outcome: Outcome | dict[str, object]) -> None:
        position = outcome.position if isinstance(outcome, Outcome) else outcome.get("position")
        self.commands += 1
        if isinstance(position, int):
            self.last_position = max(self.last_position, position)


def tenant_of(token: str) -> str:
    """The token's tenant claim, for the report (read, not verified: the server verifies)."""
    try:
        payload = token.split(".")[1]
        claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return str(claims.get("tenant", "?"))
    except (IndexError, ValueError, AttributeError):
        return "?"


async def wait_until_ready(api: ApiClient) -> None:
    last: OperationError | None = None
    try:
        async with asyncio.timeout(READY_WAIT):
            while True:
                try:
                    await api.ready()
                    return
                except OperationError as exc:
                    last = exc
                await asyncio.sleep(0.5)
    except TimeoutError:
        raise SetupError(f"{api.base_url} is not ready: {last}") from None


async def prepare(
    api: ApiClient, scenario: Scenario, data: DataGenerator, mint: Mint | None
) -> Prepared:
    loop = asyncio.get_running_loop()
    began = loop.time()
    spec = scenario.data
    prepared = Prepared(World(), api.token, tenant_of(api.token))
    try:
        if spec.tenant == "new" or (spec.tenant == "auto" and mint is not None):
            await _new_tenant(api, data, mint, prepared)
        for body in data.entity_types(spec.entity_types):
            answer = await api.command("define-entity-type", body)
            prepared.world.types.append((answer["id"], body["name"]))
            prepared.note(answer)
        for body in data.occurrence_kinds(spec.occurrence_kinds):
            prepared.note(await api.command("define-occurrence-kind", body))
            prepared.world.occurrence_kinds.append(body["name"])
        await _seed_entities(api, data, prepared, spec.entities, spec.setup_concurrency)
    except OperationError as exc:
        raise SetupError(f"setting up the scenario failed: {describe_sample(exc.sample)}") from exc
    await caught_up(api, prepared.last_position)
    prepared.seconds = loop.time() - began
    return prepared


async def _new_tenant(api: ApiClient, data: DataGenerator, mint: Mint | None, p: Prepared) -> None:
    if mint is None:
        raise SetupError(
            "this scenario creates its own tenant: it needs the signing key "
            "(run without --token on the server's machine)"
        )
    slug = f"loadtest-{data.run_tag}"
    platform = mint("platform", ["platform"])
    answer = await api.command(
        "create-tenant",
        {
            "slug": slug,
            "name": f"Load test {data.run_tag}",
            # a load test measures the system, not the tenant's quotas
            "settings": {
                "commands_per_second": 100_000,
                "graphql_cost_per_request": 1_000_000,
                "graphql_cost_per_minute": 1_000_000_000,
                "subscriptions": 1_000_000,
            },
        },
        token=platform,
    )
    p.note(answer)
    p.token, p.tenant = mint(slug, ["admin"]), slug
    api.http.headers["Authorization"] = f"Bearer {p.token}"
    api.token = p.token


async def _seed_entities(
    api: ApiClient, data: DataGenerator, prepared: Prepared, count: int, concurrency: int
) -> None:
    ctx = StepContext(api, data, prepared.world)
    remaining = iter(range(count))

    async def worker() -> None:
        for _ in remaining:  # shared iterator: the workers split the count between them
            prepared.note(await create_entity(ctx))

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def caught_up(api: ApiClient, position: int) -> None:
    """Wait (server-side, by position) until the read models include the setup's writes."""
    try:
        async with asyncio.timeout(CATCH_UP_WAIT):
            while True:
                try:
                    await api.graphql("{ counts { entities } }", min_position=position)
                    return
                except OperationError as exc:
                    # "stale": the server stopped waiting; "timeout": this client did (a
                    # server may wait longer than the client's request timeout): ask again.
                    if exc.kind not in ("stale", "timeout"):
                        raise SetupError(f"reading after setup failed: {exc}") from exc
    except TimeoutError:
        raise SetupError(f"the read side did not reach position {position}") from None


PROBES: dict[str, str] = {
    "entityChanged": "update-entity",
    "occurrenceRecorded": "record-occurrence",
    "processChanged": "open-process",
}


async def prove_live(
    api: ApiClient,
    data: DataGenerator,
    prepared: Prepared,
    subscribers: Sequence[Subscriber],
    streams: list[Stream],
) -> None:
    """Send probe commands until each live connection has had a message on each stream (the
    caller bounds the time)."""
    ctx = StepContext(api, data, prepared.world)
    while True:
        live = [s for s in subscribers if s.connected.is_set() and not s.closed]
        quiet = {st for s in live for st in streams if not prepared.seen.get((s.number, st))}
        if not quiet:
            return
        for stream in sorted(quiet):
            try:
                outcome = await BUILTIN[PROBES[stream]](ctx)
            except OperationError as exc:
                raise SetupError(f"a subscription probe failed: {exc}") from exc
            if outcome is not None:
                prepared.note(outcome)
                prepared.probes += 1
        await asyncio.sleep(0.5)
