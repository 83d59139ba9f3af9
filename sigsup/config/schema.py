"""The configuration model: frozen dataclasses built by :mod:`sigsup.config.loader`.

Everything here is already validated: paths are absolute, targets are bound to the tree,
numbers are in range. Mappings are read-only views (``types.MappingProxyType``) that keep
declaration order where it matters (farms, spoolers); signals are kept sorted by number.

Each field also says how it is read from TOML (:func:`~sigsup.config.fieldspec.setting`:
its key, its check, its default, its documentation): the loader takes the keys each table
accepts and the defaults from here, so both are written once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from sigsup.routing.table import ON_FULL
from sigsup.routing.targets import Target, TreeShape
from sigsup.schedule.cron import UWSGI_FIELDS

from . import convert as c
from . import pgconvert as pg
from .fieldspec import setting, toml_keys

__all__ = [
    "CRON_EVERY",
    "CRON_FIELDS",
    "CACHE_SPAN_MAX",
    "MIN_TIMER_SECONDS",
    "MONITOR_EVENTS",
    "SECTIONS",
    "CacheConfig",
    "Config",
    "CronConfig",
    "MonitorConfig",
    "MulesConfig",
    "PgNotifyConfig",
    "SignalConfig",
    "SpoolerConfig",
    "SupervisorConfig",
    "TimerConfig",
    "WorkersConfig",
]

MONITOR_EVENTS: tuple[str, ...] = ("created", "modified", "deleted", "moved")
MIN_TIMER_SECONDS = 0.01
# uWSGI's cron fields: (key, lo, hi); -1 is every, -N every N (up to hi)
CRON_FIELDS: tuple[tuple[str, int, int], ...] = UWSGI_FIELDS   # uWSGI's five, with their ranges
CRON_EVERY = -1  # the value of a uWSGI field that is not given

_SIGNAL_REQUIRED = "required: the number of the signal to raise"


def _empty_map() -> Mapping:
    return MappingProxyType({})


@dataclass(frozen=True)
class SupervisorConfig:
    name: str = setting("names the control socket file; default: the config file's stem",
                        conv=c.tree_name)
    socket: Path = setting("the control socket; default: $XDG_RUNTIME_DIR/sigsup/NAME.sock, "
                           "else /tmp/sigsup-UID/NAME.sock", conv=c.file_path, relative=True)
    pythonpath: tuple[Path, ...] = setting(
        "directories prepended to sys.path in the master (children inherit it)",
        conv=c.paths, relative=True, default=())
    preload: tuple[str, ...] = setting(
        "modules imported in the master before it forks", conv=c.module_names, default=())
    shutdown_timeout: float = setting(
        "seconds running handlers get on stop, then SIGKILL",
        conv=c.number, default=10.0, lo=0, open_lo=True)
    harakiri: float = setting(
        "seconds a handler may run before its process is killed; 0 = no limit",
        conv=c.number, default=0.0, lo=0)
    queue_size: int = setting(
        "bound of every queue in the master (per process, per pool)",
        conv=c.integer, default=10000, lo=1)
    window: int = setting(
        "signals in flight per process; the rest wait in the master",
        conv=c.integer, default=8, lo=1, hi=1024)
    respawn_delay: float = setting(
        "first respawn delay; doubles per death inside failure_window",
        conv=c.number, default=0.1, lo=0, open_lo=True)
    respawn_delay_max: float = setting(
        "the longest respawn delay (at least respawn_delay)",
        conv=c.number, default=30.0, lo=0, open_lo=True)
    failure_limit: int = setting(
        "this many deaths inside failure_window mark the process failed",
        conv=c.integer, default=5, lo=1)
    failure_window: float = setting(
        "seconds in which failure_limit deaths mark a process failed",
        conv=c.number, default=10.0, lo=0, open_lo=True)
    failure_cooldown: float = setting(
        "seconds before a failed process is tried again",
        conv=c.number, default=60.0, lo=0, open_lo=True)


@dataclass(frozen=True)
class WorkersConfig:
    count: int = setting("workers: worker1..workerN", conv=c.integer, default=1, lo=0)
    cheaper: int | None = setting(
        "keep at least this many running; idle extra workers are stopped (at most count)",
        conv=c.integer, default=None, lo=0)
    cheaper_idle: float = setting(
        "seconds idle before an extra worker is stopped",
        conv=c.number, default=10.0, lo=0, open_lo=True)


@dataclass(frozen=True)
class MulesConfig:
    count: int = setting("mules: mule1..muleN", conv=c.integer, default=0, lo=0)
    programs: Mapping[int, str] = setting(
        "[mules.main]: programmed mules, mule id = import path",
        key="main", default_factory=_empty_map)
    message_handler: str | None = setting(
        "what plain mules call for each mule_msg(); without it they keep messages",
        conv=c.import_path, imported=True, default=None)


@dataclass(frozen=True)
class SpoolerConfig:
    name: str = setting("NAME of [spoolers.NAME]", key=None)
    dir: Path = setting(
        "the directory of the jobs on disk", conv=c.file_path, relative=True,
        required="required: the directory that holds this spooler's jobs")
    processes: int = setting("spooler processes", conv=c.integer, default=1, lo=1)
    handler: str | None = setting(
        "handler(job) -> None/SPOOL_OK, SPOOL_RETRY or SPOOL_IGNORE",
        conv=c.import_path, imported=True, default=None)
    max_retries: int = setting(
        "retries after the first run, then the job goes to dir/failed/",
        conv=c.integer, default=5, lo=0)
    retry_backoff: float = setting(
        "seconds before the first retry, doubled each time",
        conv=c.number, default=2.0, lo=0, open_lo=True)
    retry_backoff_max: float = setting(
        "the longest wait before a retry (at least retry_backoff)",
        conv=c.number, default=300.0, lo=0, open_lo=True)
    harakiri: float = setting(
        "seconds a job may run before its process is killed; 0 = no limit",
        conv=c.number, default=0.0, lo=0)


@dataclass(frozen=True)
class SignalConfig:
    num: int = setting("N of [signals.N]", key=None)
    handler: str = setting(
        "called as handler(signum)", conv=c.import_path, imported=True,
        required="required: the import path of the function that handles this signal, "
                 "e.g. 'app.handlers:on_reload'")
    target: Target = setting("who runs it: 'worker' (the default), 'workers', 'mule2'...")
    on_full: str = setting(
        "when a queue is full: 'reject' it or 'coalesce' into an identical pending one",
        conv=c.string, default="reject", choices=ON_FULL)


@dataclass(frozen=True)
class TimerConfig:
    kind: str = setting('"timer" or "rb_timer": the section', key=None)
    signal: int = setting("the signal raised", conv=c.signal_number, required=_SIGNAL_REQUIRED)
    seconds: float = setting(
        f"the period, at least {MIN_TIMER_SECONDS}", conv=c.number, lo=MIN_TIMER_SECONDS,
        required="required: the period in seconds")
    iterations: int = setting("fire N times, then stop; 0 = forever",
                              conv=c.integer, default=0, lo=0)


@dataclass(frozen=True)
class CronConfig:
    signal: int = setting("the signal raised", conv=c.signal_number, required=_SIGNAL_REQUIRED)
    schedule: str | None = setting(
        "a cron expression: 5 fields, 6 with seconds first, or @daily...",
        conv=c.cron_expression)
    fields: tuple[int, int, int, int, int] | None = setting(
        "instead of schedule: uWSGI's fields (-1 = every; -N = every N)",
        key=None, keys=tuple(name for name, _, _ in CRON_FIELDS))
    timezone: str | None = setting(
        "an IANA zone; default: the machine's local zone", conv=c.timezone, default=None)
    iterations: int = setting("fire N times, then stop; 0 = forever",
                              conv=c.integer, default=0, lo=0)
    misfire_grace: float = setting(
        "seconds a missed run may still run late", conv=c.number, default=60.0, lo=0)


@dataclass(frozen=True)
class MonitorConfig:
    signal: int = setting("the signal raised", conv=c.signal_number, required=_SIGNAL_REQUIRED)
    path: Path = setting("the file or directory to watch", conv=c.file_path, relative=True,
                         required="required: the file or directory to watch")
    recursive: bool = setting("subdirectories too, new ones included",
                              conv=c.boolean, default=False)
    events: tuple[str, ...] = setting(
        "the events that raise it; default: all", conv=c.event_names,
        default=MONITOR_EVENTS, choices=MONITOR_EVENTS)
    debounce: float = setting("a burst within this many seconds raises one signal",
                              conv=c.number, default=0.1, lo=0)
    iterations: int = setting("fire N times, then stop; 0 = forever",
                              conv=c.integer, default=0, lo=0)
    wait_for_path: bool = setting("a missing path is waited for instead of an error",
                                  conv=c.boolean, default=False)


# items x max_item_bytes: the size of a cache's (sparse) shared file, and of its mapping
CACHE_SPAN_MAX = 16 * 1024**3


@dataclass(frozen=True)
class CacheConfig:
    name: str = setting("NAME of [caches.NAME]", key=None)
    items: int = setting("entries it holds at most", conv=c.integer, default=1000,
                         lo=1, hi=1_000_000)
    max_bytes: int = setting("bytes of keys and values it holds at most",
                             conv=c.integer, default=16 * 1024**2, lo=1)
    max_item_bytes: int = setting("the largest value, in bytes", conv=c.integer,
                                  default=64 * 1024, lo=1, hi=64 * 1024**2)


@dataclass(frozen=True)
class PgNotifyConfig:
    """One ``[[pgnotify]]``: LISTEN on a PostgreSQL channel, each NOTIFY raises ``signal``."""

    channel: str = setting("the channel LISTENed to (case kept)", conv=pg.pg_channel,
                           required="required: the channel to LISTEN on, e.g. 'orders'")
    signal: int = setting("the signal each notification raises", conv=c.signal_number,
                          required=_SIGNAL_REQUIRED)
    on_gap: int | None = setting(
        "the signal raised after a reconnect (what was sent meanwhile is lost)",
        conv=c.signal_number, default=None)
    payload: str = setting("how the handler gets the payload: 'text' or 'json' (decoded)",
                           conv=c.string, default="text", choices=pg.PAYLOADS)
    dsn: str | None = setting(
        "a libpq connection string or URI, with no password; or host/port/dbname/user",
        conv=pg.conninfo, default=None)
    host: str | None = setting("instead of dsn: the server's host (or socket directory)",
                               conv=c.string, default=None)
    port: int | None = setting("instead of dsn: the server's port", conv=c.integer,
                               default=None, lo=1, hi=65535)
    dbname: str | None = setting("instead of dsn: the database", conv=c.string, default=None)
    user: str | None = setting("instead of dsn: the user", conv=c.string, default=None)
    password_env: str | None = setting(
        "the environment variable holding the password (never the file)",
        conv=pg.env_name, default=None)
    connect_timeout: float = setting("seconds a connection attempt may take",
                                     conv=c.number, default=5.0, lo=0, open_lo=True)
    reconnect_delay: float = setting("seconds before the first reconnect; doubles per failure",
                                     conv=c.number, default=0.5, lo=0, open_lo=True)
    reconnect_delay_max: float = setting("the longest wait between reconnects",
                                         conv=c.number, default=30.0, lo=0, open_lo=True)
    conninfo: str = setting("the connection string used (dsn, or built from the parts)",
                            key=None, default="")


@dataclass(frozen=True)
class Config:
    path: Path = setting("the config file", key=None)
    supervisor: SupervisorConfig = setting("[supervisor]")
    workers: WorkersConfig = setting("[workers]")
    mules: MulesConfig = setting("[mules] and [mules.main]")
    farms: Mapping[str, tuple[int, ...]] = setting("[farms]: name = [mule ids]")
    spoolers: Mapping[str, SpoolerConfig] = setting("[spoolers.NAME]")
    signals: Mapping[int, SignalConfig] = setting("[signals.N]: the signal table")
    timers: tuple[TimerConfig, ...] = setting("[[timers]]", default=())
    rb_timers: tuple[TimerConfig, ...] = setting("[[rb_timers]]", default=())
    crons: tuple[CronConfig, ...] = setting("[[crons]]", default=())
    monitors: tuple[MonitorConfig, ...] = setting("[[monitors]]", default=())
    caches: Mapping[str, CacheConfig] = setting("[caches.NAME]: shared caches",
                                                default_factory=_empty_map)
    options: Mapping[str, object] = setting(
        "[options]: the application's own keys (uwsgi.opt)", default_factory=_empty_map)
    pgnotify: tuple[PgNotifyConfig, ...] = setting("[[pgnotify]]", default=())

    @property
    def base_dir(self) -> Path:
        """The directory of the config file: relative paths in it are relative to this."""
        return self.path.parent

    def shape(self) -> TreeShape:
        """What targets are checked against."""
        return TreeShape(
            workers=self.workers.count,
            mules=self.mules.count,
            farms=tuple(self.farms),
            spoolers=tuple(self.spoolers),
        )


# the top-level sections of a config file
SECTIONS: tuple[str, ...] = toml_keys(Config)
