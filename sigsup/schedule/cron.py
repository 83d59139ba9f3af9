"""Crons: when a schedule fires next, in a time zone, with stated DST and misfire rules.

Everything here is pure: functions of a schedule, a wall-clock time (seconds since the
epoch) and a time zone. The master's scheduler asks ``next_fire`` for the next instant and
``catch_up`` when it finds instants already past.

Schedules
    ``Expression``   a standard cron expression, read by croniter: 5 fields (minute hour
                     day month weekday), 6 fields with SECONDS FIRST, or an alias (@daily...).
                     Day-of-month and weekday are ORed when both are restricted (Vixie cron).
    ``UwsgiFields``  uWSGI's five integers (minute, hour, day, month, weekday) with uWSGI's
                     meaning (see ``uwsgi_matches``), matched here, not by croniter.

Both give local wall-clock times of the zone; ``to_instant`` turns a local time into an
instant with this policy (the DST policy):
    * a local time that does not exist (the hour skipped when clocks go forward) runs once,
      at the first valid instant after the gap (03:00 in Europe/Berlin on 2026-03-29); every
      scheduled time inside the gap merges into that one run;
    * a local time that exists twice (the hour repeated when clocks go back) runs once, on
      its first occurrence (fold=0); the repeated hour's second pass fires nothing;
    * so a cron never fires twice for one instant, and each next instant is strictly later.

Misfires (``catch_up``): when the scheduler finds scheduled instants already past (the
master was blocked, suspended, or the wall clock jumped forward), the latest one runs
once, late, if it is at most ``misfire_grace`` seconds old; the others are counted as
missed. If even the latest is older than the grace, nothing runs and all are counted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

UWSGI_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day", 1, 31), ("month", 1, 12),
                ("weekday", 0, 7))
MINUTE = timedelta(minutes=1)
HORIZON = timedelta(days=366 * 40)   # a schedule that matches nothing in 40 years never fires
COUNT_LIMIT = 1000                   # catch_up counts missed instants up to this many


def croniter(*args: Any, **kwargs: Any) -> Any:
    """``croniter.croniter``, imported on first use: it takes ~10 ms to import (with
    dateutil), and most trees have no cron."""
    from croniter import croniter as real
    return real(*args, **kwargs)


# -- schedules ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Expression:
    """A standard cron expression (croniter): 5 fields, or 6 with seconds first."""

    text: str
    seconds: bool = False

    def next_local(self, after: datetime) -> datetime | None:
        """The first matching local (naive) time strictly after ``after``."""
        try:
            return croniter(self.text, after, second_at_beginning=self.seconds).get_next(datetime)
        except (ValueError, OverflowError):   # CroniterBadDateError: no match found
            return None

    def prev_local(self, before: datetime) -> datetime | None:
        """The last matching local (naive) time at or before ``before``."""
        try:
            it = croniter(self.text, before + timedelta(microseconds=1),
                          second_at_beginning=self.seconds)
            return it.get_prev(datetime)
        except (ValueError, OverflowError):
            return None

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class UwsgiFields:
    """uWSGI's ``add_cron(signum, minute, hour, day, month, weekday)`` fields."""

    minute: int = -1
    hour: int = -1
    day: int = -1
    month: int = -1
    weekday: int = -1

    @property
    def fields(self) -> tuple[int, int, int, int, int]:
        return (self.minute, self.hour, self.day, self.month, self.weekday)

    def next_local(self, after: datetime) -> datetime | None:
        """The first matching minute strictly after ``after``: steps minute by minute,
        skipping whole months, days and hours that cannot match."""
        t = after.replace(second=0, microsecond=0) + MINUTE
        end = t + HORIZON
        while t <= end:
            if not _match(self.month, t.month):
                t = _next_month(t)
            elif not _day_matches(self.day, self.weekday, t):
                t = t.replace(hour=0, minute=0) + timedelta(days=1)
            elif not _match(self.hour, t.hour):
                t = t.replace(minute=0) + timedelta(hours=1)
            elif not _match(self.minute, t.minute):
                t += MINUTE
            else:
                return t
        return None

    def prev_local(self, before: datetime) -> datetime | None:
        """The last matching minute at or before ``before``."""
        t = before.replace(second=0, microsecond=0)
        end = t - HORIZON
        while t >= end:
            if not _match(self.month, t.month):
                t = t.replace(day=1, hour=0, minute=0) - MINUTE
            elif not _day_matches(self.day, self.weekday, t):
                t = t.replace(hour=0, minute=0) - MINUTE
            elif not _match(self.hour, t.hour):
                t = t.replace(minute=0) - MINUTE
            elif not _match(self.minute, t.minute):
                t -= MINUTE
            else:
                return t
        return None

    def __str__(self) -> str:
        return " ".join(str(v) for v in self.fields) + " (uWSGI fields)"


Schedule = Expression | UwsgiFields


def _match(field: int, value: int) -> bool:
    """One uWSGI field: ``>= 0`` equals; ``-1`` is every; ``-N`` is ``value % N == 0``."""
    if field == -1:
        return True
    if field < 0:
        return value % -field == 0
    return value == field


def _weekday(t: datetime) -> int:
    """0 = Sunday ... 6 = Saturday, as in cron and uWSGI (Python's is 0 = Monday)."""
    return (t.weekday() + 1) % 7


def _day_matches(day: int, weekday: int, t: datetime) -> bool:
    wd = 0 if weekday == 7 else weekday
    d_ok = _match(day, t.day)
    w_ok = _match(wd, _weekday(t))
    if day >= 0 and wd >= 0:
        return d_ok or w_ok   # both fixed: ORed, as in crontab
    return d_ok and w_ok      # either one negative: both must match (uWSGI's rule)


def _next_month(t: datetime) -> datetime:
    if t.month == 12:
        return t.replace(year=t.year + 1, month=1, day=1, hour=0, minute=0)
    return t.replace(month=t.month + 1, day=1, hour=0, minute=0)


def uwsgi_matches(fields: tuple[int, int, int, int, int] | UwsgiFields, t: datetime) -> bool:
    """Does local time ``t`` match uWSGI's cron fields (``core/master_utils.c:
    uwsgi_cron_task_needs_execution``)?

    * a field ``>= 0`` must equal the current value (month 1..12, weekday 0 = Sunday,
      7 is Sunday too);
    * ``-1`` matches every value; ``-N`` matches when ``value % N == 0``: aligned to zero,
      not to the start of the range (month -2 = Feb, Apr... Dec; day -2 = even days;
      weekday -2 = Sun, Tue, Thu, Sat; minute -7 = 0, 7, ... 56);
    * day and weekday are ORed only when both are ``>= 0``; if either is negative, both
      must match.
    """
    m, h, d, mo, wd = fields.fields if isinstance(fields, UwsgiFields) else fields
    return (_match(m, t.minute) and _match(h, t.hour) and _match(mo, t.month)
            and _day_matches(d, wd, t))


def parse_schedule(text: str) -> Expression:
    """A cron expression, checked: 5 fields, 6 with seconds first, or an @alias."""
    if not isinstance(text, str):
        raise ValueError(f"a cron schedule is a string, not {type(text).__name__}")
    expr = " ".join(text.split())
    n = len(expr.split(" ")) if expr else 0
    if not expr.startswith("@") and n not in (5, 6):
        raise ValueError(f"a cron expression has 5 fields (minute hour day month weekday), "
                         f"or 6 with seconds first; {text!r} has {n}")
    spec = Expression(expr, seconds=(n == 6 and not expr.startswith("@")))
    try:
        croniter(expr, datetime(2001, 1, 1), second_at_beginning=spec.seconds).get_next(datetime)
    except Exception as exc:
        if type(exc).__name__ == "CroniterBadDateError":
            raise ValueError(f"cron expression {text!r} never matches a date") from None
        raise ValueError(f"invalid cron expression {text!r}: {exc}") from None
    return spec


def uwsgi_schedule(fields: tuple[int, ...] | list[int]) -> UwsgiFields:
    """uWSGI's five fields, checked: each ``lo..hi``, ``-1`` or ``-N`` (N up to hi)."""
    fields = tuple(fields)
    if len(fields) != 5:
        raise ValueError(f"uWSGI cron fields are minute, hour, day, month, weekday: 5 values, "
                         f"got {len(fields)}")
    for (name, lo, hi), v in zip(UWSGI_FIELDS, fields, strict=True):
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError(f"{name} must be an integer, not {v!r}")
        if not (lo <= v <= hi or -hi <= v <= -1):
            raise ValueError(f"{name} must be {lo}..{hi}, -1 (every) or -N (every N, N up to "
                             f"{hi}), got {v}")
    spec = UwsgiFields(*fields)
    if spec.next_local(datetime(2001, 1, 1)) is None:
        raise ValueError(f"uWSGI cron fields {' '.join(map(str, fields))} never match a date")
    return spec


# -- time zones --------------------------------------------------------------------------


def zone(name: str | None) -> tzinfo:
    """The named IANA zone; None is the machine's local zone. ValueError if unknown."""
    if name is None:
        return local_zone()
    try:
        return ZoneInfo(name)
    except Exception:
        raise ValueError(f"unknown time zone {name!r}: use an IANA name such as "
                         "'Europe/Paris' or 'UTC'") from None


def local_zone() -> tzinfo:
    """The machine's zone with its DST rules ($TZ, else /etc/localtime), UTC if unknown."""
    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        try:
            return ZoneInfo(name)
        except Exception:
            pass
    try:
        link = os.readlink("/etc/localtime")
        i = link.find("zoneinfo/")
        if i >= 0:
            return ZoneInfo(link[i + len("zoneinfo/"):])
    except (OSError, ValueError, KeyError):
        pass
    except Exception:   # ZoneInfoNotFoundError
        pass
    try:
        with open("/etc/localtime", "rb") as f:
            return ZoneInfo.from_file(f, key="localtime")
    except Exception:
        return timezone.utc


def zone_name(tz: tzinfo) -> str:
    return str(getattr(tz, "key", None) or tz)


# -- local time <-> instants (the DST policy) --------------------------------------------


def to_instant(local: datetime, tz: tzinfo) -> float:
    """The instant of naive local time ``local`` in ``tz``: its first occurrence if it is
    repeated, the first valid instant after the gap if it does not exist."""
    ts = local.replace(tzinfo=tz, fold=0).timestamp()
    if datetime.fromtimestamp(ts, tz).replace(tzinfo=None) == local:
        return ts
    # inside a gap: the transition lies between the two readings of ``local``
    lo = int(local.replace(tzinfo=tz, fold=1).timestamp()) - 1
    hi = int(ts) + 1
    while hi - lo > 1:   # smallest whole second whose local time is past ``local``
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, tz).replace(tzinfo=None) > local:
            hi = mid
        else:
            lo = mid
    return float(hi)


def _cursor(at: float, tz: tzinfo) -> datetime:
    """The naive local time of ``at``, from which to look for instants before or after it.

    In the second pass of a repeated hour, every local time up to the end of the repeat
    maps (fold=0) to an instant of the first pass, at or before ``at``: the cursor is then
    the last moment of the repeat, so the search neither walks nor fires through it.
    """
    local = datetime.fromtimestamp(at, tz)
    if not local.fold:
        return local.replace(tzinfo=None)
    first, second = local.replace(fold=0).utcoffset(), local.utcoffset()
    span = (first - second).total_seconds() if first is not None and second is not None else 0
    lo, hi = int(at), int(at + max(span, 0)) + 1
    while hi - lo > 1:   # the first whole second after the repeat
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, tz).fold:
            lo = mid
        else:
            hi = mid
    return datetime.fromtimestamp(hi, tz).replace(tzinfo=None) - timedelta(microseconds=1)


def next_fire(spec: Schedule, after: float, tz: tzinfo) -> float | None:
    """The first instant strictly after ``after`` (epoch seconds) at which ``spec`` fires
    in ``tz``; None if it never fires again."""
    cursor = _cursor(after, tz)
    for _ in range(100_000):
        local = spec.next_local(cursor)
        if local is None:
            return None
        t = to_instant(local, tz)
        if t > after:
            return t
        cursor = local   # merged into an earlier run (a gap) or already past (a repeat)
    raise RuntimeError(f"cron {spec}: no instant after {after} found")   # pragma: no cover


def prev_fire(spec: Schedule, before: float, tz: tzinfo) -> float | None:
    """The last instant at or before ``before`` at which ``spec`` fires in ``tz``."""
    cursor = _cursor(before, tz)
    for _ in range(100_000):
        local = spec.prev_local(cursor)
        if local is None:
            return None
        t = to_instant(local, tz)
        if t <= before:
            return t
        cursor = local - timedelta(microseconds=1)
    raise RuntimeError(f"cron {spec}: no instant before {before} found")   # pragma: no cover


# -- misfires ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CatchUp:
    run: float | None       # the scheduled instant to run now, or None (all missed)
    missed: int             # scheduled instants that will not run (at most COUNT_LIMIT)
    next: float | None      # the next scheduled instant, strictly after ``now``


def catch_up(spec: Schedule, scheduled: float, now: float, tz: tzinfo,
             grace: float) -> CatchUp:
    """``scheduled`` (an instant of ``spec``) is at or before ``now``: which one runs.

    The latest instant at or before ``now`` runs once if it is at most ``grace`` seconds
    old; every other instant from ``scheduled`` on is missed (counted, up to COUNT_LIMIT).
    """
    latest = prev_fire(spec, now, tz)
    if latest is None or latest < scheduled:
        latest = scheduled
    count = 1
    t = scheduled
    while t < latest and count <= COUNT_LIMIT:
        nxt = next_fire(spec, t, tz)
        if nxt is None or nxt > latest:
            break
        count += 1
        t = nxt
    after = next_fire(spec, max(now, latest), tz)
    if now - latest <= grace:
        return CatchUp(latest, count - 1, after)
    return CatchUp(None, count, after)
