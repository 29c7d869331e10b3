"""Business time: SLAs counted in a tenant's working hours, across nights, weekends, holidays
and DST changes, and the settings that define them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain.calendar import BusinessCalendar
from domain.errors import InvalidInput
from domain.tenant import normalise_settings
from domain.workflow import Clock, sla_outcomes
from domain.workflow_spec import checked_workflow

PARIS = ZoneInfo("Europe/Paris")


def at(text: str, zone: ZoneInfo = PARIS) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=zone)


def paris(**settings: object) -> BusinessCalendar:
    return BusinessCalendar.of(normalise_settings({"timezone": "Europe/Paris", **settings}))


def test_four_working_hours_from_friday_afternoon_end_on_monday_at_noon():
    due = paris().add(at("2026-12-04T16:00"), timedelta(hours=4))
    assert due.astimezone(PARIS) == at("2026-12-07T12:00")


def test_a_holiday_moves_the_deadline_a_day_on():
    due = paris(holidays=["2026-12-07"]).add(at("2026-12-04T16:00"), timedelta(hours=4))
    assert due.astimezone(PARIS) == at("2026-12-08T12:00")


def test_time_entered_outside_working_hours_starts_counting_at_the_next_opening():
    calendar = paris()
    assert calendar.add(at("2026-12-05T10:00"), timedelta(minutes=30)) == at("2026-12-07T09:30")
    assert calendar.add(at("2026-12-07T07:00"), timedelta(hours=8)) == at("2026-12-07T17:00")


def test_split_days_and_a_24_hour_saturday():
    hours = {"mon": ["09:00-12:00", "13:00-17:00"], "sat": ["00:00-24:00"]}
    calendar = paris(working_hours=hours)
    assert calendar.add(at("2026-12-07T11:00"), timedelta(hours=2)) == at("2026-12-07T14:00")
    # an hour on Monday, none Tuesday to Friday, all 24 of Saturday, the last on Monday again
    assert calendar.add(at("2026-12-07T16:00"), timedelta(hours=25)) == at("2026-12-13T00:00")
    assert calendar.add(at("2026-12-07T16:00"), timedelta(hours=26)) == at("2026-12-14T10:00")


def test_a_working_day_shortened_by_dst_counts_its_wall_clock_hours():
    calendar = paris(working_hours={"sun": ["00:00-24:00"]})
    start = at("2026-03-29T00:00")  # clocks spring forward at 02:00: a 23-hour day
    assert calendar.add(start, timedelta(hours=23)) == at("2026-03-30T00:00")
    assert calendar.working_between(start, at("2026-03-30T00:00")) == timedelta(hours=23)


def test_working_time_between_two_instants_skips_what_is_closed():
    calendar = paris()
    start, end = at("2026-12-04T16:00"), at("2026-12-07T12:00")
    assert calendar.working_between(start, end) == timedelta(hours=4)
    assert calendar.working_between(end, start) == timedelta(0)


@pytest.mark.parametrize(
    ("settings", "path", "message"),
    [
        ({"working_hours": {"mon": ["9-17"]}}, ("settings", "working_hours", "mon", 0), "span"),
        (
            {"working_hours": {"mon": ["10:00-09:00"]}},
            ("settings", "working_hours", "mon", 0),
            "ends after it starts",
        ),
        (
            {"working_hours": {"mon": ["09:00-12:00", "11:00-13:00"]}},
            ("settings", "working_hours", "mon", 1),
            "do not overlap",
        ),
        ({"working_hours": {"funday": []}}, ("settings", "working_hours"), "unknown day"),
        ({"working_hours": {}}, ("settings", "working_hours"), "at least one day"),
        ({"holidays": ["25/12/2026"]}, ("settings", "holidays", 0), "a date like"),
    ],
)
def test_faulty_working_hours_or_holidays_are_refused_with_their_path(settings, path, message):
    with pytest.raises(InvalidInput) as refused:
        normalise_settings(settings)
    assert refused.value.path == path
    assert message in refused.value.message


def test_a_calendar_without_any_working_time_in_ten_years_says_so():
    calendar = BusinessCalendar.of({"working_hours": {"mon": ["09:00-10:00"]}})
    mondays = [datetime(2026, 1, 5, tzinfo=UTC) + timedelta(weeks=w) for w in range(600)]
    with pytest.raises(InvalidInput, match="too few working hours"):
        BusinessCalendar(calendar.zone, calendar.spans, frozenset(d.date() for d in mondays)).add(
            mondays[0], timedelta(hours=1)
        )


def test_past_visits_are_judged_against_a_proposed_sla_in_working_hours():
    workflow = checked_workflow(
        {
            "name": "Incident",
            "stages": [
                "new",
                {"name": "triage", "sla": {"within": "PT4H", "business_hours": True}},
            ],
            "transitions": [{"name": "go", "from": "new", "to": "triage"}],
        }
    )
    now = at("2026-12-09T10:00")
    visits = [
        ("triage", at("2026-12-04T16:00"), at("2026-12-07T11:59")),  # in time: due Mon 12:00
        ("triage", at("2026-12-04T16:00"), at("2026-12-07T12:01")),  # breached
        ("triage", at("2026-12-09T08:00"), None),  # ongoing, due 13:00 today: not yet
        ("triage", at("2026-12-08T08:00"), None),  # ongoing, due yesterday 13:00: breached
        ("new", at("2026-12-01T08:00"), at("2026-12-02T08:00")),  # no SLA
    ]
    outcomes = sla_outcomes(workflow, visits, Clock(now, paris()))
    assert [(o.stage, o.visits, o.breached, o.ongoing) for o in outcomes] == [
        ("new", 1, 0, 0),
        ("triage", 4, 2, 2),
    ]
