"""What one iteration does: a command over HTTP or a GraphQL read, on the paths users hit.

A step is `async def step(ctx: StepContext) -> Outcome | None`. Commands return their
`position` and the stream that will announce it, so the engine can measure freshness; reads
return nothing. A scenario may name its own steps (`op: custom`, `call: module:function` or
`call: steps.py:function` beside the YAML file) with the same signature.
"""

from __future__ import annotations

import asyncio
import bisect
import importlib
import importlib.util
import inspect
import itertools
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadtest.client import ApiClient, OperationError
from loadtest.data import DataGenerator
from loadtest.scenario import Scenario


@dataclass(frozen=True)
class Outcome:
    position: int | None = None
    stream: str | None = None
    """The subscription field that announces this change (`entityChanged`, ...)."""
    read_back: tuple[str, str] | None = None
    """(query field, id) that shows the change once the read side has it."""
    command: bool = False


@dataclass
class World:
    """What exists for the run to work on; steps add what they create."""

    types: list[tuple[str, str]] = field(default_factory=list)
    """(id, name) of the generated entity types."""
    entities: list[tuple[str, str]] = field(default_factory=list)
    """(id, type name)."""
    processes: list[str] = field(default_factory=list)
    occurrence_kinds: list[str] = field(default_factory=list)
    updating: set[str] = field(default_factory=set)
    """Entities with an update in flight: a client does not race itself on one record, and
    such races would only measure optimistic-concurrency conflicts (409)."""

    def entity_to_update(self, rng: random.Random, tries: int = 8) -> tuple[str, str]:
        for _ in range(tries):
            found = rng.choice(self.entities)
            if found[0] not in self.updating:
                return found
        return found


@dataclass
class StepContext:
    api: ApiClient
    data: DataGenerator
    world: World
    params: dict[str, Any] = field(default_factory=dict)


Step = Callable[[StepContext], Awaitable[Outcome | None]]

ENTITY = "query($id: UUID!) { entity(id: $id) { id title data lat lon entityType { name } } }"
ENTITIES = """query($first: Int!) { entities(first: $first) {
  edges { node { id title data lat lon updatedAt } } pageInfo { hasNextPage endCursor } } }"""
SEARCH = """query($q: String!, $first: Int!) { search(query: $q, first: $first) {
  edges { node { kind id title snippet rank } } } }"""
NEARBY = """query($lat: Float!, $lon: Float!, $first: Int!) {
  nearby(lat: $lat, lon: $lon, first: $first) { hits { kind id title distanceM } } }"""
COUNTS = "{ counts { entities occurrences processes participants } }"
READ_BACK = {
    kind: f"query($id: UUID!) {{ {kind}(id: $id) {{ position }} }}"
    for kind in ("entity", "occurrence", "process")
}


async def create_entity(ctx: StepContext) -> Outcome:
    type_id, type_name = ctx.data.rng.choice(ctx.world.types)
    answer = await ctx.api.command(
        "create-entity", {"entity_type_id": type_id, **ctx.data.entity(type_name)}
    )
    ctx.world.entities.append((answer["id"], type_name))
    return Outcome(answer["position"], "entityChanged", ("entity", answer["id"]), command=True)


async def update_entity(ctx: StepContext) -> Outcome:
    entity_id, type_name = ctx.world.entity_to_update(ctx.data.rng)
    body = {"entity_id": entity_id, "data": ctx.data.entity_change(type_name)}
    ctx.world.updating.add(entity_id)
    try:
        answer = await ctx.api.command("update-entity", body)
    finally:
        ctx.world.updating.discard(entity_id)
    return Outcome(answer["position"], "entityChanged", ("entity", entity_id), command=True)


async def record_occurrence(ctx: StepContext) -> Outcome:
    body = ctx.data.occurrence(ctx.world.occurrence_kinds)
    if ctx.world.entities and ctx.data.rng.random() < 0.5:
        body["entity_ids"] = [ctx.data.rng.choice(ctx.world.entities)[0]]
    answer = await ctx.api.command("record-occurrence", body)
    return Outcome(
        answer["position"], "occurrenceRecorded", ("occurrence", answer["id"]), command=True
    )


async def open_process(ctx: StepContext) -> Outcome:
    answer = await ctx.api.command("open-process", ctx.data.process())
    ctx.world.processes.append(answer["id"])
    return Outcome(answer["position"], "processChanged", ("process", answer["id"]), command=True)


async def register_participant(ctx: StepContext) -> Outcome:
    answer = await ctx.api.command("register-participant", ctx.data.participant())
    return Outcome(answer["position"], command=True)


async def get_entity(ctx: StepContext) -> None:
    entity_id, _ = ctx.data.rng.choice(ctx.world.entities)
    await ctx.api.graphql(ENTITY, {"id": entity_id})


async def list_entities(ctx: StepContext) -> None:
    await ctx.api.graphql(ENTITIES, {"first": int(ctx.params.get("first", 20))})


async def search(ctx: StepContext) -> None:
    query = ctx.data.search_query()
    await ctx.api.graphql(SEARCH, {"q": query, "first": int(ctx.params.get("first", 10))})


async def nearby(ctx: StepContext) -> None:
    lat, lon = ctx.data.point()
    await ctx.api.graphql(
        NEARBY, {"lat": lat, "lon": lon, "first": int(ctx.params.get("first", 10))}
    )


async def counts(ctx: StepContext) -> None:
    await ctx.api.graphql(COUNTS)


BUILTIN: dict[str, Step] = {
    "create-entity": create_entity,
    "update-entity": update_entity,
    "record-occurrence": record_occurrence,
    "open-process": open_process,
    "register-participant": register_participant,
    "get-entity": get_entity,
    "list-entities": list_entities,
    "search": search,
    "nearby": nearby,
    "counts": counts,
}


async def read_back(
    api: ApiClient, target: tuple[str, str], position: int, *, mode: str, poll_interval: float
) -> None:
    """Return once a GraphQL read shows the change at `position` (the caller bounds the time).

    `header` asks the server to wait (X-Min-Position, pushed to it by the workers); `poll`
    is what a client without that header would do: ask again until the object has caught up.
    """
    kind, object_id = target
    query, variables = READ_BACK[kind], {"id": object_id}
    if mode == "header":
        seen = (await api.graphql(query, variables, min_position=position)).get(kind)
        if not seen or seen["position"] < position:
            raise OperationError("stale", f"{kind} {object_id} not at {position}")
        return
    while True:
        seen = (await api.graphql(query, variables)).get(kind)
        if seen and seen["position"] >= position:
            return
        await asyncio.sleep(poll_interval)


def resolve(op: str, call: str | None, base: Path | None) -> Step:
    """The step a mix entry names: a built-in, or `call` for `op: custom`."""
    if call is None:
        if op not in BUILTIN:
            raise ValueError(f"unknown operation {op!r}; built-in: {', '.join(BUILTIN)}")
        return BUILTIN[op]
    where, _, name = call.rpartition(":")
    if not where or not name:
        raise ValueError(f"call {call!r}: expected 'module:function' or 'file.py:function'")
    if where.endswith(".py"):
        path = Path(where) if Path(where).is_absolute() or base is None else base / where
        spec = importlib.util.spec_from_file_location(f"bsdflow_loadtest_{path.stem}", path)
        if spec is None or spec.loader is None:
            raise ValueError(f"call {call!r}: cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(where)
    step = getattr(module, name, None)
    if not inspect.iscoroutinefunction(step):
        raise ValueError(f"call {call!r}: not an async function taking a StepContext")
    found: Step = step
    return found


@dataclass
class Mix:
    """A weighted choice of steps, made with the scenario's seeded generator."""

    labels: list[str]
    steps: list[Step]
    params: list[dict[str, Any]]
    cumulative: list[float] = field(default_factory=list)

    @classmethod
    def of(cls, scenario: Scenario) -> Mix:
        base = scenario.source.parent if scenario.source else None
        steps = [resolve(entry.op, entry.call, base) for entry in scenario.mix]
        labels = [entry.label for entry in scenario.mix]
        if len(set(labels)) != len(labels):
            raise ValueError("two mix entries share a label: give one a `name`")
        weights = list(itertools.accumulate(entry.weight for entry in scenario.mix))
        return cls(labels, steps, [dict(e.params) for e in scenario.mix], weights)

    def pick(self, draw: float) -> int:
        return bisect.bisect_right(self.cumulative, draw * self.cumulative[-1])
