"""Tenant: an organisation with its own data, users and settings."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID
from zoneinfo import available_timezones

from eventsourcing.domain import Aggregate, event

from domain.calendar import DEFAULT_WORKING_HOURS, parse_holidays, parse_working_hours
from domain.errors import InvalidInput
from domain.ids import tenant_id_for
from domain.names import clean_name

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
LOCALE = re.compile(r"^[a-z]{2,3}(?:-[A-Z]{2})?$")
DEFAULT_SETTINGS: dict[str, Any] = {
    "timezone": "UTC",
    "locale": "en",
    "commands_per_second": 1_000,
    "deliveries_per_second": 200,
    # the read API's quotas: a query's cost (fields x page sizes), per request and per minute,
    # and the subscriptions open at once in one API process
    "graphql_cost_per_request": 10_000,
    "graphql_cost_per_minute": 1_000_000,
    "subscriptions": 1_000,
    # search typo tolerance, as Meilisearch's: words this long get 1 typo, then 2
    "typo_tolerance": True,
    "min_word_size_for_one_typo": 5,
    "min_word_size_for_two_typos": 9,
    # business time, for SLAs counted in working hours (in the tenant's timezone)
    "working_hours": DEFAULT_WORKING_HOURS,
    "holidays": [],
    # imports: a sheet's largest size, and the rows a tenant may import per (UTC) day
    "import_max_rows": 1_000_000,
    "import_max_columns": 500,
    "import_rows_per_day": 2_000_000,
}
MIN_ONE_TYPO, MIN_TWO_TYPOS, MAX_WORD_SIZE = 3, 7, 100
"""Search keeps each word's variants with up to two letters deleted from seven letters on, one
below: a word needs its second deletion only for a typed word as long as it or shorter, and
two typos need a typed word of seven letters at least."""
LIMITS: dict[str, tuple[int, int]] = {
    "commands_per_second": (1, 100_000),
    "deliveries_per_second": (1, 100_000),
    "graphql_cost_per_request": (1, 1_000_000),
    "graphql_cost_per_minute": (1, 1_000_000_000),
    "subscriptions": (1, 1_000_000),
    "import_max_rows": (1, 10_000_000),
    "import_max_columns": (1, 16_384),
    "import_rows_per_day": (1, 100_000_000),
}
"""Each whole-number limit's lowest and highest value."""
_TIMEZONES = frozenset(available_timezones())


def normalise_settings(raw: dict[str, Any]) -> dict[str, Any]:
    """Merge given settings over the defaults and check each one."""
    unknown = sorted(set(raw) - set(DEFAULT_SETTINGS))
    if unknown:
        raise InvalidInput(f"unknown setting {unknown[0]!r}", ("settings", unknown[0]))
    settings = {**DEFAULT_SETTINGS, **raw}
    if not isinstance(settings["timezone"], str) or settings["timezone"] not in _TIMEZONES:
        raise InvalidInput("not an IANA timezone", ("settings", "timezone"))
    if not isinstance(settings["locale"], str) or not LOCALE.match(settings["locale"]):
        raise InvalidInput("not a locale like 'en' or 'en-GB'", ("settings", "locale"))
    for key, (low, high) in LIMITS.items():
        value = settings[key]
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise InvalidInput(f"must be an integer from {low} to {high}", ("settings", key))
    if settings["graphql_cost_per_minute"] < settings["graphql_cost_per_request"]:
        # the minute's budget is also its burst: a query it cannot hold could never run
        raise InvalidInput(
            "must not be below graphql_cost_per_request", ("settings", "graphql_cost_per_minute")
        )
    _check_typos(settings)
    parse_working_hours(settings["working_hours"])
    parse_holidays(settings["holidays"])
    return settings


def _check_typos(settings: dict[str, Any]) -> None:
    if not isinstance(settings["typo_tolerance"], bool):
        raise InvalidInput("must be true or false", ("settings", "typo_tolerance"))
    for key, low in (
        ("min_word_size_for_one_typo", MIN_ONE_TYPO),
        ("min_word_size_for_two_typos", MIN_TWO_TYPOS),
    ):
        size = settings[key]
        if not isinstance(size, int) or isinstance(size, bool) or not low <= size <= MAX_WORD_SIZE:
            raise InvalidInput(
                f"must be an integer from {low} to {MAX_WORD_SIZE}", ("settings", key)
            )
    if settings["min_word_size_for_one_typo"] > settings["min_word_size_for_two_typos"]:
        raise InvalidInput(
            "must not be above min_word_size_for_two_typos",
            ("settings", "min_word_size_for_one_typo"),
        )


class Tenant(Aggregate):
    class Created(Aggregate.Created):
        """v1 tenants had no settings; v2 added them (see upcast_v1_v2)."""

        class_version = 2
        slug: str
        name: str
        settings: dict[str, Any]

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["settings"] = dict(DEFAULT_SETTINGS)

    @staticmethod
    def create_id(slug: str) -> UUID:
        return tenant_id_for(slug)

    @event(Created)
    def __init__(self, slug: str, name: str, settings: dict[str, Any]) -> None:
        self.slug = slug
        self.name = name
        self.settings = settings

    @classmethod
    def create(cls, slug: str, name: str, settings: dict[str, Any]) -> Tenant:
        if not SLUG.match(slug):
            raise InvalidInput("lower-case letters, digits and dashes, 1-63 chars", ("slug",))
        return cls(slug=slug, name=clean_name(name), settings=normalise_settings(settings))

    @property
    def tenant_id(self) -> UUID:
        return self.id

    def setting(self, name: str) -> Any:
        """A setting's value; tenants created before a setting existed have its default."""
        return self.settings.get(name, DEFAULT_SETTINGS[name])

    def rename(self, name: str) -> None:
        self._renamed(clean_name(name))

    @event("Renamed")
    def _renamed(self, name: str) -> None:
        self.name = name

    def change_settings(self, changes: dict[str, Any]) -> None:
        self._settings_changed(normalise_settings({**self.settings, **changes}))

    @event("SettingsChanged")
    def _settings_changed(self, settings: dict[str, Any]) -> None:
        self.settings = settings
