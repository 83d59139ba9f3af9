"""Helpers for the spooler, mule and decorator e2e tests (test_spool.py, test_mules.py,
test_decorators.py): records the apps write, the API from the test process, polling."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sigsup import context
from sigsup import treeconfig as conf


def records(master: Any, **match: Any) -> list[dict[str, Any]]:
    """The JSON lines the apps wrote to $E2E_OUT, those whose fields equal ``match``."""
    try:
        data = master.out.read_bytes()
    except FileNotFoundError:
        return []
    out = []
    for line in data.split(b"\n")[:-1]:
        if line:
            r = json.loads(line)
            if all(r.get(k) == v for k, v in match.items()):
                out.append(r)
    return out


def wait_records(master: Any, n: int, timeout: float = 15.0, **match: Any) -> list[dict[str, Any]]:
    return master.wait_for(lambda: (lambda rs: rs if len(rs) >= n else None)(records(master, **match)),
                           timeout, f"{n} records matching {match}")


@contextlib.contextmanager
def api(master: Any, client: bool = True) -> Iterator[None]:
    """The sigsup API from the test process against ``master``'s config (and, with
    ``client``, its control socket, as an outside script with SIGSUP_SOCKET). Everything is
    put back after."""
    before_rt = context.current_or_none()
    before_cfg = conf.current_or_none_held()
    before_env = os.environ.get(conf.ENV)
    os.environ[conf.ENV] = str(master.cfg)
    conf.set_config(None)
    if client:
        from sigsup.client_runtime import ClientRuntime
        context.install(ClientRuntime(str(master.sock)))
    else:
        context.install(None)
    try:
        yield
    finally:
        context.install(before_rt)
        conf.set_config(before_cfg)
        if before_env is None:
            os.environ.pop(conf.ENV, None)
        else:
            os.environ[conf.ENV] = before_env


def spooler(master: Any, name: str = "default", st: dict[str, Any] | None = None) -> dict[str, Any]:
    return (st or master.status())["spoolers"][name]


def wait_spooler(master: Any, cond: Callable[[dict[str, Any]], bool], what: str,
                 name: str = "default", timeout: float = 15.0) -> dict[str, Any]:
    return master.wait_for(lambda: (lambda s: s if cond(s) else None)(spooler(master, name)),
                           timeout, f"spooler {name}: {what}")


def spool_dir(master: Any, name: str = "default") -> Path:
    return master.dir / "spool" / name


def listing(master: Any, name: str = "default") -> dict[str, list[str]]:
    d = spool_dir(master, name)
    return {s: sorted(os.listdir(d / s)) if (d / s).is_dir() else []
            for s in ("jobs", "running", "failed", "tmp")}
