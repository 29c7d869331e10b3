"""Bearer tokens: who may command what, and only inside their own tenant."""

from __future__ import annotations

import time

import jwt
import pytest

from tests.conftest import JWT_SECRET

PROBLEM = "application/problem+json"


def claims(**overrides):
    now = int(time.time())
    return {
        "sub": "mallory",
        "tenant": "acme",
        "roles": ["admin"],
        "aud": "bsdflow",
        "iss": "bsdflow",
        "iat": now,
        "exp": now + 600,
        **overrides,
    }


async def refused(api, token, status):
    before = api.event_count()
    reply = await api.post("rename-tenant", {"name": "Pwned"}, token=token)
    assert reply.status == status, reply.body
    assert reply.headers["content-type"] == PROBLEM
    assert api.event_count() == before
    return reply


async def test_missing_token_is_401(api):
    response = await api.http.post("/v1/commands/rename-tenant", json={"name": "Pwned"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_expired_token_is_401(api):
    token = jwt.encode(claims(exp=int(time.time()) - 5), JWT_SECRET, algorithm="HS256")
    reply = await refused(api, token, 401)
    assert "expired" in reply.body["detail"]


async def test_wrong_audience_is_401(api):
    await refused(api, jwt.encode(claims(aud="other-app"), JWT_SECRET, algorithm="HS256"), 401)


async def test_wrong_secret_is_401(api):
    await refused(
        api, jwt.encode(claims(), "another-secret-of-enough-length!!", algorithm="HS256"), 401
    )


async def test_alg_none_is_401(api):
    await refused(api, jwt.encode(claims(), None, algorithm="none"), 401)


async def test_viewer_cannot_command(api):
    await refused(api, api.mint("acme", "viewer"), 403)


async def test_editor_cannot_change_schema_but_can_write_data(api):
    editor = api.mint("acme", "editor")
    reply = await api.post("define-entity-type", {"name": "T", "fields": []}, token=editor)
    assert reply.status == 403
    await api.command("register-participant", token=editor, name="Ed")


async def test_other_tenants_ids_are_not_found(api):
    theirs = await api.command("open-process", kind="audit", title="Secret", stages=["a", "b"])
    platform = api.mint("platform", "platform")
    await api.command("create-tenant", token=platform, slug="globex", name="Globex")
    intruder = api.mint("globex", "admin")
    before = api.event_count()
    reply = await api.post("enter-stage", {"process_id": theirs.id, "stage": "b"}, token=intruder)
    assert reply.status == 404
    assert api.event_count() == before


async def test_token_for_a_tenant_that_does_not_exist_is_refused(api):
    reply = await api.post(
        "register-participant", {"name": "Ghost"}, token=api.mint("nowhere", "admin")
    )
    assert reply.status == 404


async def test_only_the_platform_role_creates_tenants(api):
    reply = await api.post("create-tenant", {"slug": "initech", "name": "Initech"})
    assert reply.status == 403


MALFORMED_CLAIMS = [
    {"roles": [["admin"]]},
    {"roles": [{"admin": True}]},
    {"roles": "admin"},
    {"roles": [1]},
    {"tenant": ["acme"]},
    {"tenant": ""},
]


@pytest.mark.parametrize("overrides", MALFORMED_CLAIMS)
async def test_signed_token_with_malformed_claims_is_401(api, overrides):
    token = jwt.encode(claims(**overrides), JWT_SECRET, algorithm="HS256")
    reply = await refused(api, token, 401)
    claim = next(iter(overrides))
    assert f"'{claim}'" in reply.body["detail"]


async def test_garbage_token_is_called_malformed(api):
    for garbage in ("not-a-jwt", "eyJhbGciOiJIUzI1NiJ9.t7eyJ.x", "tw.e30.x"):
        reply = await refused(api, garbage, 401)
        assert reply.body["detail"] == "malformed token", reply.body["detail"]


async def test_a_bad_signature_says_so(api):
    token = jwt.encode(claims(), "another-secret-of-enough-length!!", algorithm="HS256")
    reply = await refused(api, token, 401)
    assert reply.body["detail"] == "invalid token: signature verification failed"
