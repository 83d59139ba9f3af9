"""From a config path to a master ready to run: every check ``start`` and ``check`` make.

The file is checked first; then the ``preload`` modules are imported with the master's
runtime installed (so their module-level ``sigsup.register_signal``, ``add_timer``... reach
it) and every handler path is imported. Problems of both kinds are reported together.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sigsup import context
from sigsup.config import ConfigError, load_config
from sigsup.context import Identity
from sigsup.master.log import Log
from sigsup.master.loop import Master


class DryRuntime:
    """Stands in for a master when the file is too broken to build one: preload modules
    still import (their sigsup calls succeed and do nothing) so import problems are found."""

    identity = Identity("master", 0, "check", 0)

    def call(self, cmd: str, **args: Any) -> dict[str, Any]:
        return {"ok": True, "id": 0, "registered": False, "removed": False, "signum": args.get("signum")}

    def raise_signal(self, signum: int) -> dict[str, Any]:
        return {"id": 0, "signum": signum, "accepted": True, "recipients": [], "coalesced": [],
                "refused": []}


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
    master = Master(cfg, log=log)
    master.install_runtime()
    load_config(path, check_imports=True)
    return master
