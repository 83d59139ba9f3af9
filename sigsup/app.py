"""The composition root: a master built with its features, from a config or a config path.

This is the one place that knows every feature. ``FEATURES`` lists them in the order the
master calls their hooks; ``build_master`` gives them to a ``Master``; ``load_master`` makes
every check ``start`` and ``check`` make: the file is checked first, then the ``preload``
modules are imported with the master's runtime installed (so their module-level
``sigsup.register_signal``, ``add_timer``... reach it) and every handler path is imported.
Problems of both kinds are reported together.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sigsup import context
from sigsup.cache.master import CacheExtension
from sigsup.config import Config, ConfigError, load_config
from sigsup.context import Identity
from sigsup.master.log import Log
from sigsup.master.loop import Master
from sigsup.master.ossys import OsSys
from sigsup.master.port import Feature
from sigsup.mules.master import MessageExtension
from sigsup.pgnotify.master import PgNotify
from sigsup.reload.master import ReloadExtension
from sigsup.routing.result import RaiseResult
from sigsup.sources.scheduler import Scheduler
from sigsup.spool.master import SpoolExtension
from sigsup.status.monitor import StatusMonitor

FEATURES: tuple[Feature, ...] = (
    StatusMonitor,      # status, events, raises/s, RSS/CPU, refusals
    Scheduler,          # timers, rb_timers, crons, file monitors
    SpoolExtension,     # spooler processes, jobs on disk
    MessageExtension,   # mule_msg / farm_msg queues
    CacheExtension,     # the shared caches (files made before fork), their figures
    PgNotify,           # [[pgnotify]]: PostgreSQL LISTEN/NOTIFY, in a listener process
    ReloadExtension,    # sigsup reload, SIGHUP, sigsup.reload()
)


def build_master(config: Config, *, ossys: OsSys | None = None, log: Log | None = None,
                 features: tuple[Feature, ...] = FEATURES) -> Master:
    return Master(config, ossys=ossys, log=log, features=features)


class DryRuntime:
    """Stands in for a master when the file is too broken to build one: preload modules
    still import (their sigsup calls succeed and do nothing) so import problems are found."""

    identity = Identity("master", 0, "check", 0)

    def call(self, cmd: str, **args: Any) -> dict[str, Any]:
        return {"ok": True, "id": 0, "registered": False, "removed": False, "signum": args.get("signum")}

    def raise_signal(self, signum: int) -> dict[str, Any]:
        return RaiseResult(0, signum).as_dict()   # nobody to run it, nothing refused


def load_master(path: str | Path, log: Log) -> Master:
    """A master for the config at ``path``, its preload modules imported; ConfigError lists
    every problem (of the file and of the imports) when there is one."""
    try:
        cfg = load_config(path)
    except ConfigError:
        context.install(DryRuntime())
        try:
            load_config(path, check_imports=True)   # the same problems, with the imports'
        finally:
            context.install(None)
        raise   # pragma: no cover - the second load fails whenever the first did
    master = build_master(cfg, log=log)
    master.install_runtime()
    load_config(path, check_imports=True)
    return master
