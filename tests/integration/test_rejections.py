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


NUL_BODIES = [
    ("register-participant", {"name": "nul\u0000x"}, ["name"]),
    ("register-participant", {"name": "Ada", "email": "a\u0000@example.org"}, ["email"]),
    ("open-process", {"kind": "audit", "title": "A", "stages": ["new", "do\u0000ne"]},
     ["stages", 1]),
    ("rename-tenant", {"name": "\u0000"}, ["name"]),
]  # fmt: skip


@pytest.mark.parametrize(("command", "body", "path"), NUL_BODIES)
async def test_nul_in_any_text_is_refused_with_its_path(api, command, body, path):
    problem = await rejected(api, command, body, 422)
    [error] = problem["errors"]
    assert error["path"] == path
    assert error["pointer"] == "/" + "/".join(map(str, path))
    assert "U+0000" in error["message"]


async def test_nul_deep_in_json_data_and_in_keys_is_refused(api):
    notes = await api.command(
        "define-entity-type", name="Note", fields=[{"name": "extra", "type": "json"}]
    )
    deep = {"entity_type_id": notes.id, "data": {"extra": {"a": [1, {"b": "x\u0000"}]}}}
    problem = await rejected(api, "create-entity", deep, 422)
    assert problem["errors"][0]["path"] == ["data", "extra", "a", 1, "b"]
    keyed = {"entity_type_id": notes.id, "data": {"extra": {"k\u0000ey": 1}}}
    problem = await rejected(api, "create-entity", keyed, 422)
    [error] = problem["errors"]
    assert error["path"][:2] == ["data", "extra"]
    assert "key" in error["message"]
    assert "U+0000" in error["message"]


async def test_an_integer_beyond_64_bits_is_refused_with_its_path(api):
    before = api.event_count()
    body = b'{"settings": {"limits": [1, 180678389295145946026545774592]}}'
    problem = await rejected(api, "change-tenant-settings", body, 422)
    [error] = problem["errors"]
    assert error["path"] == ["settings", "limits", 1]
    assert "64-bit" in error["message"]
    assert api.event_count() == before


async def test_lone_surrogate_is_refused(api):
    problem = await rejected(api, "register-participant", b'{"name": "x\\ud800y"}', 422)
    [error] = problem["errors"]
    assert error["path"] == ["name"]
    assert "surrogate" in error["message"]
    problem = await rejected(
        api, "open-process", b'{"kind": "a", "title": "t", "stages": ["\\udfff"]}', 422
    )
    assert problem["errors"][0]["path"] == ["stages", 0]


async def test_nul_in_a_multipart_field_is_refused(api):
    process = await api.command("open-process", kind="audit", title="A", stages=["a", "b"])
    before = api.event_count()
    response = await api.upload("process", process.id, b"hello", title="ti\x00tle")
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["errors"][0]["path"] == ["title"]
    assert api.event_count() == before


def nested(depth: int) -> bytes:
    """`depth` levels of arrays and objects, written out (too deep for json.dumps)."""
    opening = "".join("[" if n % 2 else '{"k":' for n in range(depth))
    closing = "".join("]" if n % 2 else "}" for n in reversed(range(depth)))
    return f"{opening}1{closing}".encode()


@pytest.mark.parametrize("depth", [253, 5_000])
async def test_deeply_nested_json_is_refused_with_the_limit(api, depth):
    notes = await api.command(
        "define-entity-type", name="Note", fields=[{"name": "extra", "type": "json"}]
    )
    body = b'{"entity_type_id": "%s", "data": {"extra": %s}}' % (notes.id.encode(), nested(depth))
    problem = await rejected(api, "create-entity", body, 422)
    assert "nested deeper than 64 levels" in problem["errors"][0]["message"]


async def chunks(total: int, size: int = 65_536):
    yield b'{"name": "'
    for _ in range(total // size):
        yield b"x" * size
    yield b'"}'


async def test_a_chunked_body_over_the_limit_is_413_like_a_declared_one(api):
    before = api.event_count()
    response = await api.http.post(
        "/v1/commands/register-participant",
        content=chunks(api.runtime.settings.max_body_bytes + 65_536),
        headers={"Authorization": f"Bearer {api.token}", "Content-Type": "application/json"},
    )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["title"] == "Payload too large"
    assert api.event_count() == before


async def test_a_chunked_upload_over_the_limit_is_413(api):
    process = await api.command("open-process", kind="audit", title="A", stages=["a", "b"])
    before = api.event_count()
    boundary = "bsdflow-test-boundary"

    async def multipart():
        for name, value in (("target_kind", "process"), ("target_id", process.id)):
            yield (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
            ).encode()
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        for _ in range(api.runtime.settings.max_document_bytes // 65_536 + 4):
            yield b"x" * 65_536
        yield f"\r\n--{boundary}--\r\n".encode()

    response = await api.http.post(
        "/v1/commands/attach-document",
        content=multipart(),
        headers={
            "Authorization": f"Bearer {api.token}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == PROBLEM
    assert api.event_count() == before


async def test_a_body_without_json_content_type_says_so(api):
    before = api.event_count()
    for headers in ({}, {"Content-Type": "text/plain"}):
        response = await api.http.post(
            "/v1/commands/register-participant",
            content=b'{"name": "Ada"}',
            headers={"Authorization": f"Bearer {api.token}", **headers},
        )
        assert response.status_code == 415, response.text
        assert response.headers["content-type"] == PROBLEM
        assert "Content-Type: application/json" in response.json()["detail"]
    assert api.event_count() == before


async def test_an_unknown_command_suggests_the_closest_names(api):
    problem = await rejected(api, "create-entiti", {}, 404)
    assert problem["detail"] == "no command 'create-entiti'; did you mean create-entity?"
    problem = await rejected(api, "register-participan", {}, 404)
    assert problem["detail"] == (
        "no command 'register-participan'; did you mean register-participant?"
    )
    problem = await rejected(api, "launch-rocket", {}, 404)
    assert problem["detail"].startswith("no command 'launch-rocket'")


async def test_not_found_names_the_aggregate_in_words(api):
    problem = await rejected(
        api,
        "create-entity",
        {"entity_type_id": "00000000-0000-4000-8000-000000000000", "data": {}},
        404,
    )
    assert problem["detail"] == "no entity type with this id"
