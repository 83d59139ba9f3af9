"""sigsup's configuration: a TOML file validated into frozen dataclasses.

    from sigsup.config import load_config, ConfigError
    try:
        config = load_config("sigsup.toml", check_imports=True)
    except ConfigError as err:
        print(format_problems(err))
"""

from .loader import load_config, parse_config
from .problems import ConfigError, Problem, format_problems
from .schema import (
    MONITOR_EVENTS,
    Config,
    CronConfig,
    MonitorConfig,
    MulesConfig,
    SignalConfig,
    SpoolerConfig,
    SupervisorConfig,
    TimerConfig,
    WorkersConfig,
)

__all__ = [
    "MONITOR_EVENTS",
    "Config",
    "ConfigError",
    "CronConfig",
    "MonitorConfig",
    "MulesConfig",
    "Problem",
    "SignalConfig",
    "SpoolerConfig",
    "SupervisorConfig",
    "TimerConfig",
    "WorkersConfig",
    "format_problems",
    "load_config",
    "parse_config",
]
