"""The builders of the event sources: ``[[timers]]``, ``[[rb_timers]]``, ``[[crons]]``,
``[[monitors]]`` and ``[[pgnotify]]`` (see :mod:`sigsup.config.sections` for how a builder
works)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import convert as c
from .fieldspec import specs, toml_keys
from .pgconvert import psycopg_missing
from .reader import BAD, Reader, ok
from .schema import CRON_EVERY, CRON_FIELDS, CronConfig, MonitorConfig, PgNotifyConfig, TimerConfig

__all__ = ["crons", "monitors", "pgnotify", "timers"]

PG_PARTS = ("host", "port", "dbname", "user")   # [[pgnotify]]'s alternative to dsn


def timers(r: Reader, doc: dict, name: str, kind: str) -> list[TimerConfig]:
    """``[[timers]]`` (kind "timer") or ``[[rb_timers]]`` (kind "rb_timer")."""
    out = []
    for p, t in r.array_of_tables(doc, name):
        r.table(p, t, toml_keys(TimerConfig), f"[[{name}]]")
        out.append(TimerConfig(kind=kind, **r.values(t, p, TimerConfig)))
    return out


def crons(r: Reader, doc: dict) -> list[CronConfig]:
    out = []
    fields = specs(CronConfig)
    for p, t in r.array_of_tables(doc, "crons"):
        r.table(p, t, toml_keys(CronConfig), "[[crons]]")
        signal = r.value(t, p, fields["signal"])
        given = [f for f, _, _ in CRON_FIELDS if f in t]
        schedule: Any = None
        uwsgi: Any = None
        if "schedule" in t and given:
            r.err(p + ("schedule",), "give either schedule or the uWSGI fields "
                                     f"({', '.join(given)}), not both")
            schedule = BAD
        elif "schedule" in t:
            schedule = r.convert(p + ("schedule",), t["schedule"], fields["schedule"])
        elif given:
            values = [r.check(p + (f,), t[f], c.cron_field, lo=lo, hi=hi) if f in t
                      else CRON_EVERY for f, lo, hi in CRON_FIELDS]
            uwsgi = tuple(values) if ok(*values) else BAD
            if uwsgi is not BAD:
                from sigsup.schedule.cron import uwsgi_schedule
                try:
                    uwsgi_schedule(uwsgi)
                except ValueError as exc:   # valid fields that never match (Feb 31st)
                    r.err(p, str(exc))
                    uwsgi = BAD
        else:
            r.err(p, "needs a schedule (a cron expression such as '*/5 * * * *') or "
                     "the uWSGI fields minute, hour, day, month, weekday")
            schedule = BAD
        rest = r.values(t, p, CronConfig, skip=("signal", "schedule"))
        out.append(CronConfig(signal=signal, schedule=schedule, fields=uwsgi, **rest))
    return out


def monitors(r: Reader, doc: dict) -> list[MonitorConfig]:
    out = []
    fields = specs(MonitorConfig)
    for p, t in r.array_of_tables(doc, "monitors"):
        r.table(p, t, toml_keys(MonitorConfig), "[[monitors]]")
        path = r.value(t, p, fields["path"])
        wait = r.value(t, p, fields["wait_for_path"])
        if path is not BAD and wait is False:
            try:
                missing = not path.exists()
            except OSError as exc:   # a name too long, a loop of symlinks...
                r.err(p + ("path",), f"cannot use {str(path)!r}: {exc.strerror or exc}")
                path = BAD
                missing = False
            if missing:
                r.err(p + ("path",), f"{str(path)!r} does not exist "
                                     "(set wait_for_path = true to wait for it)")
        rest = r.values(t, p, MonitorConfig, skip=("path", "wait_for_path"))
        out.append(MonitorConfig(path=path, wait_for_path=wait, **rest))
    return out


def pgnotify(r: Reader, doc: dict, env: Mapping[str, str]) -> list[PgNotifyConfig]:
    """``[[pgnotify]]``: dsn, or the parts; a password only through an environment variable."""
    out: list[PgNotifyConfig] = []
    entries = r.array_of_tables(doc, "pgnotify")
    if not entries:
        return out
    missing = psycopg_missing()
    if missing:
        r.err(("pgnotify",), missing)
        return out
    from psycopg.conninfo import make_conninfo
    seen: dict[tuple[str, str, int], int] = {}
    for p, t in entries:
        r.table(p, t, toml_keys(PgNotifyConfig), "[[pgnotify]]")
        f = r.values(t, p, PgNotifyConfig)
        parts = [k for k in PG_PARTS if k in t]
        conninfo: Any = BAD
        if "dsn" in t and parts:
            r.err(p + (parts[0],), f"give either dsn or {'/'.join(PG_PARTS)}, not both")
        elif "dsn" in t:
            conninfo = f["dsn"]
        elif parts:
            if ok(*(f[k] for k in parts)):
                conninfo = make_conninfo("", **{k: f[k] for k in parts})
        else:
            r.err(p, "needs a connection: dsn (e.g. 'postgresql://localhost/app') or "
                     f"{', '.join(PG_PARTS)}")
        pw = f["password_env"]
        if pw not in (None, BAD) and pw not in env:
            r.err(p + ("password_env",), f"the environment variable {pw} is not set "
                                         "(it must hold the password when sigsup starts)")
        delay, delay_max = f["reconnect_delay"], f["reconnect_delay_max"]
        if ok(delay, delay_max) and delay_max < delay:
            r.err(p + ("reconnect_delay_max",), f"must be at least reconnect_delay "
                                                f"({c.num_text(delay)}), "
                                                f"got {c.num_text(delay_max)}")
        key = (conninfo, f["channel"], f["signal"])
        if ok(*key):
            if key in seen:
                r.err(p + ("channel",), f"pgnotify[{seen[key]}] already raises signal "
                                        f"{key[2]} for channel {key[1]!r} on this connection")
            else:
                seen[key] = p[1]
        out.append(PgNotifyConfig(conninfo=conninfo, **f))
    return out
