"""Tenant commands."""

from __future__ import annotations

from typing import Any

from commands.context import CommandContext, Recorded
from commands.registry import Command, CommandSpec
from domain.ids import tenant_id_for
from domain.tenant import Tenant


class CreateTenant(Command):
    """Create an organisation; its slug is unique across the platform."""

    slug: str
    name: str
    settings: dict[str, Any] = {}


def create_tenant(cmd: CreateTenant, ctx: CommandContext) -> Recorded:
    ctx.reserve(tenant_id_for(cmd.slug), f"tenant slug {cmd.slug!r}", ("slug",))
    return ctx.save(Tenant.create(cmd.slug, cmd.name, cmd.settings))


class RenameTenant(Command):
    """Rename the caller's own organisation."""

    name: str
    expected_version: int | None = None


def rename_tenant(cmd: RenameTenant, ctx: CommandContext) -> Recorded:
    tenant = ctx.load(Tenant, ctx.tenant_id, cmd.expected_version)
    tenant.rename(cmd.name)
    return ctx.save(tenant)


class ChangeTenantSettings(Command):
    """Change timezone, locale or rate limits of the caller's organisation."""

    settings: dict[str, Any]
    expected_version: int | None = None


def change_tenant_settings(cmd: ChangeTenantSettings, ctx: CommandContext) -> Recorded:
    tenant = ctx.load(Tenant, ctx.tenant_id, cmd.expected_version)
    tenant.change_settings(cmd.settings)
    return ctx.save(tenant)


SPECS: list[CommandSpec[Any]] = [
    CommandSpec("create-tenant", CreateTenant, create_tenant, permission="tenants:create"),
    CommandSpec("rename-tenant", RenameTenant, rename_tenant, permission="tenant:manage"),
    CommandSpec(
        "change-tenant-settings",
        ChangeTenantSettings,
        change_tenant_settings,
        permission="tenant:manage",
    ),
]
