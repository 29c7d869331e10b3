"""Concurrent writers: expected versions, unique values and idempotent retries."""

from __future__ import annotations

import asyncio
from collections import Counter
from uuid import UUID

import pytest

from domain.process import Process

RACERS = 20


async def test_stale_expected_version_is_409(api):
    opened = await api.command("open-process", kind="audit", title="A", stages=["a", "b", "c"])
    await api.command("enter-stage", process_id=opened.id, stage="b", expected_version=1)
    before = api.event_count()
    stale = await api.post(
        "enter-stage", {"process_id": opened.id, "stage": "c", "expected_version": 1}
    )
    assert stale.status == 409
    assert stale.body["errors"][0]["path"] == ["expected_version"]
    assert api.event_count() == before


async def test_concurrent_writers_to_one_aggregate_never_both_win(api):
    opened = await api.command("open-process", kind="audit", title="A", stages=["a", "b"])
    replies = await asyncio.gather(
        *(
            api.post(
                "assign-participant", {"process_id": opened.id, "participant_id": p.id, "role": "r"}
            )
            for p in [await api.command("register-participant", name=f"P{i}") for i in range(8)]
        )
    )
    statuses = Counter(r.status for r in replies)
    assert set(statuses) <= {200, 409}
    process = api.runtime.store.find(Process, UUID(opened.id))
    assert len(process.participants) == statuses[200]


async def race(api, command, bodies):
    return Counter(r.status for r in await asyncio.gather(*(api.post(command, b) for b in bodies)))


async def test_twenty_clients_same_tenant_slug_exactly_one_wins(api):
    platform = api.mint("platform", "platform")
    replies = await asyncio.gather(
        *(
            api.post(
                "create-tenant", {"slug": "contested", "name": f"Claimant {i}"}, token=platform
            )
            for i in range(RACERS)
        )
    )
    assert Counter(r.status for r in replies) == {200: 1, 409: RACERS - 1}


async def test_twenty_clients_same_entity_type_name_exactly_one_wins(api):
    bodies = [
        {"name": "Vehicle", "fields": [{"name": f"f{i}", "type": "text"}]} for i in range(RACERS)
    ]
    assert await race(api, "define-entity-type", bodies) == {200: 1, 409: RACERS - 1}


@pytest.mark.parametrize("spelling", ["plate-001", "PLATE-001 "])
async def test_twenty_clients_same_unique_field_value_exactly_one_wins(api, spelling):
    car = await api.command(
        "define-entity-type",
        name="Car",
        fields=[
            {"name": "plate", "type": "text", "unique": True},
            {"name": "n", "type": "integer"},
        ],
    )
    bodies = [
        {"entity_type_id": car.id, "data": {"plate": spelling.strip(), "n": i}}
        for i in range(RACERS)
    ]
    assert await race(api, "create-entity", bodies) == {200: 1, 409: RACERS - 1}
    # Case and spacing do not make a value unique: the canonical form is claimed.
    again = await api.post(
        "create-entity", {"entity_type_id": car.id, "data": {"plate": "Plate-001"}}
    )
    assert again.status == 409


async def test_a_released_unique_value_can_be_taken_again(api):
    car = await api.command(
        "define-entity-type", name="Car", fields=[{"name": "plate", "type": "text", "unique": True}]
    )
    first = await api.command("create-entity", entity_type_id=car.id, data={"plate": "X1"})
    await api.command("update-entity", entity_id=first.id, data={"plate": "X2"})
    await api.command("create-entity", entity_type_id=car.id, data={"plate": "X1"})
    taken = await api.post("create-entity", {"entity_type_id": car.id, "data": {"plate": "X2"}})
    assert taken.status == 409
    await api.command("archive-entity", entity_id=first.id)
    await api.command("create-entity", entity_type_id=car.id, data={"plate": "X2"})


async def test_idempotent_replay_returns_the_first_response_and_stores_once(api):
    headers = {"Idempotency-Key": "order-42"}
    body = {"name": "Once Only", "email": "once@example.com"}
    first = await api.post("register-participant", body, headers=headers)
    after_first = api.event_count()
    replay = await api.post("register-participant", body, headers=headers)
    assert first.status == replay.status == 200
    assert replay.body == first.body
    assert api.event_count() == after_first


async def test_same_key_with_another_body_is_422_and_stores_nothing(api):
    headers = {"Idempotency-Key": "order-43"}
    await api.post("register-participant", {"name": "A"}, headers=headers)
    before = api.event_count()
    other = await api.post("register-participant", {"name": "B"}, headers=headers)
    assert other.status == 422
    assert other.body["errors"][0]["path"] == ["Idempotency-Key"]
    assert api.event_count() == before


async def test_concurrent_retries_with_one_key_create_one_participant(api):
    headers = {"Idempotency-Key": "retry-storm"}
    before = api.event_count()
    replies = await asyncio.gather(
        *(api.post("register-participant", {"name": "Storm"}, headers=headers) for _ in range(10))
    )
    assert {r.status for r in replies} == {200}
    assert len({r.body["id"] for r in replies}) == 1
    assert api.event_count() == before + 2  # the participant and its receipt


async def test_a_rejected_command_does_not_burn_its_key(api):
    headers = {"Idempotency-Key": "fix-and-retry"}
    bad = await api.post("register-participant", {"name": "Z", "email": "nope"}, headers=headers)
    assert bad.status == 422
    good = await api.post(
        "register-participant", {"name": "Z", "email": "z@example.com"}, headers=headers
    )
    assert good.status == 200
