"""Crons: expressions, uWSGI's fields, time zones, DST (with a fake clock) and misfires."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sigsup.schedule.cron import (
    Expression,
    UwsgiFields,
    catch_up,
    local_zone,
    next_fire,
    parse_schedule,
    prev_fire,
    to_instant,
    uwsgi_matches,
    uwsgi_schedule,
    zone,
)

from .fakes import FakeClock

BERLIN = ZoneInfo("Europe/Berlin")
UTC = timezone.utc


def at(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, *, tz=BERLIN,
       fold: int = 0) -> float:
    return datetime(y, mo, d, h, mi, s, tzinfo=tz, fold=fold).timestamp()


def local(ts: float, tz=BERLIN) -> str:
    """'2026-03-29T03:00:00+02:00': value and offset, so a wrong fold shows."""
    return datetime.fromtimestamp(ts, tz).isoformat()


def run_scheduler(spec, tz, start: float, until: float, step: float) -> list[float]:
    """What a scheduler does: wake every ``step`` seconds of a fake clock and fire what is
    due, asking next_fire(after=the instant just fired). Returns the fired instants."""
    clock = FakeClock(wall=start)
    fired: list[float] = []
    nxt = next_fire(spec, clock.wall, tz)
    while clock.wall < until:
        clock.advance(step)
        while nxt is not None and nxt <= clock.wall:
            fired.append(nxt)
            nxt = next_fire(spec, nxt, tz)
    return fired


# -- expressions -----------------------------------------------------------------------


@pytest.mark.parametrize("text, seconds", [
    ("*/5 * * * *", False), ("0 6 * * mon-fri", False), ("  30   2 * * * ", False),
    ("*/10 * * * * *", True), ("0 0 12 * * *", True), ("@daily", False), ("@hourly", False),
])
def test_parse_schedule_accepts(text: str, seconds: bool) -> None:
    spec = parse_schedule(text)
    assert spec.seconds is seconds
    assert str(spec) == " ".join(text.split())


@pytest.mark.parametrize("text, message", [
    ("* * * *", "has 4"),
    ("* * * * * * *", "has 7"),
    ("61 * * * *", "invalid cron expression"),
    ("0 0 30 2 *", "never matches"),
    ("", "has 0"),
])
def test_parse_schedule_refuses(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_schedule(text)


def test_six_fields_have_seconds_first() -> None:
    spec = parse_schedule("15 * * * * *")          # second 15 of every minute
    t = next_fire(spec, at(2026, 5, 1, 12, 0, 0, tz=UTC), UTC)
    assert local(t, UTC) == "2026-05-01T12:00:15+00:00"
    assert local(next_fire(spec, t, UTC), UTC) == "2026-05-01T12:01:15+00:00"


def test_every_second() -> None:
    spec = parse_schedule("* * * * * *")
    t0 = at(2026, 5, 1, 12, 0, 0, tz=UTC) + 0.25
    assert next_fire(spec, t0, UTC) == at(2026, 5, 1, 12, 0, 1, tz=UTC)


def test_next_is_strictly_after() -> None:
    spec = parse_schedule("*/15 * * * *")
    t = at(2026, 5, 1, 12, 15, tz=UTC)
    assert next_fire(spec, t, UTC) == at(2026, 5, 1, 12, 30, tz=UTC)
    assert prev_fire(spec, t, UTC) == t
    assert prev_fire(spec, t - 1, UTC) == at(2026, 5, 1, 12, 0, tz=UTC)


def test_standard_day_or_weekday() -> None:
    """crontab: both restricted -> ORed: the 13th, and every Friday."""
    spec = parse_schedule("0 0 13 * 5")
    t = at(2026, 2, 1, tz=UTC)
    got = []
    for _ in range(4):
        t = next_fire(spec, t, UTC)
        got.append(local(t, UTC)[:10])
    assert got == ["2026-02-06", "2026-02-13", "2026-02-20", "2026-02-27"]


def test_time_zone_is_explicit() -> None:
    spec = parse_schedule("0 9 * * *")
    after = at(2026, 4, 30, 12, tz=UTC)
    tokyo = next_fire(spec, after, ZoneInfo("Asia/Tokyo"))
    utc = next_fire(spec, after, UTC)
    assert local(tokyo, ZoneInfo("Asia/Tokyo")) == "2026-05-01T09:00:00+09:00"
    assert local(utc, UTC) == "2026-05-01T09:00:00+00:00"
    assert utc - tokyo == 9 * 3600


def test_zones() -> None:
    assert zone("Europe/Berlin") is BERLIN
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        zone("Mars/Olympus")
    assert zone(None) is not None          # the machine's zone
    assert local_zone().utcoffset(datetime(2026, 1, 1)) is not None


def test_local_zone_follows_TZ(monkeypatch) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    assert getattr(local_zone(), "key", None) == "America/New_York"
    monkeypatch.setenv("TZ", ":Europe/Berlin")
    assert getattr(local_zone(), "key", None) == "Europe/Berlin"


# -- uWSGI's fields --------------------------------------------------------------------


def months(fields) -> list[int]:
    return [m for m in range(1, 13) if uwsgi_matches(fields, datetime(2026, m, 1, 0, 0))]


def test_uwsgi_negative_is_aligned_to_zero() -> None:
    # month -2: Feb, Apr, ..., Dec (crontab */2 would be Jan, Mar, ...)
    assert months((0, 0, 1, -2, -1)) == [2, 4, 6, 8, 10, 12]
    assert months((0, 0, 1, -3, -1)) == [3, 6, 9, 12]
    # day -2: even days
    days = [d for d in range(1, 32) if uwsgi_matches((0, 0, -2, -1, -1), datetime(2026, 1, d))]
    assert days == list(range(2, 32, 2))
    # weekday -2: Sun, Tue, Thu, Sat (2026-03-01 is a Sunday)
    wd = [datetime(2026, 3, d).strftime("%a") for d in range(1, 8)
          if uwsgi_matches((0, 0, -1, -1, -2), datetime(2026, 3, d))]
    assert wd == ["Sun", "Tue", "Thu", "Sat"]
    # minute -7: 0, 7, ..., 56 (not 59: 63 is past the hour)
    mins = [m for m in range(60) if uwsgi_matches((-7, -1, -1, -1, -1), datetime(2026, 1, 1, 0, m))]
    assert mins == [0, 7, 14, 21, 28, 35, 42, 49, 56]
    # -1 is every value; hour -5: 0, 5, 10, 15, 20
    hours = [h for h in range(24) if uwsgi_matches((0, -5, -1, -1, -1), datetime(2026, 1, 1, h))]
    assert hours == [0, 5, 10, 15, 20]


def test_uwsgi_weekday_seven_is_sunday() -> None:
    sunday = datetime(2026, 3, 1, 12, 0)
    assert uwsgi_matches((0, 12, -1, -1, 7), sunday)
    assert uwsgi_matches((0, 12, -1, -1, 0), sunday)
    assert not uwsgi_matches((0, 12, -1, -1, 1), sunday)


def test_uwsgi_day_and_weekday_or_only_when_both_fixed() -> None:
    friday_6th = datetime(2026, 3, 6, 0, 0)      # a Friday
    the_13th = datetime(2026, 3, 13, 0, 0)       # also a Friday
    monday_9th = datetime(2026, 3, 9, 0, 0)
    both_fixed = (0, 0, 9, -1, 5)                # the 9th OR Fridays
    assert uwsgi_matches(both_fixed, friday_6th)
    assert uwsgi_matches(both_fixed, monday_9th)
    assert not uwsgi_matches(both_fixed, datetime(2026, 3, 10))
    day_negative = (0, 0, -3, -1, 5)             # days divisible by 3 AND Fridays
    assert uwsgi_matches(day_negative, friday_6th)
    assert not uwsgi_matches(day_negative, the_13th)
    assert not uwsgi_matches(day_negative, datetime(2026, 3, 9))   # a Monday, day 9
    weekday_negative = (0, 0, 13, -1, -5)        # the 13th AND weekday % 5 == 0 (Sun, Fri)
    assert uwsgi_matches(weekday_negative, the_13th)
    assert not uwsgi_matches(weekday_negative, datetime(2026, 4, 13))   # a Monday


def test_uwsgi_month_is_one_based() -> None:
    assert uwsgi_matches((0, 0, 1, 1, -1), datetime(2026, 1, 1))
    assert not uwsgi_matches((0, 0, 1, 1, -1), datetime(2026, 2, 1))


def test_uwsgi_next_fire_steps_to_the_next_matching_minute() -> None:
    spec = uwsgi_schedule((-5, -1, -1, -1, -1))
    t = at(2026, 5, 1, 12, 3, 30, tz=UTC)
    assert local(next_fire(spec, t, UTC), UTC) == "2026-05-01T12:05:00+00:00"
    spec = uwsgi_schedule((30, 4, -2, -2, -1))   # 04:30 on even days of even months
    t = at(2026, 5, 30, tz=UTC)
    assert local(next_fire(spec, t, UTC), UTC) == "2026-06-02T04:30:00+00:00"


@settings(max_examples=60, deadline=None)
@given(minute=st.sampled_from([-1, -2, -7, -15, 0, 30, 59]),
       hour=st.sampled_from([-1, -3, -12, 0, 13, 23]),
       day=st.sampled_from([-1, -2, -5, 1, 15, 31]),
       month=st.sampled_from([-1, -2, -4, 1, 6, 12]),
       weekday=st.sampled_from([-1, -2, -3, 0, 3, 7]),
       start=st.datetimes(datetime(2025, 1, 1), datetime(2030, 1, 1)))
def test_uwsgi_stepping_finds_exactly_the_matching_minutes(minute, hour, day, month, weekday,
                                                          start) -> None:
    """The skipping search returns the first minute that uwsgi_matches accepts: checked
    against a plain minute-by-minute walk over the following two days."""
    spec = UwsgiFields(minute, hour, day, month, weekday)
    got = spec.next_local(start)
    t = start.replace(second=0, microsecond=0) + timedelta(minutes=1)
    for _ in range(2 * 24 * 60):
        if uwsgi_matches(spec, t):
            assert got == t
            return
        t += timedelta(minutes=1)
    assert got is None or got > t - timedelta(minutes=1)
    if got is not None:
        assert uwsgi_matches(spec, got)


def test_uwsgi_prev_is_the_mirror_of_next() -> None:
    spec = UwsgiFields(-20, -6, -1, -1, -1)
    t = datetime(2026, 5, 1, 13, 7)
    assert spec.prev_local(t) == datetime(2026, 5, 1, 12, 40)
    assert spec.next_local(datetime(2026, 5, 1, 12, 40)) == datetime(2026, 5, 1, 18, 0)


@pytest.mark.parametrize("fields, message", [
    ((60, -1, -1, -1, -1), "minute must be 0..59"),
    ((0, 24, -1, -1, -1), "hour must be 0..23"),
    ((0, 0, 0, -1, -1), "day must be 1..31"),
    ((0, 0, 1, 13, -1), "month must be 1..12"),
    ((0, 0, 1, 1, 8), "weekday must be 0..7"),
    ((0, 0, 1, -13, -1), "month must be 1..12, -1"),
    ((0, 0, 31, 2, -1), "never match"),          # Feb 31st (weekday -1: ANDed)
    ((0, 0, 1), "5 values"),
    ((True, 0, 1, 1, 1), "integer"),
])
def test_uwsgi_fields_are_checked(fields, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        uwsgi_schedule(fields)


def test_uwsgi_feb_30_or_a_weekday_does_fire() -> None:
    spec = uwsgi_schedule((0, 0, 30, 2, 3))      # both fixed: ORed -> Wednesdays of Feb
    t = next_fire(spec, at(2026, 1, 1, tz=UTC), UTC)
    assert local(t, UTC) == "2026-02-04T00:00:00+00:00"


# -- DST: Europe/Berlin, 2026-03-29 (02:00 -> 03:00) and 2026-10-25 (03:00 -> 02:00) -------


def test_spring_gap_a_nonexistent_time_runs_once_at_the_first_valid_instant() -> None:
    spec = parse_schedule("30 2 * * *")          # 02:30 does not exist on 2026-03-29
    fired = run_scheduler(spec, BERLIN, at(2026, 3, 27, 12), at(2026, 3, 31, 12), 60)
    assert [local(t) for t in fired] == [
        "2026-03-28T02:30:00+01:00",
        "2026-03-29T03:00:00+02:00",            # the gap's end, once
        "2026-03-30T02:30:00+02:00",
        "2026-03-31T02:30:00+02:00",
    ]


def test_spring_gap_every_fifteen_minutes() -> None:
    spec = parse_schedule("*/15 * * * *")
    fired = run_scheduler(spec, BERLIN, at(2026, 3, 29, 1, 20), at(2026, 3, 29, 3, 40), 7)
    assert [local(t) for t in fired] == [
        "2026-03-29T01:30:00+01:00", "2026-03-29T01:45:00+01:00",
        "2026-03-29T03:00:00+02:00",            # 02:00, 02:15, 02:30, 02:45 and 03:00: once
        "2026-03-29T03:15:00+02:00", "2026-03-29T03:30:00+02:00",
    ]
    assert all(b - a == 900 for a, b in zip(fired, fired[1:], strict=False))


def test_spring_gap_every_second_never_fires_twice() -> None:
    spec = parse_schedule("* * * * * *")
    fired = run_scheduler(spec, BERLIN, at(2026, 3, 29, 1, 59, 57), at(2026, 3, 29, 3, 0, 3), 0.25)
    assert [local(t)[11:19] for t in fired] == [
        "01:59:58", "01:59:59", "03:00:00", "03:00:01", "03:00:02", "03:00:03"]


def test_to_instant_in_the_gap() -> None:
    assert local(to_instant(datetime(2026, 3, 29, 2, 30), BERLIN)) == "2026-03-29T03:00:00+02:00"
    assert local(to_instant(datetime(2026, 3, 29, 2, 0), BERLIN)) == "2026-03-29T03:00:00+02:00"
    assert local(to_instant(datetime(2026, 3, 29, 1, 59), BERLIN)) == "2026-03-29T01:59:00+01:00"


def test_fall_repeat_a_repeated_time_runs_once_on_its_first_occurrence() -> None:
    spec = parse_schedule("30 2 * * *")          # 02:30 happens twice on 2026-10-25
    fired = run_scheduler(spec, BERLIN, at(2026, 10, 24, 12), at(2026, 10, 26, 12), 60)
    assert [local(t) for t in fired] == [
        "2026-10-25T02:30:00+02:00",            # CEST, the first pass; not again in CET
        "2026-10-26T02:30:00+01:00",
    ]


def test_fall_repeat_every_twenty_minutes() -> None:
    spec = parse_schedule("*/20 * * * *")
    fired = run_scheduler(spec, BERLIN, at(2026, 10, 25, 1, 30), at(2026, 10, 25, 3, 30), 11)
    assert [local(t) for t in fired] == [
        "2026-10-25T01:40:00+02:00",
        "2026-10-25T02:00:00+02:00", "2026-10-25T02:20:00+02:00", "2026-10-25T02:40:00+02:00",
        # the second pass of 02:00-02:59 (CET) fires nothing
        "2026-10-25T03:00:00+01:00", "2026-10-25T03:20:00+01:00",
    ]
    assert len(set(fired)) == len(fired)
    assert fired == sorted(fired)


def test_fall_repeat_starting_inside_the_second_pass() -> None:
    """A master started at 02:10 CET (the second 02:10) does not re-run the first pass's
    times; the next fire is 03:00 CET. And it does not walk the hour second by second."""
    after = at(2026, 10, 25, 2, 10, fold=1)
    assert local(after) == "2026-10-25T02:10:00+01:00"
    assert local(next_fire(parse_schedule("*/15 * * * *"), after, BERLIN)) == \
        "2026-10-25T03:00:00+01:00"
    assert local(next_fire(parse_schedule("* * * * * *"), after, BERLIN)) == \
        "2026-10-25T03:00:00+01:00"
    assert local(prev_fire(parse_schedule("*/15 * * * *"), after, BERLIN)) == \
        "2026-10-25T02:45:00+02:00"


def test_fall_repeat_uwsgi_fields() -> None:
    spec = uwsgi_schedule((-30, -1, -1, -1, -1))
    fired = run_scheduler(spec, BERLIN, at(2026, 10, 25, 1, 50), at(2026, 10, 25, 3, 40), 13)
    assert [local(t)[11:] for t in fired] == [
        "02:00:00+02:00", "02:30:00+02:00", "03:00:00+01:00", "03:30:00+01:00"]


def test_uwsgi_fields_in_the_spring_gap() -> None:
    spec = uwsgi_schedule((-10, -1, -1, -1, -1))
    fired = run_scheduler(spec, BERLIN, at(2026, 3, 29, 1, 35), at(2026, 3, 29, 3, 25), 13)
    assert [local(t)[11:] for t in fired] == [
        "01:40:00+01:00", "01:50:00+01:00", "03:00:00+02:00", "03:10:00+02:00",
        "03:20:00+02:00"]


def test_a_whole_year_in_berlin_fires_once_per_day() -> None:
    """A daily 02:30 over 2026: 365 fires, one per local date, strictly increasing."""
    spec = parse_schedule("30 2 * * *")
    t = at(2025, 12, 31, 12)
    dates = []
    for _ in range(365):
        t2 = next_fire(spec, t, BERLIN)
        assert t2 > t
        t = t2
        dates.append(local(t)[:10])
    assert len(set(dates)) == 365
    assert dates[0] == "2026-01-01" and dates[-1] == "2026-12-31"


def test_thirty_minute_dst_zone() -> None:
    """Lord Howe Island moves its clocks by 30 minutes (02:00 -> 02:30 on 2026-10-04)."""
    lh = ZoneInfo("Australia/Lord_Howe")
    spec = parse_schedule("15 2 * * *")
    t = next_fire(spec, at(2026, 10, 3, 12, tz=lh), lh)
    assert local(t, lh) == "2026-10-04T02:30:00+11:00"
    assert local(next_fire(spec, t, lh), lh) == "2026-10-05T02:15:00+11:00"


# -- misfires --------------------------------------------------------------------------


def test_catch_up_on_time() -> None:
    spec = parse_schedule("* * * * *")
    s = at(2026, 5, 1, 12, 0, tz=UTC)
    cu = catch_up(spec, s, s + 0.002, UTC, grace=60)
    assert (cu.run, cu.missed, cu.next) == (s, 0, s + 60)


def test_catch_up_a_blocked_master_runs_the_latest_once_and_counts_the_rest() -> None:
    spec = parse_schedule("* * * * *")
    s = at(2026, 5, 1, 12, 0, tz=UTC)
    cu = catch_up(spec, s, s + 185, UTC, grace=60)   # 12:00, 12:01, 12:02, 12:03 passed
    assert cu.run == s + 180
    assert cu.missed == 3
    assert cu.next == s + 240


def test_catch_up_beyond_the_grace_skips_and_counts() -> None:
    spec = parse_schedule("0 * * * *")
    s = at(2026, 5, 1, 12, 0, tz=UTC)
    cu = catch_up(spec, s, s + 1800, UTC, grace=60)    # 30 min late, grace 1 min
    assert cu.run is None
    assert cu.missed == 1
    assert cu.next == s + 3600
    cu = catch_up(spec, s, s + 60, UTC, grace=60)      # exactly at the grace: runs
    assert cu.run == s and cu.missed == 0


def test_catch_up_counts_are_bounded() -> None:
    spec = parse_schedule("* * * * * *")
    s = at(2026, 5, 1, 12, 0, tz=UTC)
    cu = catch_up(spec, s, s + 86_400 + 0.5, UTC, grace=60)    # a day, every second
    assert cu.run == s + 86_400
    assert 999 <= cu.missed <= 1000
    assert cu.next == s + 86_401


def test_catch_up_across_the_fall_repeat_never_runs_an_instant_twice() -> None:
    spec = parse_schedule("*/20 * * * *")
    s = at(2026, 10, 25, 2, 40)                       # CEST, first pass
    now = at(2026, 10, 25, 2, 50, fold=1)             # blocked into the second pass
    cu = catch_up(spec, s, now, BERLIN, grace=7200)
    assert cu.run == s and cu.missed == 0             # 02:40 (CEST) was the latest instant
    assert local(cu.next) == "2026-10-25T03:00:00+01:00"


def test_expression_and_fields_types() -> None:
    assert isinstance(parse_schedule("* * * * *"), Expression)
    assert isinstance(uwsgi_schedule((-1, -1, -1, -1, -1)), UwsgiFields)
    assert str(uwsgi_schedule((-5, -1, -1, -1, -1))) == "-5 -1 -1 -1 -1 (uWSGI fields)"
