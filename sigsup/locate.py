"""Finding a running master's control socket from the CLI's options."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


class LocateError(Exception):
    """No socket could be chosen; the message says where we looked."""


def default_socket_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "sigsup"
    return Path(f"/tmp/sigsup-{os.getuid()}")


def find_socket(socket: str | None, config: str | None,
                env: Mapping[str, str] | None = None) -> Path:
    """--socket, else the config's socket, else $SIGSUP_SOCKET, else the only socket in the
    default directory."""
    env = os.environ if env is None else env
    if socket:
        return Path(socket)
    if config:
        from sigsup.config import load_config
        return load_config(config).supervisor.socket
    if env.get("SIGSUP_SOCKET"):
        return Path(env["SIGSUP_SOCKET"])
    d = default_socket_dir(env)
    found = sorted(d.glob("*.sock")) if d.is_dir() else []
    if not found:
        raise LocateError(f"no master running: no socket in {d} (give --socket or -c CONFIG)")
    if len(found) > 1:
        names = "\n  ".join(str(f) for f in found)
        raise LocateError(f"several masters run; choose one with --socket:\n  {names}")
    return found[0]
