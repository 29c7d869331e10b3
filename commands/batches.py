"""Saving many aggregates changed by one of bsdflow's own services (the scheduler's), in few
transactions: per tenant, in chunks capped by count and size, each change redone one by one on
fresh state when a concurrent writer got to some aggregate first."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar
from uuid import UUID

from commands.context import command_metadata
from eventstore import Aggregate, ConcurrentWrite, EventStore, Metadata

A = TypeVar("A", bound=Aggregate)
BATCH = 1_000
MAX_BATCH_BYTES = 256 * 1024
"""psycopg's pipeline stalls on one very large insert over a Unix socket (≈ 800 KB seen), and
a run's context can be large: batches are capped by size as well as by count."""


def save_in_batches(
    store: EventStore,
    ids: Iterable[UUID],
    operation: Callable[[UUID], A | None],
    command: str,
    actor: str,
    redo: Callable[[UUID], A | None] | None = None,
    weight: Callable[[A], int] = lambda _: 300,
) -> list[A]:
    """Apply `operation` to each id (None: nothing to save) and save the results; `redo` (by
    default `operation`) repeats it on fresh state after a concurrent write. Returns the
    aggregates saved."""
    by_tenant: dict[UUID, list[A]] = defaultdict(list)
    for aggregate_id in ids:
        changed = operation(aggregate_id)
        if changed is not None:
            by_tenant[getattr(changed, "tenant_id")].append(changed)  # noqa: B009
    saved: list[A] = []
    for tenant_id, changed_ones in by_tenant.items():
        meta = command_metadata(command, tenant_id, actor)
        for chunk in _chunks(changed_ones, weight):
            saved.extend(_save(store, chunk, redo or operation, meta))
    return saved


def _save(
    store: EventStore, chunk: list[A], redo: Callable[[UUID], A | None], meta: Metadata
) -> list[A]:
    try:
        store.save(*chunk, metadata=meta)
        return chunk
    except ConcurrentWrite:
        pass
    # The failed save consumed the pending events, so redo each operation on fresh state, one
    # aggregate at a time.
    kept = []
    for stale in chunk:
        fresh = redo(stale.id)
        if fresh is None:
            continue
        try:
            store.save(fresh, metadata=meta)
        except ConcurrentWrite:
            continue  # lost this one: it is the other writer's
        kept.append(fresh)
    return kept


def _chunks(aggregates: list[A], weight: Callable[[A], int]) -> Iterator[list[A]]:
    chunk: list[A] = []
    size = 0
    for aggregate in aggregates:
        weighs = weight(aggregate)
        if chunk and (len(chunk) >= BATCH or size + weighs > MAX_BATCH_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(aggregate)
        size += weighs
    if chunk:
        yield chunk
