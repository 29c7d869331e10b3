"""A projection's version: `bsdflow migrate` rebuilds a new one in a shadow schema and swaps it in."""

from __future__ import annotations

import psycopg

from infra.readdb import Migrated, migrate_read_side, recorded_versions
from projections.counts import CountsProjection
from projections.entities import EntitiesProjection
from projections.registry import PROJECTIONS


class EntitiesV2(EntitiesProjection):
    version = 2


class CountsV2(CountsProjection):
    version = 2


def entity_rows(database_url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT id, data, version FROM rm_entities.entities ORDER BY id"
        ).fetchall()


def versions(database_url: str) -> dict[str, int]:
    with psycopg.connect(database_url) as conn:
        return {name: version for name, (version, _) in recorded_versions(conn).items()}


async def test_a_new_version_is_rebuilt_recorded_and_then_left_alone(
    api, database_url, read_side, settled
):
    site = await api.command(
        "define-entity-type", name="Site", fields=[{"name": "title", "type": "text"}]
    )
    for i in range(6):
        last = await api.command("create-entity", entity_type_id=site.id, data={"title": f"S{i}"})
    await settled(last.position)
    before = entity_rows(database_url)
    assert versions(database_url)["entities"] == 1

    registry = {**PROJECTIONS, "entities": EntitiesV2()}
    seen: list[tuple[str, int, int]] = []
    migrated = migrate_read_side(
        database_url, registry, progress=lambda name: lambda d, t: seen.append((name, d, t))
    )

    [rebuilt] = [m for m in migrated if m.result is not None]
    assert (rebuilt.projection, rebuilt.version, rebuilt.rebuilt_from) == ("entities", 2, 1)
    assert rebuilt.result.events_applied >= 7
    assert entity_rows(database_url) == before
    assert versions(database_url)["entities"] == 2
    name, done, total = seen[-1]
    assert name == "entities"
    assert done == total >= last.position
    assert all(m.result is None for m in migrate_read_side(database_url, registry))

    # The live worker goes on writing into the swapped-in tables.
    more = await api.command("create-entity", entity_type_id=site.id, data={"title": "after"})
    await settled(more.position)
    assert len(entity_rows(database_url)) == len(before) + 1


def test_tools_that_only_look_leave_a_new_version_pending(database_url):
    migrated = migrate_read_side(database_url, {"counts": CountsV2()}, rebuild_changed=False)
    assert migrated == [Migrated("counts", 1, pending=2)]
    assert versions(database_url)["counts"] == 1
