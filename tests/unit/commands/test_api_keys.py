"""Service accounts' API keys: the secret is answered once and stored nowhere, a key acts with
exactly its roles, and a revoked, expired or wrong key is refused on its next use."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from commands.api_keys import USED_EVERY_SECONDS, ApiKeyBook
from commands.auth import Forbidden, Principal, TokenCodec, Unauthenticated
from commands.context import Recorded
from commands.registered import COMMANDS
from domain.api_key import ApiKey
from domain.errors import Conflict, InvalidInput, NotFound
from tests.unit.commands.conftest import Handle


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class NotedUses:
    """The KeyUsage port in memory: every note it was given."""

    def __init__(self) -> None:
        self.notes: list[tuple[UUID, UUID, float]] = []

    def used(self, tenant_id: UUID, key_id: UUID, at: float) -> None:
        self.notes.append((tenant_id, key_id, at))


def book_of(handle: Handle, wall: Clock | None = None) -> tuple[ApiKeyBook, NotedUses]:
    uses = NotedUses()
    if wall is None:
        return ApiKeyBook(handle.service.book, uses), uses
    return ApiKeyBook(handle.service.book, uses, wall=wall), uses


def as_key(handle: Handle, who: Principal, command: str, **body: object) -> Recorded:
    spec = COMMANDS[command]
    return handle.service.execute(spec, spec.model.model_validate(body), who, {})


def test_the_secret_is_answered_once_and_stored_nowhere(handle: Handle) -> None:
    created = handle("create-api-key", as_role="admin", name="ci", roles=["editor"])
    key = created.shown_once["key"]
    assert key.startswith(f"bsk_{created.id.hex}_")
    secret = key.split("_", 2)[2]
    assert handle.then == ["ApiKey.Created"]
    stored = repr([(e.data, e.meta) for e in handle.events])
    assert secret not in stored
    assert key not in stored


def test_a_replayed_create_does_not_answer_the_secret_again(handle: Handle) -> None:
    first = handle(
        "create-api-key", as_role="admin", idempotency_key="k-1", name="ci", roles=["viewer"]
    )
    again = handle(
        "create-api-key", as_role="admin", idempotency_key="k-1", name="ci", roles=["viewer"]
    )
    assert (again.id, again.version) == (first.id, first.version)
    assert first.shown_once
    assert not again.shown_once


def test_a_key_acts_as_itself_with_exactly_its_roles(handle: Handle) -> None:
    book, _ = book_of(handle)
    key = handle.given("create-api-key", name="sync", roles=["editor"]).shown_once["key"]
    who = book.principal(key)
    assert (who.actor, who.tenant_slug, who.roles) == ("key:sync", "acme", {"editor"})
    as_key(handle, who, "create-group", name="Night shift")
    assert handle.events[-1].meta["actor"] == "key:sync"
    with pytest.raises(Forbidden, match="access:manage"):
        as_key(handle, who, "define-role", name="clerk", grants=[])


def test_a_viewer_key_may_not_write(handle: Handle) -> None:
    book, _ = book_of(handle)
    key = handle.given("create-api-key", name="report", roles=["viewer"]).shown_once["key"]
    with pytest.raises(Forbidden, match="data:write"):
        as_key(handle, book.principal(key), "create-group", name="x")
    assert handle.then == []


def test_a_key_grants_only_what_its_roles_grant_now(handle: Handle) -> None:
    book, _ = book_of(handle)
    handle.given("define-role", name="clerk", grants=["create-group"])
    key = handle.given("create-api-key", name="clerk-bot", roles=["clerk"]).shown_once["key"]
    as_key(handle, book.principal(key), "create-group", name="x")
    handle.given("remove-role", name="clerk")
    with pytest.raises(Forbidden):
        as_key(handle, book.principal(key), "create-group", name="y")


def test_a_revoked_key_is_refused_on_its_next_use(handle: Handle) -> None:
    book, _ = book_of(handle)
    key = handle.given("create-api-key", name="ci", roles=["editor"]).shown_once["key"]
    book.principal(key)  # remembered by the book
    handle("revoke-api-key", as_role="admin", name="ci")
    assert handle.then == ["ApiKey.Revoked"]
    with pytest.raises(Unauthenticated, match="'ci' has been revoked"):
        book.principal(key)


def test_revoking_twice_stores_one_revocation(handle: Handle) -> None:
    handle.given("create-api-key", name="ci", roles=["viewer"])
    handle("revoke-api-key", as_role="admin", name="ci")
    handle("revoke-api-key", as_role="admin", name="ci")
    assert handle.then == ["ApiKey.Revoked"]


def test_an_expired_key_is_refused(handle: Handle) -> None:
    wall = Clock(0)
    book, _ = book_of(handle, wall)
    key = handle.given("create-api-key", name="ci", roles=["viewer"], ttl_seconds=60)
    wall.now = float(book.principal(key.shown_once["key"]).expires_at or 0)
    with pytest.raises(Unauthenticated, match="'ci' has expired"):
        book.principal(key.shown_once["key"])


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda key: key[:-2] + ("AA" if not key.endswith("AA") else "BB"), "wrong secret"),
        (lambda key: "bsk_" + "0" * 32 + key[36:], "no such key"),
        (lambda key: "bsk_nothex_secret", "malformed API key"),
        (lambda key: key[:36], "malformed API key"),
    ],
)
def test_a_wrong_or_unknown_key_is_refused(handle: Handle, mangle: object, message: str) -> None:
    book, uses = book_of(handle)
    key = handle.given("create-api-key", name="ci", roles=["viewer"]).shown_once["key"]
    assert callable(mangle)
    with pytest.raises(Unauthenticated, match=message):
        book.principal(mangle(key))
    assert uses.notes == []


def test_uses_are_noted_at_most_once_a_minute(handle: Handle) -> None:
    wall = Clock(1_000_000)
    book, uses = book_of(handle, wall)
    created = handle.given("create-api-key", name="ci", roles=["viewer"])
    key = created.shown_once["key"]
    for _ in range(3):
        book.principal(key)
    wall.now += USED_EVERY_SECONDS
    book.principal(key)
    assert [(k, at) for _, k, at in uses.notes] == [
        (created.id, 1_000_000),
        (created.id, 1_000_000 + USED_EVERY_SECONDS),
    ]


@pytest.mark.parametrize(
    ("body", "error", "path", "message"),
    [
        ({"roles": ["veiwer"]}, InvalidInput, ("roles", 0), "did you mean 'viewer'"),
        ({"roles": []}, InvalidInput, ("roles",), "at least one role"),
        ({"roles": ["viewer"], "name": "CI"}, InvalidInput, ("name",), "lower-case"),
        (
            {"roles": ["viewer"], "expires_at": "2001-01-01T00:00:00Z"},
            InvalidInput,
            ("expires_at",),
            "in the future",
        ),
        (
            {"roles": ["viewer"], "expires_at": "2999-01-01T00:00:00Z", "ttl_seconds": 5},
            InvalidInput,
            ("ttl_seconds",),
            "not both",
        ),
    ],
)
def test_a_bad_key_is_refused_with_its_path(
    handle: Handle,
    body: dict[str, object],
    error: type[Exception],
    path: tuple[object, ...],
    message: str,
) -> None:
    with pytest.raises(error, match=message) as refused:
        handle("create-api-key", as_role="admin", **{"name": "ci", **body})
    assert getattr(refused.value, "path", None) == path
    assert handle.then == []


def test_names_are_taken_once_and_keys_belong_to_their_tenant(handle: Handle) -> None:
    handle.given("create-tenant", as_role="platform", slug="globex", name="Globex")
    handle.given("create-api-key", name="ci", roles=["viewer"])
    with pytest.raises(Conflict, match="'ci' is already taken"):
        handle("create-api-key", as_role="admin", name="ci", roles=["viewer"])
    with pytest.raises(NotFound, match="no API key 'ci'"):
        handle("revoke-api-key", as_role="admin", tenant="globex", name="ci")
    handle("create-api-key", as_role="admin", tenant="globex", name="ci", roles=["viewer"])
    assert handle.then == ["ApiKey.Created"]


def test_key_commands_need_access_manage(handle: Handle) -> None:
    with pytest.raises(Forbidden, match="access:manage"):
        handle("create-api-key", as_role="editor", name="ci", roles=["viewer"])


def test_no_token_or_membership_may_pass_for_a_key(handle: Handle) -> None:
    with pytest.raises(InvalidInput, match="the key's own") as refused:
        handle("set-member-roles", as_role="admin", actor="key:ci", roles=["admin"])
    assert refused.value.path == ("actor",)
    codec = TokenCodec("a-local-development-secret-of-32-bytes")
    with pytest.raises(Unauthenticated, match="may not start with 'key:'"):
        codec.principal(f"Bearer {codec.mint('acme', ['admin'], actor='key:ci')}")


def test_checking_a_key_reads_the_store_once_per_ttl(handle: Handle) -> None:
    clock = Clock(0)
    reads: list[UUID] = []
    store = handle.service.book.store
    find = store.find

    def counted(cls: type[Any], aggregate_id: UUID, version: int | None = None) -> Any:
        if cls is ApiKey:
            reads.append(aggregate_id)
        return find(cls, aggregate_id, version)

    store.find = counted  # type: ignore[method-assign]
    book = ApiKeyBook(handle.service.book, clock=clock)
    key = handle.given("create-api-key", name="ci", roles=["viewer"]).shown_once["key"]
    reads.clear()
    for _ in range(100):
        book.principal(key)
    assert len(reads) == 1
    clock.now += handle.service.book.ttl_seconds
    book.principal(key)
    assert len(reads) == 2
