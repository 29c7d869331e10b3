"""Tenant commands in memory: create (platform), rename and change settings (tenant admin)."""

from __future__ import annotations

import pytest

from commands.auth import Forbidden
from domain.errors import Conflict, InvalidInput, NotFound
from domain.tenant import DEFAULT_SETTINGS, Tenant

ACME = Tenant.create_id("acme")
GLOBEX = Tenant.create_id("globex")


def test_a_platform_operator_creates_a_tenant_with_the_default_settings(handle):
    recorded = handle("create-tenant", as_role="platform", slug="globex", name=" Globex ")
    assert handle.then == ["Tenant.Created"]
    assert (recorded.id, recorded.version, recorded.position) == (GLOBEX, 1, 2)
    tenant = handle.load(Tenant, GLOBEX)
    assert (tenant.slug, tenant.name) == ("globex", "Globex")
    assert tenant.settings == DEFAULT_SETTINGS


def test_given_settings_are_merged_over_the_defaults(handle):
    settings = {"timezone": "Europe/Paris", "locale": "fr-FR", "commands_per_second": 5}
    handle("create-tenant", as_role="platform", slug="globex", name="Globex", settings=settings)
    assert handle.load(Tenant, GLOBEX).settings == {**DEFAULT_SETTINGS, **settings}
    assert handle.events[0].data["settings"]["timezone"] == "Europe/Paris"


def test_a_platform_token_needs_no_tenant_of_its_own_to_create_one(handle):
    handle("create-tenant", as_role="platform", tenant="operators", slug="globex", name="Globex")
    assert handle.then == ["Tenant.Created"]


@pytest.mark.parametrize("role", ["admin", "editor", "automation", "viewer"])
def test_only_the_platform_role_may_create_a_tenant(handle, role):
    with pytest.raises(Forbidden, match="tenants:create"):
        handle("create-tenant", as_role=role, slug="globex", name="Globex")
    assert handle.then == []


def test_a_taken_slug_is_a_conflict(handle):
    with pytest.raises(Conflict, match="tenant slug 'acme' is already taken") as refused:
        handle("create-tenant", as_role="platform", slug="acme", name="Another Acme")
    assert refused.value.path == ("slug",)
    assert handle.then == []
    assert handle.load(Tenant, ACME).name == "Acme"


def test_a_slug_being_taken_by_a_racing_request_is_refused(handle):
    key = f"reserve:{GLOBEX}"
    handle.locks.held[key] = "the other request"
    with pytest.raises(Conflict, match="already taken") as refused:
        handle("create-tenant", as_role="platform", slug="globex", name="Globex")
    assert refused.value.path == ("slug",)
    assert handle.then == []
    del handle.locks.held[key]
    handle("create-tenant", as_role="platform", slug="globex", name="Globex")
    assert handle.then == ["Tenant.Created"]


@pytest.mark.parametrize(
    "slug", ["Globex", "-globex", "globex-", "glo bex", "glo_bex", "", "a" * 64]
)
def test_a_malformed_slug_is_refused(handle, slug):
    with pytest.raises(InvalidInput, match="lower-case letters") as refused:
        handle("create-tenant", as_role="platform", slug=slug, name="Globex")
    assert refused.value.path == ("slug",)
    assert handle.then == []


def test_a_blank_name_is_refused(handle):
    with pytest.raises(InvalidInput, match="1-200 characters") as refused:
        handle("create-tenant", as_role="platform", slug="globex", name="   ")
    assert refused.value.path == ("name",)
    assert handle.then == []


BAD_SETTINGS = [
    ({"colour": "red"}, "colour"),
    ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
    ({"locale": "english"}, "locale"),
    ({"commands_per_second": 0}, "commands_per_second"),
    ({"graphql_cost_per_request": 0}, "graphql_cost_per_request"),
    ({"graphql_cost_per_minute": "lots"}, "graphql_cost_per_minute"),
    ({"graphql_cost_per_request": 500, "graphql_cost_per_minute": 499}, "graphql_cost_per_minute"),
    ({"subscriptions": 1_000_001}, "subscriptions"),
    ({"subscriptions": True}, "subscriptions"),
    ({"deliveries_per_second": True}, "deliveries_per_second"),
    ({"deliveries_per_second": 100_001}, "deliveries_per_second"),
    ({"typo_tolerance": "yes"}, "typo_tolerance"),
    ({"min_word_size_for_one_typo": 2}, "min_word_size_for_one_typo"),
    ({"min_word_size_for_two_typos": 101}, "min_word_size_for_two_typos"),
    (
        {"min_word_size_for_one_typo": 8, "min_word_size_for_two_typos": 7},
        "min_word_size_for_one_typo",
    ),
]


@pytest.mark.parametrize(("settings", "key"), BAD_SETTINGS)
def test_a_tenant_with_an_invalid_setting_is_refused_with_its_path(handle, settings, key):
    with pytest.raises(InvalidInput) as refused:
        handle("create-tenant", as_role="platform", slug="globex", name="G", settings=settings)
    assert refused.value.path == ("settings", key)
    assert handle.then == []


def test_a_timezone_that_is_not_a_string_is_invalid_input(handle):
    with pytest.raises(InvalidInput) as refused:
        handle(
            "create-tenant",
            as_role="platform",
            slug="globex",
            name="Globex",
            settings={"timezone": ["UTC"]},
        )
    assert refused.value.path == ("settings", "timezone")
    assert handle.then == []


def test_an_idempotent_retry_creates_the_tenant_once(handle):
    first = handle(
        "create-tenant", as_role="platform", idempotency_key="k1", slug="globex", name="Globex"
    )
    again = handle(
        "create-tenant", as_role="platform", idempotency_key="k1", slug="globex", name="Globex"
    )
    assert again == first
    assert handle.then == ["Tenant.Created", "CommandReceipt.Issued"]


def test_an_admin_renames_the_tenant(handle):
    recorded = handle("rename-tenant", as_role="admin", name=" Acme Corp ", expected_version=1)
    assert handle.then == ["Tenant.Renamed"]
    assert (recorded.id, recorded.version) == (ACME, 2)
    assert handle.load(Tenant, ACME).name == "Acme Corp"


def test_a_rename_to_a_blank_name_is_refused(handle):
    with pytest.raises(InvalidInput) as refused:
        handle("rename-tenant", as_role="admin", name="")
    assert refused.value.path == ("name",)
    assert handle.then == []


def test_a_tenant_admin_renames_only_their_own_tenant(handle):
    handle.given("create-tenant", as_role="platform", slug="globex", name="Globex")
    recorded = handle("rename-tenant", as_role="admin", tenant="globex", name="Globex Corp")
    assert recorded.id == GLOBEX
    assert handle.load(Tenant, GLOBEX).name == "Globex Corp"
    assert handle.load(Tenant, ACME).name == "Acme"


def test_a_tenant_that_was_never_created_cannot_be_managed(handle):
    with pytest.raises(NotFound, match="tenant does not exist"):
        handle("rename-tenant", as_role="admin", tenant="nowhere", name="Nowhere")
    assert handle.then == []


TENANT_MANAGEMENT = [
    ("rename-tenant", {"name": "Acme Corp"}),
    ("change-tenant-settings", {"settings": {"locale": "de"}}),
]


@pytest.mark.parametrize("role", ["platform", "editor", "automation", "viewer"])
@pytest.mark.parametrize(("command", "body"), TENANT_MANAGEMENT)
def test_only_a_tenant_admin_manages_the_tenant(handle, role, command, body):
    with pytest.raises(Forbidden, match="tenant:manage"):
        handle(command, as_role=role, **body)
    assert handle.then == []


@pytest.mark.parametrize(("command", "body"), TENANT_MANAGEMENT)
def test_a_stale_expected_version_is_a_conflict(handle, command, body):
    handle.given("rename-tenant", name="Acme Corp")
    with pytest.raises(Conflict, match="expected version 1, but it is at 2") as refused:
        handle(command, as_role="admin", expected_version=1, **body)
    assert refused.value.path == ("expected_version",)
    assert handle.then == []


def test_changed_settings_are_merged_over_the_current_ones(handle):
    handle("change-tenant-settings", as_role="admin", settings={"timezone": "Europe/Berlin"})
    recorded = handle("change-tenant-settings", as_role="admin", settings={"locale": "de-DE"})
    assert handle.then == ["Tenant.SettingsChanged", "Tenant.SettingsChanged"]
    assert (recorded.id, recorded.version) == (ACME, 3)
    expected = {**DEFAULT_SETTINGS, "timezone": "Europe/Berlin", "locale": "de-DE"}
    assert handle.load(Tenant, ACME).settings == expected
    assert handle.events[1].data["settings"] == expected


@pytest.mark.parametrize(("settings", "key"), BAD_SETTINGS)
def test_an_invalid_settings_change_is_refused_with_its_path(handle, settings, key):
    with pytest.raises(InvalidInput) as refused:
        handle("change-tenant-settings", as_role="admin", settings=settings)
    assert refused.value.path == ("settings", key)
    assert handle.then == []
    assert handle.load(Tenant, ACME).settings == DEFAULT_SETTINGS


def test_a_change_is_checked_against_the_settings_it_keeps(handle):
    handle.given("change-tenant-settings", settings={"min_word_size_for_two_typos": 7})
    with pytest.raises(InvalidInput, match="min_word_size_for_two_typos") as refused:
        handle(
            "change-tenant-settings", as_role="admin", settings={"min_word_size_for_one_typo": 8}
        )
    assert refused.value.path == ("settings", "min_word_size_for_one_typo")
    assert handle.then == []
