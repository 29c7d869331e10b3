"""Bad input gets problem+json with field paths, and a rejected command stores nothing."""

from __future__ import annotations

import pytest

PROBLEM = "application/problem+json"


@pytest.fixture
async def site(api):
    return await api.command(
        "define-entity-type",
        name="Site",
        fields=[
            {"name": "title", "type": "text", "required": True},
            {"name": "email", "type": "email"},
            {"name": "visits", "type": "integer", "constraints": {"min": 0}},
        ],
    )


async def rejected(api, command, body, status, headers=None):
    before = api.event_count()
    reply = await api.post(command, body, headers=headers)
    assert reply.status == status, reply.body
    assert reply.headers["content-type"] == PROBLEM
    assert reply.body["status"] == status
    assert reply.body["title"]
    assert reply.body["detail"]
    assert api.event_count() == before, "a rejected command stored events"
    return reply.body


async def test_malformed_json(api, site):
    problem = await rejected(api, "create-entity", b'{"entity_type_id": ', 422)
    assert "malformed JSON" in problem["errors"][0]["message"]


async def test_wrong_type_names_the_field(api, site):
    problem = await rejected(
        api, "create-entity", {"entity_type_id": "not-a-uuid", "data": {"title": "x"}}, 422
    )
    assert problem["errors"][0]["path"] == ["entity_type_id"]


async def test_unknown_top_level_field(api, site):
    problem = await rejected(
        api, "create-entity", {"entity_type_id": site.id, "data": {"title": "x"}, "colour": 1}, 422
    )
    assert problem["errors"] == [
        {"path": ["colour"], "pointer": "/colour", "message": "unknown field"}
    ]


async def test_every_bad_field_of_the_data_is_reported(api, site):
    problem = await rejected(
        api,
        "create-entity",
        {"entity_type_id": site.id, "data": {"email": "nope", "visits": -1, "extra": True}},
        422,
    )
    paths = {tuple(e["path"]) for e in problem["errors"]}
    assert paths == {("data", "title"), ("data", "email"), ("data", "visits"), ("data", "extra")}


async def test_domain_rule_violation(api):
    problem = await rejected(
        api, "open-process", {"kind": "audit", "title": "A", "stages": ["a", "a"]}, 422
    )
    assert problem["errors"][0]["path"] == ["stages"]


async def test_oversized_body_is_413(api, site):
    padding = "x" * (api.runtime.settings.max_body_bytes + 10)
    await rejected(
        api, "create-entity", {"entity_type_id": site.id, "data": {"title": padding}}, 413
    )


async def test_unknown_command_is_a_problem(api):
    await rejected(api, "launch-rocket", {}, 404)


async def test_missing_reference_in_own_tenant_is_404(api, site):
    problem = await rejected(
        api,
        "update-entity",
        {"entity_id": "00000000-0000-4000-8000-000000000000", "data": {}},
        404,
    )
    assert problem["errors"][0]["path"] == ["entity_id"]


async def test_invalid_schema_is_refused_with_paths(api):
    problem = await rejected(
        api,
        "define-entity-type",
        {
            "name": "Broken",
            "fields": [{"name": "n", "type": "integer", "constraints": {"min": 5, "max": 1}}],
        },
        422,
    )
    assert problem["errors"][0]["path"][:2] == ["fields", 0]


async def test_request_id_is_echoed_and_generated(api):
    reply = await api.post("rename-tenant", {"name": "Acme"}, headers={"X-Request-ID": "req-123"})
    assert reply.headers["x-request-id"] == "req-123"
    reply = await api.post("rename-tenant", {"name": "Acme 2"})
    assert len(reply.headers["x-request-id"]) == 32
