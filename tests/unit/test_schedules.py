"""Schedules: parsing, wall-clock recurrences across DST, catch-up and retry pacing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from dateutil.rrule import rrule, rrulestr

from domain.errors import InvalidInput
from domain.schedules import (
    DEFAULT_CATCH_UP,
    At,
    CatchUp,
    Cron,
    Duration,
    Immediate,
    Interval,
    Relative,
    RRule,
    Schedule,
    backoff_delay,
    parse_catch_up,
    parse_duration,
    parse_iso_duration,
    parse_schedule,
)

PARIS = "Europe/Paris"
TRIGGER = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def refusal(raw: object) -> tuple[tuple[str | int, ...], str]:
    with pytest.raises(InvalidInput) as caught:
        parse_schedule(raw)
    return caught.value.path, caught.value.message


# --- parsing and round trips -------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ({"type": "immediate"}, Immediate),
        ({"type": "at", "at": "2026-12-01T09:00:00+01:00"}, At),
        ({"type": "relative", "to": "trigger", "offset": "PT2H"}, Relative),
        ({"type": "relative", "to": "data.due", "offset": "-P1D", "timezone": PARIS}, Relative),
        ({"type": "cron", "cron": "0 9 * * 1-5", "timezone": PARIS}, Cron),
        ({"type": "rrule", "rrule": "FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0"}, RRule),
        ({"type": "interval", "every": "PT15M", "start": "2026-01-01T00:00:00+00:00"}, Interval),
        ({"type": "interval", "every": "P1W"}, Interval),
    ],
)
def test_each_type_parses_and_round_trips_through_to_json(
    raw: dict[str, object], kind: type[Schedule]
) -> None:
    schedule = parse_schedule(raw)
    assert type(schedule) is kind
    assert schedule.to_json() == raw
    assert parse_schedule(schedule.to_json()) == schedule


def test_to_json_writes_canonical_durations_and_keeps_the_given_offset() -> None:
    relative = parse_schedule({"type": "relative", "to": "trigger", "offset": "+pt90m"})
    assert relative.to_json() == {"type": "relative", "to": "trigger", "offset": "PT1H30M"}
    no_offset = parse_schedule({"type": "relative", "to": "trigger"})
    assert no_offset.to_json()["offset"] == "PT0S"
    at = parse_schedule({"type": "at", "at": "2026-12-01T09:00:00Z"})
    assert at.to_json()["at"] == "2026-12-01T09:00:00+00:00"


def test_recurring_and_fields_used() -> None:
    assert not parse_schedule({"type": "immediate"}).recurring
    assert not parse_schedule({"type": "relative", "to": "trigger"}).recurring
    assert parse_schedule({"type": "cron", "cron": "* * * * *"}).recurring
    assert parse_schedule({"type": "interval", "every": "PT1M"}).recurring
    assert parse_schedule({"type": "relative", "to": "data.due"}).fields_used() == {"data.due"}
    assert parse_schedule({"type": "relative", "to": "trigger"}).fields_used() == set()
    assert parse_schedule({"type": "cron", "cron": "0 9 * * *"}).fields_used() == set()


# --- one-shot schedules --------------------------------------------------------------------


def test_immediate_and_at_first_time() -> None:
    assert parse_schedule({"type": "immediate"}).first_time(TRIGGER, {}, PARIS) == TRIGGER
    at = parse_schedule({"type": "at", "at": "2026-12-01T09:00:00+01:00"})
    first = at.first_time(TRIGGER, {}, PARIS)
    assert first == utc(2026, 12, 1, 8)
    assert first is not None
    assert first.tzinfo is UTC


@pytest.mark.parametrize(
    ("offset", "expected"),
    [("PT2H", utc(2026, 6, 10, 14)), ("-PT30M", utc(2026, 6, 10, 11, 30)), ("P0D", TRIGGER)],
)
def test_relative_to_trigger(offset: str, expected: datetime) -> None:
    schedule = parse_schedule({"type": "relative", "to": "trigger", "offset": offset})
    assert schedule.first_time(TRIGGER, {}, PARIS) == expected


def test_relative_days_keep_the_local_time_across_dst() -> None:
    # 09:00 Paris on the day before spring-forward is 08:00Z; one day later it is 07:00Z.
    schedule = parse_schedule({"type": "relative", "to": "trigger", "offset": "P1D"})
    assert schedule.first_time(utc(2026, 3, 28, 8), {}, PARIS) == utc(2026, 3, 29, 7)
    elapsed = parse_schedule({"type": "relative", "to": "trigger", "offset": "PT24H"})
    assert elapsed.first_time(utc(2026, 3, 28, 8), {}, PARIS) == utc(2026, 3, 29, 8)


@pytest.mark.parametrize(
    ("due", "offset", "expected"),
    [
        # A date field is local midnight: 2026-07-01 00:00 Paris (CEST) = 2026-06-30 22:00Z.
        ("2026-07-01", "-P1D", utc(2026, 6, 29, 22)),
        ("2026-07-01", "PT9H", utc(2026, 7, 1, 7)),
        ("2026-01-15", "-PT1H", utc(2026, 1, 14, 22)),
        (date(2026, 1, 15), "P1W", utc(2026, 1, 21, 23)),
        ("2026-07-01T10:00:00+00:00", "-PT2H", utc(2026, 7, 1, 8)),
        ("2026-07-01T10:00:00+00:00", "P2D", utc(2026, 7, 3, 10)),
        (datetime(2026, 7, 1, 10, tzinfo=UTC), "-P1DT1H", utc(2026, 6, 30, 9)),
    ],
)
def test_relative_to_a_date_or_datetime_field(due: object, offset: str, expected: datetime) -> None:
    schedule = parse_schedule({"type": "relative", "to": "data.due", "offset": offset})
    assert schedule.first_time(TRIGGER, {"data": {"due": due}}, PARIS) == expected


def test_relative_uses_its_own_timezone_over_the_tenants() -> None:
    raw = {"type": "relative", "to": "data.due", "offset": "PT0S", "timezone": "Asia/Tokyo"}
    schedule = parse_schedule(raw)
    data = {"data": {"due": "2026-07-01"}}
    assert schedule.first_time(TRIGGER, data, PARIS) == utc(2026, 6, 30, 15)


@pytest.mark.parametrize("data", [{}, {"data": {}}, {"data": {"due": None}}, {"data": {"due": ""}}])
def test_relative_to_a_missing_field_is_none(data: dict[str, Any]) -> None:
    schedule = parse_schedule({"type": "relative", "to": "data.due", "offset": "-P1D"})
    assert schedule.first_time(TRIGGER, data, PARIS) is None


def test_relative_to_an_unreadable_value_is_none() -> None:
    schedule = parse_schedule({"type": "relative", "to": "data.due"})
    assert schedule.first_time(TRIGGER, {"data": {"due": "soon"}}, PARIS) is None
    assert schedule.first_time(TRIGGER, {"data": {"due": 42}}, PARIS) is None


def test_one_shot_schedules_have_no_next_time() -> None:
    with pytest.raises(TypeError):
        parse_schedule({"type": "immediate"}).next_after(TRIGGER, PARIS)


# --- cron and DST --------------------------------------------------------------------------


def test_cron_nine_oclock_paris_across_both_dst_transitions() -> None:
    cron = parse_schedule({"type": "cron", "cron": "0 9 * * *", "timezone": PARIS})
    # The tenant's zone does not matter when the schedule names its own.
    spring = cron.fire_times(utc(2026, 3, 27), utc(2026, 3, 31), "UTC", 10)
    assert spring == [
        utc(2026, 3, 27, 8),
        utc(2026, 3, 28, 8),
        utc(2026, 3, 29, 7),
        utc(2026, 3, 30, 7),
    ]
    autumn = cron.fire_times(utc(2026, 10, 23), utc(2026, 10, 27), "UTC", 10)
    assert autumn == [
        utc(2026, 10, 23, 7),
        utc(2026, 10, 24, 7),
        utc(2026, 10, 25, 8),
        utc(2026, 10, 26, 8),
    ]
    assert cron.next_after(utc(2026, 1, 15, 12), "UTC") == utc(2026, 1, 16, 8)
    assert cron.next_after(utc(2026, 7, 15, 12), "UTC") == utc(2026, 7, 16, 7)


def test_cron_without_timezone_uses_the_tenant_timezone() -> None:
    cron = parse_schedule({"type": "cron", "cron": "0 9 * * *"})
    assert cron.next_after(utc(2026, 1, 15, 12), PARIS) == utc(2026, 1, 16, 8)
    assert cron.next_after(utc(2026, 1, 15, 12), "America/New_York") == utc(2026, 1, 15, 14)


def test_a_time_in_the_spring_gap_fires_when_the_gap_ends() -> None:
    # 2026-03-29 Paris jumps from 02:00 to 03:00: 02:30 does not exist that day.
    cron = parse_schedule({"type": "cron", "cron": "30 2 * * *"})
    times = cron.fire_times(utc(2026, 3, 27), utc(2026, 3, 31), PARIS, 10)
    assert times == [
        utc(2026, 3, 27, 1, 30),
        utc(2026, 3, 28, 1, 30),
        utc(2026, 3, 29, 1),
        utc(2026, 3, 30, 0, 30),
    ]


def test_local_times_sharing_one_gap_fire_once() -> None:
    cron = parse_schedule({"type": "cron", "cron": "*/15 * * * *"})
    times = cron.fire_times(utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 1, 20), PARIS, 10)
    # 01:45 CET, then 02:00-02:45 (skipped) all become 03:00 CEST = 01:00Z, once.
    assert times == [utc(2026, 3, 29, 0, 45), utc(2026, 3, 29, 1), utc(2026, 3, 29, 1, 15)]


def test_an_ambiguous_time_fires_once_at_its_first_occurrence() -> None:
    # 2026-10-25 Paris goes back from 03:00 CEST to 02:00 CET: 02:30 happens twice.
    cron = parse_schedule({"type": "cron", "cron": "30 2 * * *"})
    times = cron.fire_times(utc(2026, 10, 23), utc(2026, 10, 27), PARIS, 10)
    assert times == [
        utc(2026, 10, 23, 0, 30),
        utc(2026, 10, 24, 0, 30),
        utc(2026, 10, 25, 0, 30),
        utc(2026, 10, 26, 1, 30),
    ]
    # Asking from inside the repeated hour does not fire the second 02:30 either.
    assert cron.next_after(utc(2026, 10, 25, 1, 0), PARIS) == utc(2026, 10, 26, 1, 30)


def test_next_after_is_strictly_after_and_accepts_any_aware_datetime() -> None:
    cron = parse_schedule({"type": "cron", "cron": "0 9 * * *", "timezone": PARIS})
    assert cron.next_after(utc(2026, 1, 15, 8), PARIS) == utc(2026, 1, 16, 8)
    in_paris = datetime(2026, 1, 15, 9, tzinfo=cron.zone(PARIS))
    assert cron.next_after(in_paris, PARIS) == utc(2026, 1, 16, 8)
    with pytest.raises(ValueError, match="timezone-aware"):
        cron.next_after(datetime(2026, 1, 15), PARIS)


# --- rrule and interval --------------------------------------------------------------------


def test_rrule_weekly_on_mondays_at_nine_local() -> None:
    raw = {"type": "rrule", "rrule": "FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0", "timezone": PARIS}
    rule = parse_schedule(raw)
    times = rule.fire_times(utc(2026, 3, 20), utc(2026, 4, 10), "UTC", 10)
    assert times == [utc(2026, 3, 23, 8), utc(2026, 3, 30, 7), utc(2026, 4, 6, 7)]
    assert rule.next_after(utc(2026, 3, 30, 7), "UTC") == utc(2026, 4, 6, 7)


def test_rrule_spring_gap_and_fall_back_follow_the_same_rules_as_cron() -> None:
    rule = parse_schedule({"type": "rrule", "rrule": "RRULE:FREQ=DAILY;BYHOUR=2;BYMINUTE=30"})
    assert rule.next_after(utc(2026, 3, 28, 12), PARIS) == utc(2026, 3, 29, 1)
    times = rule.fire_times(utc(2026, 10, 24, 12), utc(2026, 10, 26, 12), PARIS, 10)
    assert times == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]


def test_rrule_interval_keeps_its_phase_far_from_the_anchor() -> None:
    rule = parse_schedule({"type": "rrule", "rrule": "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO"})
    near = rule.fire_times(utc(2026, 1, 1), utc(2026, 3, 1), "UTC", 3)
    assert [later - earlier for earlier, later in pairwise(near)] == [timedelta(weeks=2)] * 2
    far = rule.next_after(near[0] + timedelta(weeks=52 * 30), "UTC")
    assert (far - near[0]) % timedelta(weeks=2) == timedelta(0)


@pytest.mark.parametrize(
    "text",
    [
        "FREQ=WEEKLY;INTERVAL=3;BYDAY=FR,SA;BYSETPOS=1",
        "FREQ=MONTHLY;INTERVAL=5;BYDAY=-1FR;BYHOUR=17",
        "FREQ=YEARLY;INTERVAL=3;BYMONTH=2;BYMONTHDAY=29",
        "FREQ=DAILY;INTERVAL=9;BYHOUR=8,20",
        "FREQ=HOURLY;INTERVAL=5;BYHOUR=3,4",
        "FREQ=MINUTELY;INTERVAL=7;BYHOUR=12",
    ],
)
def test_rrule_restarting_near_the_query_matches_iterating_from_the_anchor(text: str) -> None:
    # The plain dateutil rule, walked from its anchor, is the reference.
    reference = rrulestr(text, dtstart=datetime(2000, 1, 1))
    assert isinstance(reference, rrule)
    low, high = datetime(2026, 3, 1), datetime(2030, 3, 1)
    expected = [moment.replace(tzinfo=UTC) for moment in reference.between(low, high, inc=False)]
    schedule = parse_schedule({"type": "rrule", "rrule": text})
    got = schedule.fire_times(low.replace(tzinfo=UTC), high.replace(tzinfo=UTC), "UTC", 500)
    assert got == expected[:500]


def test_interval_elapsed_steps_from_start() -> None:
    raw = {"type": "interval", "every": "PT15M", "start": "2026-01-01T00:05:00Z"}
    interval = parse_schedule(raw)
    assert interval.next_after(utc(2025, 1, 1), PARIS) == utc(2026, 1, 1, 0, 5)
    assert interval.next_after(utc(2026, 1, 1, 0, 5), PARIS) == utc(2026, 1, 1, 0, 20)
    assert interval.fire_times(utc(2026, 1, 1, 1), utc(2026, 1, 1, 1, 40), PARIS, 10) == [
        utc(2026, 1, 1, 1, 5),
        utc(2026, 1, 1, 1, 20),
        utc(2026, 1, 1, 1, 35),
    ]
    unanchored = parse_schedule({"type": "interval", "every": "PT15M"})
    assert unanchored.next_after(utc(2026, 5, 5, 10, 7), PARIS) == utc(2026, 5, 5, 10, 15)


def test_interval_in_days_keeps_the_local_time() -> None:
    raw = {"type": "interval", "every": "P1D", "start": "2026-03-27T09:00:00+01:00"}
    daily = parse_schedule(raw)
    times = daily.fire_times(utc(2026, 3, 1), utc(2026, 3, 30, 12), PARIS, 10)
    assert times == [
        utc(2026, 3, 27, 8),
        utc(2026, 3, 28, 8),
        utc(2026, 3, 29, 7),
        utc(2026, 3, 30, 7),
    ]


def test_fire_times_range_and_limit() -> None:
    cron = parse_schedule({"type": "cron", "cron": "0 * * * *"})
    hours = cron.fire_times(utc(2026, 1, 1), utc(2026, 1, 1, 5), "UTC", 100)
    assert hours == [utc(2026, 1, 1, hour) for hour in range(1, 6)]  # (after, until]
    assert cron.fire_times(utc(2026, 1, 1), utc(2026, 1, 1, 5), "UTC", 2) == hours[:2]
    assert cron.fire_times(utc(2026, 1, 1), utc(2026, 1, 1, 5), "UTC", 0) == []
    assert cron.fire_times(utc(2026, 1, 2), utc(2026, 1, 1), "UTC", 10) == []
    # A range of centuries costs only the requested items.
    minutely = parse_schedule({"type": "rrule", "rrule": "FREQ=MINUTELY;INTERVAL=5"})
    many = minutely.fire_times(utc(2026, 1, 1), utc(2400, 1, 1), PARIS, 1000)
    assert len(many) == 1000
    assert all(b - a == timedelta(minutes=5) for a, b in pairwise(many))
    assert minutely.fire_times(utc(2090, 1, 1), utc(2090, 1, 1, 0, 10), "UTC", 5) == [
        utc(2090, 1, 1, 0, 5),
        utc(2090, 1, 1, 0, 10),
    ]


# --- catch-up and backoff ------------------------------------------------------------------

NOW = utc(2026, 5, 1, 12)
MISSED = [NOW - timedelta(minutes=minutes) for minutes in (180, 90, 45, 10)]


def test_catch_up_skip_once_all_with_window() -> None:
    recent, old = MISSED[2:], MISSED[:2]
    assert CatchUp("skip", timedelta(hours=1)).select(MISSED, NOW) == ([], MISSED)
    assert CatchUp("once", timedelta(hours=1)).select(MISSED, NOW) == ([MISSED[3]], MISSED[:3])
    assert CatchUp("all", timedelta(hours=1)).select(MISSED, NOW) == (recent, old)
    assert CatchUp("once", timedelta(minutes=5)).select(MISSED, NOW) == ([], MISSED)
    assert CatchUp("all", timedelta(hours=4)).select(list(reversed(MISSED)), NOW) == (MISSED, [])
    assert CatchUp("once").select([], NOW) == ([], [])


def test_parse_catch_up() -> None:
    assert parse_catch_up(None) == DEFAULT_CATCH_UP == CatchUp("once", timedelta(hours=1))
    parsed = parse_catch_up({"policy": "all", "window": "PT30M"})
    assert parsed == CatchUp("all", timedelta(minutes=30))
    assert parse_catch_up(parsed.to_json()) == parsed
    assert parse_catch_up({"policy": "skip"}) == CatchUp("skip", timedelta(hours=1))


@pytest.mark.parametrize(
    ("raw", "path", "message"),
    [
        ({"policy": "twice"}, ("catch_up", "policy"), "must be one of skip, once, all"),
        ({"window": "-PT1H"}, ("catch_up", "window"), "must not be negative"),
        ({"window": "an hour"}, ("catch_up", "window"), "must be an ISO 8601 duration"),
        ({"windw": "PT1H"}, ("catch_up", "windw"), "unknown key"),
        ("once", ("catch_up",), "must be an object"),
    ],
)
def test_catch_up_refusals(raw: object, path: tuple[str, ...], message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_catch_up(raw)
    assert caught.value.path == path
    assert caught.value.message.startswith(message)


def test_backoff_grows_then_caps_and_jitter_scales_between_half_and_full() -> None:
    assert [backoff_delay(n, 2.0, 60.0, 0.0) for n in range(1, 7)] == [1, 2, 4, 8, 16, 30]
    assert [backoff_delay(n, 2.0, 60.0, 0.999999) for n in range(1, 3)] == pytest.approx([2, 4])
    assert backoff_delay(3, 2.0, 60.0, 0.5) == 6.0
    assert backoff_delay(10_000, 2.0, 60.0, 0.0) == 30.0
    for jitter in (0.0, 0.25, 0.5, 0.75, 0.99):
        assert 15.0 <= backoff_delay(20, 1.0, 30.0, jitter) < 30.0
    with pytest.raises(ValueError, match="jitter"):
        backoff_delay(1, 1.0, 10.0, 1.0)
    with pytest.raises(ValueError, match="attempt"):
        backoff_delay(0, 1.0, 10.0, 0.0)


# --- durations -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT15M", timedelta(minutes=15)),
        ("-P1D", timedelta(days=-1)),
        ("+P2W", timedelta(weeks=2)),
        ("P1DT2H3M4.5S", timedelta(days=1, hours=2, minutes=3, seconds=4.5)),
        ("-PT1H30M", -timedelta(hours=1, minutes=30)),
        ("PT0S", timedelta(0)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text, ("d",)) == expected
    assert parse_iso_duration(parse_iso_duration(text).to_iso()) == parse_iso_duration(text)


def test_durations_keep_calendar_days_apart_from_hours() -> None:
    assert parse_iso_duration("P1D") == Duration(days=1)
    assert parse_iso_duration("PT24H") == Duration(exact=timedelta(hours=24))
    assert parse_iso_duration("P1D") != parse_iso_duration("PT24H")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("P", "must be an ISO 8601 duration"),
        ("PT", "must be an ISO 8601 duration"),
        ("P1DT", "must be an ISO 8601 duration"),
        ("15 minutes", "must be an ISO 8601 duration"),
        (15, "must be an ISO 8601 duration"),
        ("P1Y", "years and months are not supported"),
        ("P2M", "years and months are not supported"),
        ("P40000D", "must be at most 100 years"),
    ],
)
def test_parse_duration_refusals(text: object, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_duration(text, ("schedule", "offset"))
    assert caught.value.path == ("schedule", "offset")
    assert caught.value.message.startswith(message)


# --- validation faults ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "path", "message"),
    [
        ("daily", ("schedule",), "must be an object"),
        (
            {},
            ("schedule", "type"),
            "unknown schedule type; expected one of immediate, at, relative, cron, rrule, interval",
        ),
        (
            {"type": "weekly"},
            ("schedule", "type"),
            "unknown schedule type; expected one of immediate, at,",
        ),
        (
            {"type": "immediate", "at": "x"},
            ("schedule", "at"),
            "unknown key; expected one of timezone, type",
        ),
        (
            {"type": "cron", "cron": "0 9 * * *", "timezone": "Paris"},
            ("schedule", "timezone"),
            "not an IANA timezone",
        ),
        (
            {"type": "cron", "cron": "0 9 * * *", "timezone": 1},
            ("schedule", "timezone"),
            "not an IANA timezone",
        ),
        ({"type": "at"}, ("schedule", "at"), "is required"),
        (
            {"type": "at", "at": "2026-12-01T09:00:00"},
            ("schedule", "at"),
            "must include a timezone offset",
        ),
        ({"type": "at", "at": "tomorrow"}, ("schedule", "at"), "must be an ISO 8601 date-time"),
        (
            {"type": "relative", "to": "due"},
            ("schedule", "to"),
            'must be "trigger" or "data.<field>"',
        ),
        (
            {"type": "relative", "to": "trigger", "offset": "1 day"},
            ("schedule", "offset"),
            "must be an ISO 8601 duration",
        ),
        (
            {"type": "cron", "cron": "61 * * * *"},
            ("schedule", "cron"),
            "not a valid cron expression: ",
        ),
        (
            {"type": "cron", "cron": "every day"},
            ("schedule", "cron"),
            "not a valid cron expression: expected 5 fields",
        ),
        (
            {"type": "cron", "cron": "0 0 9 * * *"},
            ("schedule", "cron"),
            "not a valid cron expression: seconds",
        ),
        (
            {"type": "cron", "cron": "0 0 31 2 *"},
            ("schedule", "cron"),
            "not a valid cron expression: it never fires",
        ),
        (
            {"type": "cron", "cron": ""},
            ("schedule", "cron"),
            "must be a non-empty string",
        ),
        (
            {"type": "rrule", "rrule": "FREQ=SECONDLY"},
            ("schedule", "rrule"),
            "FREQ=SECONDLY is not allowed",
        ),
        (
            {"type": "rrule", "rrule": "FREQ=MINUTELY;BYSECOND=0,30"},
            ("schedule", "rrule"),
            "BYSECOND with several values",
        ),
        (
            {"type": "rrule", "rrule": "FREQ=DAILY;COUNT=3"},
            ("schedule", "rrule"),
            "COUNT is not supported",
        ),
        (
            {"type": "rrule", "rrule": "FREQ=DAILY;UNTIL=20270101T000000Z"},
            ("schedule", "rrule"),
            "UNTIL is not supported",
        ),
        (
            {"type": "rrule", "rrule": "FREQ=DAILY;BYHOUR=25"},
            ("schedule", "rrule"),
            "not a valid RRULE: ",
        ),
        (
            {"type": "rrule", "rrule": "FREQ=DAILY;BYEASTER=0"},
            ("schedule", "rrule"),
            "not a valid RRULE: unsupported part",
        ),
        ({"type": "rrule", "rrule": "BYDAY=MO"}, ("schedule", "rrule"), "FREQ must be one of"),
        (
            {"type": "rrule", "rrule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"},
            ("schedule", "rrule"),
            "never fires",
        ),
        ({"type": "interval", "every": "PT30S"}, ("schedule", "every"), "must be at least PT1M"),
        ({"type": "interval", "every": "-PT1H"}, ("schedule", "every"), "must be at least PT1M"),
        ({"type": "interval", "every": "P1DT1H"}, ("schedule", "every"), "use either whole days"),
        (
            {"type": "interval", "every": "PT1H", "start": "2026-01-01"},
            ("schedule", "start"),
            "must include a timezone offset",
        ),
    ],
)
def test_validation_faults_name_the_exact_path(
    raw: object, path: tuple[str, ...], message: str
) -> None:
    where, why = refusal(raw)
    assert where == path
    assert why.startswith(message)


def test_paths_start_where_the_caller_says() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_schedule({"type": "cron", "cron": "nope"}, ("actions", 2, "schedule"))
    assert caught.value.path == ("actions", 2, "schedule", "cron")
