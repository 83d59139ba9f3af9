"""``import uwsgi`` inside a sigsup tree: uWSGI's Python API, each function mapped onto
sigsup's own (sigsup/__init__.py, mules, spool, locks, context).

It is importable as ``uwsgi`` only inside a sigsup process (``sigsup.compat.install``, run
when a master starts; children inherit it through fork). What differs from uWSGI, and why,
is in docs/migrating-from-uwsgi.md; in short, sigsup refuses (an exception, or False
where uWSGI returns a flag) where uWSGI drops silently.

The hook attributes (``post_fork_hook``, ``spooler``, ``mule_msg_hook``) and the values
(``opt``, ``numproc``, ``started_on``, ``hostname``) are properties of this module's class:
they live in the process's ``context.Process``, not in module globals.
"""

from __future__ import annotations

import socket
import sys
import time
import types
from collections.abc import Callable
from typing import Any

import sigsup
from sigsup import client_runtime, context
from sigsup.compat import hooks, localfns, missing, options, spooling
from sigsup.errors import NotInSigsup
from sigsup.importing import path_of
from sigsup.mules.api import MessageRefused
from sigsup.routing.table import check_signum
from sigsup.spool.job import SPOOL_IGNORE, SPOOL_OK, SPOOL_RETRY
from sigsup.treeconfig import current_or_none as _config

__all__ = [
    "SPOOL_IGNORE", "SPOOL_OK", "SPOOL_RETRY", "add_cron", "add_file_monitor", "add_ms_timer",
    "add_rb_timer", "add_timer", "farm_get_msg", "farm_msg", "i_am_the_spooler", "in_farm",
    "is_locked", "lock", "log", "masterpid", "mule_get_msg", "mule_id", "mule_msg", "register_signal",
    "reload", "send_to_spooler", "set_spooler_frequency", "signal", "signal_received",
    "signal_registered", "signal_wait", "spool", "spooler_jobs", "spooler_pid",
    "spooler_pids", "unlock", "worker_id",
]


class Started:
    """When this tree's master installed the module (``uwsgi.started_on``)."""

    def __init__(self) -> None:
        self.at = int(time.time())


# -- signals -----------------------------------------------------------------------------


def _handler_path(num: int, target: str, handler: Any) -> str:
    """The table's path for ``handler``: its own import path when it has one that leads
    back to it, else a trampoline to this process's copy (localfns), if ``target`` can
    have it."""
    if isinstance(handler, str):
        return handler
    if not callable(handler):
        raise TypeError(f"register_signal({num}, ...): the handler must be callable, not "
                        f"{handler!r}")
    try:
        return path_of(handler)
    except ValueError:
        pass
    rt = client_runtime.current()
    kind, index = rt.identity.kind, rt.identity.index
    why = localfns.refusal(kind, index, target)
    if why is not None:
        raise ValueError(f"register_signal({num}, {target!r}, {_name(handler)}): {why}")
    return localfns.keep(localfns.signal_token(num), handler, rt.identity.name)


def _name(fn: Any) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)


def register_signal(num: int, target: str, handler: Callable[..., Any] | str) -> None:
    """uWSGI's ``register_signal``: ``handler(num)`` runs on ``target`` (``""`` is one worker).
    ValueError for a number outside 0..255 (uWSGI wraps it), a bad target, or a function
    object the target's processes cannot have."""
    check_signum(num)
    target = target or "worker"
    sigsup.register_signal(num, target, _handler_path(num, target, handler))


def signal(num: int, remote: str | None = None) -> None:
    """Raise ``num``. SignalRefused when the master refused it (uWSGI drops it silently)."""
    if remote is not None:
        raise ValueError(f"uwsgi.signal({num}, {remote!r}): remote raises are not provided "
                         f"by sigsup (use `sigsup raise --socket`); see {missing.DOC}")
    sigsup.signal(num)


def signal_registered(num: int) -> bool:
    return sigsup.signal_registered(num)


def signal_wait(num: int | None = None) -> bytes:
    """Block until a signal (any, or ``num``) arrives, running its handler; ``b""`` like
    uWSGI (``signal_received()`` says which)."""
    sigsup.signal_wait(num)
    return b""


def signal_received() -> int:
    return sigsup.signal_received()


def add_timer(num: int, seconds: float) -> sigsup.EventHandle:
    return sigsup.add_timer(num, seconds)


def add_ms_timer(num: int, ms: float) -> sigsup.EventHandle:
    return sigsup.add_timer(num, ms / 1000.0)


def add_rb_timer(num: int, seconds: float, iterations: int = 0) -> sigsup.EventHandle:
    return sigsup.add_rb_timer(num, seconds, iterations)


def add_cron(num: int, minute: int, hour: int, day: int, month: int,
             weekday: int) -> sigsup.EventHandle:
    """uWSGI's fields: -1 is every, -N every N (aligned to zero, as uWSGI)."""
    return sigsup.add_cron(num, minute, hour, day, month, weekday)


def add_file_monitor(num: int, path: str) -> sigsup.EventHandle:
    return sigsup.add_file_monitor(num, path)


# -- identity ----------------------------------------------------------------------------


def worker_id() -> int:
    return sigsup.worker_id()


def mule_id() -> int:
    return sigsup.mule_id()


def masterpid() -> int:
    return sigsup.masterpid()


def i_am_the_spooler() -> bool:
    rt = context.current_or_none()
    return rt is not None and rt.identity.kind == "spooler"


def log(message: Any) -> bool:
    """A line in the tree's log (this process's output)."""
    print(message if isinstance(message, str) else str(message), file=sys.stderr, flush=True)
    return True


def reload(*_signum: Any) -> Any:
    """``sigsup.reload()``: restart the workers gracefully (usable as a signal handler,
    ``filemon(path)(uwsgi.reload)``)."""
    return sigsup.reload()  # type: ignore[attr-defined]  # noqa: B009


# -- mules -------------------------------------------------------------------------------


def mule_msg(message: bytes | str, mule: int | str | None = None) -> bool:
    """Send to any mule (None or 0), mule N, or one mule of farm NAME. False when the
    master refused it (full, no such mule or farm); it counts the refusal."""
    try:
        sigsup.mule_msg(message, None if mule == 0 else mule)
    except MessageRefused as exc:
        print(f"uwsgi.mule_msg refused: {exc}", file=sys.stderr)
        return False
    return True


def farm_msg(farm: str, message: bytes | str) -> bool:
    return mule_msg(message, farm)


def _bytes(msg: bytes | str | None) -> bytes | None:
    return msg.encode() if isinstance(msg, str) else msg


def mule_get_msg(signals: bool = True, farms: bool = True, buffer_size: int = 65536,
                 timeout: float = -1) -> bytes:
    """In a mule: the next message as bytes; ``b""`` after ``timeout`` seconds (-1:
    forever). Signals for this mule run while it waits when ``signals`` is true."""
    got = sigsup.mule_get_msg(None if timeout is None or timeout < 0 else timeout,
                              signals=bool(signals), farms=bool(farms))
    return b"" if got is None else _bytes(got)  # type: ignore[return-value]


def farm_get_msg() -> bytes | None:
    """In a mule of a farm: the next message, waiting as long as it takes."""
    if not sigsup.in_farm():
        raise NotInSigsup("farm_get_msg works only in a mule of a farm")
    return _bytes(sigsup.mule_get_msg(None, signals=False, farms=True))


def in_farm(name: str | None = None) -> bool:
    return sigsup.in_farm(name)


# -- spoolers ----------------------------------------------------------------------------


def spool(message: dict[Any, Any] | None = None, **kwargs: Any) -> bytes:
    """Queue a job (keys and values bytes or str; ``spooler``, ``priority``, ``at``,
    ``body``); the job file's path as bytes. Delete that file to cancel the job."""
    merged: dict[Any, Any] = dict(message or {})
    merged.update(kwargs)
    return spooling.spool(merged)


send_to_spooler = spool   # uWSGI's other name for it


def spooler_jobs() -> list[bytes]:
    return spooling.job_paths()


def _spooler_pids() -> list[int]:
    status = client_runtime.current().call("status")
    return [int(p["pid"]) for p in status.get("processes", [])
            if p.get("kind") == "spooler" and p.get("pid")]


def spooler_pid() -> int:
    """The first spooler process's pid (0 when none runs)."""
    pids = _spooler_pids()
    return pids[0] if pids else 0


def spooler_pids() -> list[int]:
    return _spooler_pids()


def set_spooler_frequency(seconds: float) -> bool:
    """Accepted for uWSGI code; sigsup's spoolers scan no directory on a period (a job
    runs when it is written or falls due), so there is nothing to change."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
        raise ValueError(f"set_spooler_frequency: seconds must be a positive number, "
                         f"not {seconds!r}")
    return True


# -- locks -------------------------------------------------------------------------------


def lock_name(num: int = 0) -> str:
    """uWSGI's lock ``num`` as a sigsup lock: 0 is ``default`` (``@sigsup.decorators.lock``
    shares it), N is ``uwsgi-N``."""
    if isinstance(num, bool) or not isinstance(num, int):
        raise TypeError(f"a lock number is an integer, not {num!r}")
    if num < 0:
        raise ValueError(f"lock numbers start at 0, not {num}")
    return "default" if num == 0 else f"uwsgi-{num}"


def lock(num: int = 0) -> None:
    sigsup.lock(lock_name(num))


def unlock(num: int = 0) -> None:
    sigsup.unlock(lock_name(num))


def is_locked(num: int = 0) -> bool:
    return sigsup.is_locked(lock_name(num))


# -- the module's class: hook slots, values, cache and what is missing --------------------


def _hook(name: str) -> property:
    return property(lambda self: hooks.get(name),
                    lambda self, fn: hooks.set_hook(name, fn))


class _Uwsgi(types.ModuleType):
    post_fork_hook = _hook("post_fork_hook")
    spooler = _hook("spooler")
    mule_msg_hook = _hook("mule_msg_hook")

    @property
    def opt(self) -> dict[str, Any]:
        return options.opt(_config())

    @property
    def numproc(self) -> int:
        cfg = _config()
        return cfg.workers.count if cfg is not None else 0

    @property
    def started_on(self) -> int:
        return context.process().state(Started).at

    @property
    def hostname(self) -> bytes:
        return socket.gethostname().encode()

    def __getattr__(self, name: str) -> Any:
        if name in missing.CACHE:
            try:
                import sigsup.compat.uwsgi_cache as cache  # type: ignore[import-not-found]
            except ImportError as exc:
                raise AttributeError(f"uwsgi.{name}: sigsup's cache is not available here "
                                     f"({exc}); see {missing.DOC}") from None
            return getattr(cache, name)
        raise missing.not_provided("uwsgi", name)


sys.modules[__name__].__class__ = _Uwsgi
