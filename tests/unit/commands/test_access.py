"""Roles and members: stored as events, read back on the next command, zero trust."""

from __future__ import annotations

import pytest

from commands.auth import Forbidden
from domain.errors import Conflict, InvalidInput, NotFound
from tests.unit.commands.conftest import Handle


def test_a_defined_role_grants_its_commands_on_the_next_request(handle: Handle) -> None:
    handle.given("define-role", name="clerk", grants=["create-group"])
    assert handle.then == []
    handle("create-group", as_role="clerk", name="Night shift")
    with pytest.raises(Forbidden, match="do not grant 'data:write'"):
        handle("register-participant", as_role="clerk", name="Ada")


def test_a_role_nobody_defined_grants_nothing(handle: Handle) -> None:
    with pytest.raises(Forbidden):
        handle("create-group", as_role="intern", name="x")


def test_changing_a_built_in_role_takes_effect_at_once(handle: Handle) -> None:
    handle.given("create-group", as_role="editor", name="before")
    handle("change-role", as_role="admin", name="editor", grants=["read:*"])
    assert handle.then == ["Role.Defined", "Role.Changed"]
    with pytest.raises(Forbidden):
        handle("create-group", as_role="editor", name="after")


def test_a_member_gets_its_bound_roles_whatever_its_token_says(handle: Handle) -> None:
    with pytest.raises(Forbidden):
        handle("create-group", as_role="viewer", as_actor="ada", name="x")
    handle.given("set-member-roles", actor="ada", roles=["editor"])
    handle("create-group", as_role="viewer", as_actor="ada", name="x")
    handle.given("remove-member", actor="ada")
    with pytest.raises(Forbidden):
        handle("create-group", as_role="viewer", as_actor="ada", name="y")


def test_removing_a_role_takes_its_grants_from_its_members(handle: Handle) -> None:
    handle.given("define-role", name="clerk", grants=["data:write"])
    handle.given("set-member-roles", actor="bo", roles=["clerk"])
    handle("create-group", as_role="", as_actor="bo", name="x")
    handle.given("remove-role", name="clerk")
    with pytest.raises(Forbidden):
        handle("create-group", as_role="", as_actor="bo", name="y")


def test_role_commands_need_access_manage(handle: Handle) -> None:
    with pytest.raises(Forbidden, match="access:manage"):
        handle("define-role", as_role="editor", name="clerk", grants=[])


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        ({"name": "Clerk", "grants": []}, ("name",), "lower-case"),
        ({"name": "clerk", "grants": ["data:wrte"]}, ("grants", 0), "did you mean 'data:write'"),
        ({"name": "clerk", "grants": ["read:*", "read:entites"]}, ("grants", 1), "read:entities"),
    ],
)
def test_a_bad_role_is_refused_with_its_path(
    handle: Handle, body: dict[str, object], path: tuple[object, ...], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message) as refused:
        handle("define-role", as_role="admin", **body)
    assert refused.value.path == path
    assert handle.then == []


def test_built_in_roles_exist_and_admin_keeps_the_keys(handle: Handle) -> None:
    with pytest.raises(Conflict, match="change-role"):
        handle("define-role", as_role="admin", name="viewer", grants=[])
    with pytest.raises(InvalidInput, match="must keep"):
        handle("change-role", as_role="admin", name="admin", grants=["read:*"])
    with pytest.raises(InvalidInput, match="cannot be removed"):
        handle("remove-role", as_role="admin", name="admin")
    assert handle.then == []


def test_members_are_bound_only_to_roles_that_exist(handle: Handle) -> None:
    with pytest.raises(NotFound, match="no role 'auditor'") as refused:
        handle("set-member-roles", as_role="admin", actor="ada", roles=["viewer", "auditor"])
    assert refused.value.path == ("roles", 1)
    with pytest.raises(NotFound, match="no member"):
        handle("remove-member", as_role="admin", actor="nobody")


def test_roles_are_per_tenant(handle: Handle) -> None:
    handle.given("create-tenant", as_role="platform", slug="globex", name="Globex")
    handle.given("define-role", name="clerk", grants=["data:write"])
    with pytest.raises(Forbidden):
        handle("create-group", as_role="clerk", tenant="globex", name="x")
