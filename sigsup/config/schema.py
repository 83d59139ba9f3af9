"""The configuration model: frozen dataclasses built by :mod:`sigsup.config.loader`.

Everything here is already validated: paths are absolute, targets are bound to the tree,
numbers are in range. Mappings are read-only views (``types.MappingProxyType``) that keep
declaration order where it matters (farms, spoolers); signals are kept sorted by number.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from sigsup.routing.targets import Target, TreeShape

__all__ = [
    "MONITOR_EVENTS",
    "Config",
    "CronConfig",
    "MonitorConfig",
    "MulesConfig",
    "SignalConfig",
    "SpoolerConfig",
    "SupervisorConfig",
    "TimerConfig",
    "WorkersConfig",
]

MONITOR_EVENTS: tuple[str, ...] = ("created", "modified", "deleted", "moved")


def _empty_map() -> Mapping:
    return MappingProxyType({})


@dataclass(frozen=True)
class SupervisorConfig:
    name: str
    socket: Path
    pythonpath: tuple[Path, ...] = ()
    preload: tuple[str, ...] = ()
    shutdown_timeout: float = 10.0
    harakiri: float = 0.0
    queue_size: int = 10000
    window: int = 8
    respawn_delay: float = 0.1
    respawn_delay_max: float = 30.0
    failure_limit: int = 5
    failure_window: float = 10.0
    failure_cooldown: float = 60.0


@dataclass(frozen=True)
class WorkersConfig:
    count: int = 1
    cheaper: int | None = None
    cheaper_idle: float = 10.0


@dataclass(frozen=True)
class MulesConfig:
    count: int = 0
    programs: Mapping[int, str] = field(default_factory=_empty_map)
    message_handler: str | None = None


@dataclass(frozen=True)
class SpoolerConfig:
    name: str
    dir: Path
    processes: int = 1
    handler: str | None = None
    max_retries: int = 5
    retry_backoff: float = 2.0
    retry_backoff_max: float = 300.0
    harakiri: float = 0.0


@dataclass(frozen=True)
class SignalConfig:
    num: int
    handler: str
    target: Target
    on_full: str = "reject"


@dataclass(frozen=True)
class TimerConfig:
    kind: str  # "timer" or "rb_timer"
    signal: int
    seconds: float
    iterations: int = 0


@dataclass(frozen=True)
class CronConfig:
    signal: int
    schedule: str | None
    fields: tuple[int, int, int, int, int] | None
    timezone: str | None = None
    iterations: int = 0
    misfire_grace: float = 60.0


@dataclass(frozen=True)
class MonitorConfig:
    signal: int
    path: Path
    recursive: bool = False
    events: tuple[str, ...] = MONITOR_EVENTS
    debounce: float = 0.1
    iterations: int = 0
    wait_for_path: bool = False


@dataclass(frozen=True)
class Config:
    path: Path
    supervisor: SupervisorConfig
    workers: WorkersConfig
    mules: MulesConfig
    farms: Mapping[str, tuple[int, ...]]
    spoolers: Mapping[str, SpoolerConfig]
    signals: Mapping[int, SignalConfig]
    timers: tuple[TimerConfig, ...] = ()
    rb_timers: tuple[TimerConfig, ...] = ()
    crons: tuple[CronConfig, ...] = ()
    monitors: tuple[MonitorConfig, ...] = ()

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
