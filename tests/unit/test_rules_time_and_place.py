"""Rule operators that depend on the clock and timezone, on the previous state, or on distance."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from domain.rules import RuleInput, compile_rule

PARIS = "Europe/Paris"
# 2026-03-10 13:00 in Paris (CET, +01:00).
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def holds(
    rule: object,
    data: dict[str, Any],
    *,
    now: datetime = NOW,
    tz: str = PARIS,
    previous: dict[str, Any] | None = None,
) -> bool:
    return compile_rule(rule).evaluate(RuleInput(data, previous, now, tz))


def value(rule: object, *, now: datetime = NOW, tz: str = PARIS) -> Any:
    return compile_rule(rule).value(RuleInput({}, None, now, tz))


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"before": ["2026-03-01T10:00:00Z", "2026-03-01T10:00:01Z"]}, True),
        ({"before": ["2026-03-01T10:00:00Z", "2026-03-01T10:00:00Z"]}, False),
        ({"on_or_before": ["2026-03-01T10:00:00Z", "2026-03-01T10:00:00Z"]}, True),
        ({"on_or_before": ["2026-03-01T10:00:01Z", "2026-03-01T10:00:00Z"]}, False),
        ({"after": ["2026-03-01T11:00:00+01:00", "2026-03-01T09:59:00Z"]}, True),
        ({"after": ["2026-03-01T11:00:00+01:00", "2026-03-01T10:00:00Z"]}, False),
        ({"on_or_after": ["2026-03-01T11:00:00+01:00", "2026-03-01T10:00:00Z"]}, True),
        ({"on_or_after": ["2026-02-28", "2026-03-01"]}, False),
        ({"before": [{"var": "due"}, {"today": 0}]}, True),  # due yesterday
        ({"before": [{"var": "due"}, {"today": -1}]}, False),
        ({"on_or_after": [{"var": "due"}, {"today": -1}]}, True),
        ({"before": [{"var": "missing"}, {"today": 0}]}, False),
        ({"after": [{"var": "missing"}, {"today": 0}]}, False),
        ({"before": [{"var": "junk"}, {"today": 0}]}, False),
        ({"before": [{"var": "number"}, {"today": 0}]}, False),
    ],
)
def test_date_comparisons(rule: object, expected: bool) -> None:
    data = {"due": "2026-03-09", "junk": "next week", "number": 20260301}
    assert holds(rule, data) is expected


def test_today_is_the_start_of_the_local_day_in_the_tenant_timezone() -> None:
    assert value({"today": 0}) == datetime(2026, 3, 9, 23, 0, tzinfo=UTC)
    assert value({"today": 2}) == datetime(2026, 3, 11, 23, 0, tzinfo=UTC)
    assert value({"today": 0}, tz="America/New_York") == datetime(2026, 3, 10, 4, tzinfo=UTC)
    # 23:30 UTC on the 10th is already the 11th in Paris.
    late = datetime(2026, 3, 10, 23, 30, tzinfo=UTC)
    assert value({"today": 0}, now=late) == datetime(2026, 3, 10, 23, 0, tzinfo=UTC)


def test_a_bare_date_means_local_midnight() -> None:
    # 23:30 UTC on the 8th is 00:30 on the 9th in Paris: after the start of the 9th.
    rule = {"before": ["2026-03-08T23:30:00Z", "2026-03-09"]}
    assert not holds(rule, {})
    assert holds(rule, {}, tz="UTC")
    # Python date and naive datetime values in the data are local too.
    assert holds({"after": [{"var": "d"}, "2026-03-08T22:59:00Z"]}, {"d": date(2026, 3, 9)})
    assert not holds({"after": [{"var": "d"}, "2026-03-08T23:00:00Z"]}, {"d": date(2026, 3, 9)})
    naive = datetime(2026, 3, 9, 8, 0)
    assert holds({"on_or_after": [{"var": "d"}, "2026-03-09T07:00:00Z"]}, {"d": naive})
    aware = datetime(2026, 3, 9, 8, 0, tzinfo=timezone(timedelta(hours=5)))
    assert holds({"before": [{"var": "d"}, "2026-03-09T03:01:00Z"]}, {"d": aware})


def test_days_around_spring_forward_are_local_days() -> None:
    # 29 March 2026: Paris moves from +01:00 to +02:00 at 02:00; that day has 23 hours.
    now = datetime(2026, 3, 29, 10, 0, tzinfo=UTC)  # noon in Paris
    assert value({"today": 0}, now=now) == datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    assert value({"today": 1}, now=now) == datetime(2026, 3, 29, 22, 0, tzinfo=UTC)
    # 22:30 UTC is 00:30 on the 30th: after the start of tomorrow, though not 24 h after today.
    assert holds({"after": ["2026-03-29T22:30:00Z", {"today": 1}]}, {}, now=now)
    within_today = {"within_next_days": [{"var": "t"}, 0]}
    assert holds(within_today, {"t": "2026-03-29T21:59:00Z"}, now=now)
    assert not holds(within_today, {"t": "2026-03-29T22:00:00Z"}, now=now)


def test_days_around_fall_back_are_local_days() -> None:
    # 25 October 2026: Paris moves from +02:00 back to +01:00; that day has 25 hours.
    now = datetime(2026, 10, 25, 11, 0, tzinfo=UTC)  # noon in Paris
    assert value({"today": 0}, now=now) == datetime(2026, 10, 24, 22, 0, tzinfo=UTC)
    assert value({"today": 1}, now=now) == datetime(2026, 10, 25, 23, 0, tzinfo=UTC)
    since_midnight = {"within_last_days": [{"var": "t"}, 0]}
    assert holds(since_midnight, {"t": "2026-10-24T22:00:00Z"}, now=now)
    assert not holds(since_midnight, {"t": "2026-10-24T21:59:59Z"}, now=now)


def test_a_day_whose_midnight_does_not_exist_starts_after_the_gap() -> None:
    # Santiago skips 00:00-01:00 on 6 September 2026: the day starts at 01:00 (-03:00).
    now = datetime(2026, 9, 6, 15, 0, tzinfo=UTC)
    start = value({"today": 0}, now=now, tz="America/Santiago")
    assert start == datetime(2026, 9, 6, 4, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("moment", "days", "expected"),
    [
        ("2026-03-10T11:59:00Z", 0, True),  # earlier today
        ("2026-03-09T23:00:00Z", 0, True),  # local midnight, inclusive
        ("2026-03-09T22:59:59Z", 0, False),  # yesterday, local time
        ("2026-03-09T22:59:59Z", 1, True),
        ("2026-03-03T08:00:00+01:00", 7, True),
        ("2026-03-02T23:59:00+01:00", 7, False),
        ("2026-03-10T12:00:00Z", 3, True),  # now, inclusive
        ("2026-03-10T12:00:01Z", 3, False),  # the future is not "the last days"
        ("2026-03-08", 2, True),
        (None, 7, False),
        ("2026-03-10T11:00:00Z", -1, False),
        ("2026-03-10T11:00:00Z", 1.5, False),
    ],
)
def test_within_last_days(moment: str | None, days: float, expected: bool) -> None:
    assert holds({"within_last_days": [{"var": "t"}, days]}, {"t": moment}) is expected


@pytest.mark.parametrize(
    ("moment", "days", "expected"),
    [
        ("2026-03-10T12:00:00Z", 0, True),  # now, inclusive
        ("2026-03-10T22:59:59Z", 0, True),  # until the end of today, local time
        ("2026-03-10T23:00:00Z", 0, False),
        ("2026-03-10T23:00:00Z", 1, True),
        ("2026-03-17", 7, True),
        ("2026-03-18", 7, False),
        ("2026-03-10T11:59:59Z", 7, False),  # the past is not "the next days"
        ("soon", 7, False),
    ],
)
def test_within_next_days(moment: str, days: int, expected: bool) -> None:
    assert holds({"within_next_days": [{"var": "t"}, days]}, {"t": moment}) is expected


BEFORE = {"data": {"status": "open", "severity": 2, "flag": 1, "n": 1, "tags": ["a"]}}
AFTER = {"data": {"status": "closed", "severity": 2, "flag": True, "n": 1.0, "tags": ["a", "b"]}}


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"changed": ["data.status"]}, True),
        ({"changed": ["data.severity"]}, False),
        ({"changed": ["data.flag"]}, True),  # 1 became true: a different value
        ({"changed": ["data.n"]}, False),  # 1 and 1.0 are the same number
        ({"changed": ["data.tags"]}, True),
        ({"changed": ["data.nothing"]}, False),
        ({"changed_from": ["data.status", "open"]}, True),
        ({"changed_from": ["data.status", "closed"]}, False),
        ({"changed_to": ["data.status", "closed"]}, True),
        ({"changed_to": ["data.status", "open"]}, False),
        ({"changed_to": ["data.severity", 2]}, False),  # equal, but it did not change
        (
            {
                "and": [
                    {"changed_to": ["data.status", "closed"]},
                    {">=": [{"var": "data.severity"}, 2]},
                ]
            },
            True,
        ),
    ],
)
def test_change_operators_compare_with_the_previous_state(rule: object, expected: bool) -> None:
    assert holds(rule, AFTER, previous=BEFORE) is expected


def test_a_field_appearing_or_disappearing_is_a_change() -> None:
    assert holds({"changed_to": ["data.owner", "ann"]}, {"data": {"owner": "ann"}}, previous={})
    assert holds({"changed_from": ["data.owner", "ann"]}, {"data": {}}, previous={"data": {"owner": "ann"}})  # fmt: skip


def test_without_a_previous_state_nothing_changed() -> None:
    assert not holds({"changed": ["data.status"]}, AFTER)
    assert not holds({"changed_to": ["data.status", "closed"]}, AFTER)


def test_change_paths_read_the_record_even_inside_some() -> None:
    rule = {"some": [{"var": "data.tags"}, {"changed": ["data.status"]}]}
    assert holds(rule, AFTER, previous=BEFORE)


PARIS_CENTRE = {"lat": 48.8566, "lon": 2.3522}  # Versailles is ~17 km away


@pytest.mark.parametrize(
    ("point", "km", "expected"),
    [
        (PARIS_CENTRE, 20, True),
        (PARIS_CENTRE, 15, False),
        ({"lat": 48.8049, "lon": 2.1204}, 0.1, True),  # the same place
        ({"lat": 48.8049, "lon": 2.1204}, 0, True),
        ({"lat": 91, "lon": 2}, 20_000, False),  # not a valid point
        ({"lat": "48.8", "lon": 2}, 20_000, False),
        ({"lon": 2}, 20_000, False),
        (None, 20_000, False),
        ("48.8,2.1", 20_000, False),
    ],
)
def test_within_km_of_versailles(point: Any, km: float, expected: bool) -> None:
    rule = {"within_km": [{"var": "location"}, 48.8049, 2.1204, km]}
    assert holds(rule, {"location": point}) is expected


def test_within_km_across_the_antimeridian_and_with_computed_centres() -> None:
    # ~22 km apart across longitude 180, not ~40,000.
    rule = {"within_km": [{"var": "here"}, 0, -179.9, 25]}
    assert holds(rule, {"here": {"lat": 0, "lon": 179.9}})
    computed = {"within_km": [{"var": "a"}, {"var": "b.lat"}, {"var": "b.lon"}, {"var": "r"}]}
    data = {"a": PARIS_CENTRE, "b": {"lat": 48.8049, "lon": 2.1204}, "r": 18}
    assert holds(computed, data)
    assert not holds(computed, {**data, "r": 17})
    assert not holds(computed, {**data, "r": None})
