"""The largest commands the body limit allows are stored in bounded time, alone or batched, and
never hold up other tenants' commands."""

from __future__ import annotations

import asyncio
import random
import string

import orjson

LONG_FIELDS = 11
"""long_text holds at most 100,000 characters: eleven of them fill a 1 MiB body."""
ANSWER_WITHIN = 30.0


async def long_text_type(api, token=None):
    fields = [{"name": f"notes_{n}", "type": "long_text"} for n in range(LONG_FIELDS)]
    return await api.command("define-entity-type", token=token, name="Dossier", fields=fields)


def largest_body(entity_type_id: str, limit: int) -> bytes:
    """A create-entity body just under `limit` bytes, spread over every long_text field."""
    empty = orjson.dumps(
        {"entity_type_id": entity_type_id, "data": {f"notes_{n}": "" for n in range(LONG_FIELDS)}}
    )
    each = min((limit - len(empty) - 64) // LONG_FIELDS, 100_000)
    words = random.Random(each)
    data = {
        f"notes_{n}": "".join(words.choices(string.ascii_letters + " ", k=each))
        for n in range(LONG_FIELDS)
    }
    body = orjson.dumps({"entity_type_id": entity_type_id, "data": data})
    assert limit - 1_024 < len(body) <= limit
    return body


async def test_the_largest_allowed_command_is_stored_and_others_go_on(api):
    dossier = await long_text_type(api)
    body = largest_body(dossier.id, api.runtime.settings.max_body_bytes)
    before = api.event_count()

    reply = await asyncio.wait_for(api.post("create-entity", body), ANSWER_WITHIN)

    assert reply.status == 200, reply.body
    assert api.event_count() > before
    platform = api.mint("platform", "platform")
    await api.command("create-tenant", token=platform, slug="globex", name="Globex")
    other = api.mint("globex", "admin")
    after = await asyncio.wait_for(
        api.post("register-participant", {"name": "Ada"}, token=other), ANSWER_WITHIN
    )
    assert after.status == 200, after.body


async def test_many_large_commands_committed_together_are_all_stored(api):
    dossier = await long_text_type(api)
    body = largest_body(dossier.id, api.runtime.settings.max_body_bytes // 10)
    before = api.event_count()

    replies = await asyncio.wait_for(
        asyncio.gather(*(api.post("create-entity", body) for _ in range(12))), ANSWER_WITHIN * 2
    )

    assert [r.status for r in replies] == [200] * 12, [r.body for r in replies]
    assert api.event_count() >= before + 12
