"""Finding a running master's control socket: one rule for the CLI and the library.

``--socket``, else ``-c CONFIG`` (the CLI's options), else ``$SIGSUP_SOCKET``, else
``$SIGSUP_CONFIG`` (its master's socket), else the one master answering in the default
socket directory (``$XDG_RUNTIME_DIR/sigsup``, else ``/tmp/sigsup-UID``), else a
``LocateError`` whose one line says where it looked and what to set.
"""

from __future__ import annotations

import os
import socket as _socket
from collections.abc import Mapping
from pathlib import Path

SOCKET_ENV = "SIGSUP_SOCKET"
CONFIG_ENV = "SIGSUP_CONFIG"
# the names a config in the working directory may have, for the "-c FILE" suggestion
_CONFIG_MARKS = ("[supervisor]", "[workers]", "[signals.", "[mules]", "[spoolers.")


class LocateError(Exception):
    """No socket could be chosen; the message says where we looked."""

    exit_code = 2


class NoMasterFound(LocateError):
    """No master answers where we looked."""

    exit_code = 2


class SeveralMasters(LocateError):
    """More than one master answers in the default directory: which one is meant?"""

    exit_code = 4


def default_socket_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    runtime = env.get("XDG_RUNTIME_DIR", "")
    if runtime and os.path.isabs(runtime):
        return Path(runtime) / "sigsup"
    return Path(f"/tmp/sigsup-{os.getuid()}")


def answers(path: Path, timeout: float = 1.0) -> bool:
    """Someone listens at ``path`` (a stale socket file refuses the connection)."""
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(str(path))
    except OSError:
        return False
    finally:
        s.close()
    return True


def running_sockets(d: Path) -> tuple[list[Path], list[Path]]:
    """The sockets in ``d`` a master answers at, and the stale ones."""
    found = sorted(d.glob("*.sock")) if d.is_dir() else []
    live = [p for p in found if answers(p)]
    return live, [p for p in found if p not in live]


def configs_here(cwd: Path | None = None) -> list[str]:
    """The sigsup configs in the working directory (for a "-c FILE" suggestion)."""
    d = Path.cwd() if cwd is None else cwd
    out = []
    try:
        files = sorted(d.glob("*.toml"))
    except OSError:
        return []
    for f in files:
        if f.name == "pyproject.toml":
            continue
        try:
            text = f.read_text(errors="replace")[:20000]
        except OSError:
            continue
        if any(mark in text for mark in _CONFIG_MARKS):
            out.append(f.name)
    return out


def suggestion(cwd: Path | None = None) -> str:
    """What to try next, naming the configs of the working directory if there are any."""
    found = configs_here(cwd)
    if found:
        return "try " + " or ".join(f"-c {name}" for name in found[:3])
    return (f"give --socket PATH or -c FILE, or set ${SOCKET_ENV} to its socket or "
            f"${CONFIG_ENV} to its config")


def find_socket(socket: str | None, config: str | None,
                env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Path:
    """--socket, else the config's socket, else $SIGSUP_SOCKET, else $SIGSUP_CONFIG's
    socket, else the only master answering in the default directory."""
    env = os.environ if env is None else env
    if socket:
        return Path(socket)
    if config:
        from sigsup.config import load_config
        return load_config(config).supervisor.socket
    if env.get(SOCKET_ENV):
        return Path(env[SOCKET_ENV])
    if env.get(CONFIG_ENV):
        from sigsup.config import load_config
        return load_config(env[CONFIG_ENV]).supervisor.socket
    d = default_socket_dir(env)
    live, stale = running_sockets(d)
    if len(live) > 1:
        names = ", ".join(str(f) for f in live)
        raise SeveralMasters(f"several masters run ({names}); choose one with --socket PATH, "
                             f"or set ${SOCKET_ENV}")
    if not live:
        where = f"no master answers in {d}" + (
            f" (stale: {', '.join(p.name for p in stale)})" if stale else "")
        raise NoMasterFound(f"no master running: {where}, and neither ${SOCKET_ENV} nor "
                            f"${CONFIG_ENV} is set; {suggestion(cwd)}")
    return live[0]


def no_answer_hint(path: str | Path, cwd: Path | None = None) -> str:
    """Said after "no master running at PATH": what else to try (another config here)."""
    found = configs_here(cwd)
    if found:
        return f"started from another config? {suggestion(cwd)}"
    return ""
