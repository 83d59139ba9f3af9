"""``import uwsgidecorators`` inside a sigsup tree: uWSGI's decorators on sigsup's API.

Signal decorators (``signal``, ``timer``, ``rbtimer``, ``mstimer``, ``cron``, ``filemon``)
register the function as uWSGI's do, on a given number or a free one (asked of the master,
which picks atomically: no two decorators get one number), then add the event source
once: a registration that another process made first (every worker running the same
post-fork code) adds no second timer. They stack on one function, and take functions with
no import path (closures) where the processes of the target can have them
(sigsup/compat/localfns.py).

``spool``/``spoolforever``/``spoolraw`` queue sigsup jobs that the spooler runs by the
function's name (``context.process().tasks``); ``pass_arguments=True`` carries JSON
values, not pickles. ``mulefunc`` is sigsup's (JSON arguments). ``postfork``, ``mule``,
``muleloop``, ``mulemsg`` and ``farm`` join the post-fork chain (``uwsgi.post_fork_hook``
beside it); ``lock``, ``thread`` and ``harakiri`` wrap calls.
"""

from __future__ import annotations

import functools
import json
import os
import signal as _posix_signal
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any

import sigsup
from sigsup import client_runtime, context
from sigsup import decorators as _sd
from sigsup.compat import localfns, missing, spooling
from sigsup.compat import uwsgi as _uwsgi
from sigsup.mules.api import MessageRefused
from sigsup.protocol.frames import READY, pack
from sigsup.routing.table import check_signum

__all__ = ["cron", "farm", "filemon", "harakiri", "lock", "mstimer", "mule", "mulefunc",
           "muleloop", "mulemsg", "postfork", "rbtimer", "signal", "spool", "spoolforever",
           "spoolraw", "thread", "timer"]

F = Callable[..., Any]


# -- signals and event sources -----------------------------------------------------------


class Added:
    """What this process's decorators registered (``context.process().state(Added)``)."""

    def __init__(self) -> None:
        self.mine: set[int] = set()               # numbers registered fresh here
        self.sources: set[tuple[Any, ...]] = set()


def _when_ready(action: Callable[[], None]) -> None:
    """Now if this process can reach a master, else when the master starts."""
    now = context.current_or_none() is not None or bool(os.environ.get("SIGSUP_SOCKET"))
    context.process().when_ready(action, now=now)


def _path(fn: F, num: int | None, target: str) -> str:
    path = localfns.module_path(fn)
    if path is not None:
        return path
    ident = client_runtime.current().identity
    why = localfns.refusal(ident.kind, ident.index, target)
    if why is not None:
        raise ValueError(f"@uwsgidecorators on {getattr(fn, '__qualname__', fn)!r} for target "
                         f"{target!r}: {why}")
    token = localfns.signal_token(num) if num is not None else localfns.auto_token(fn)
    return localfns.keep(token, fn, ident.name)


def register(fn: F, num: int | None, target: str, on_full: str) -> tuple[int | None, bool]:
    """Register ``fn`` on ``num`` (None: a free number); (number, fresh here)."""
    target = target or "worker"
    if num is not None:
        check_signum(num)
    path = _path(fn, num, target)
    reply = client_runtime.current().call("register", signum=num, handler=path,
                                          target=target, on_full=on_full)
    got = reply.get("signum", num)
    got = got if isinstance(got, int) and not isinstance(got, bool) else None
    added = context.process().state(Added)
    fresh = not reply.get("existing")
    if got is not None and fresh:
        added.mine.add(got)
    return got, got is not None and got in added.mine


def _source(kind: str, add: Callable[..., Any], signum: int | None, target: str,
            *args: Any) -> Callable[[F], F]:
    def deco(fn: F) -> F:
        def run() -> None:
            num, mine = register(fn, signum, target, "coalesce")
            key = (kind, num, args)
            added = context.process().state(Added)
            if num is not None and mine and key not in added.sources:
                added.sources.add(key)
                add(num, *args)
            fn.signum = num              # type: ignore[attr-defined]
        _when_ready(run)
        return fn
    return deco


def signal(num: int, target: str = "", **_: Any) -> Callable[[F], F]:
    """``@signal(17)``: ``fn(17)`` runs on ``target`` when 17 is raised."""
    def deco(fn: F) -> F:
        def run() -> None:
            register(fn, num, target, "reject")
        _when_ready(run)
        return fn
    return deco


def timer(secs: float, target: str = "", signum: int | None = None, **_: Any) -> Callable[[F], F]:
    return _source("timer", sigsup.add_timer, signum, target, secs)


def mstimer(ms: float, target: str = "", signum: int | None = None, **_: Any) -> Callable[[F], F]:
    return _source("timer", sigsup.add_timer, signum, target, ms / 1000.0)


def rbtimer(secs: float, target: str = "", signum: int | None = None,
            **_: Any) -> Callable[[F], F]:
    return _source("rbtimer", sigsup.add_rb_timer, signum, target, secs)


def cron(minute: int, hour: int, day: int, month: int, dayweek: int, target: str = "",
         signum: int | None = None, **_: Any) -> Callable[[F], F]:
    return _source("cron", sigsup.add_cron, signum, target, minute, hour, day, month, dayweek)


def filemon(fsobj: str, target: str = "", signum: int | None = None,
            **_: Any) -> Callable[[F], F]:
    return _source("filemon", sigsup.add_file_monitor, signum, target,
                   os.path.abspath(os.fspath(fsobj)))


# -- post-fork bodies --------------------------------------------------------------------


class postfork:  # noqa: N801 - uWSGI's name
    """``@postfork``: ``fn()`` in every worker, mule and spooler after fork;
    ``@postfork(2)``: only in worker 2."""

    def __init__(self, f: F | int | None = None) -> None:
        self.wid = 0
        self.f: F | None = None
        if callable(f):
            self.f = f
            _sd.postfork(self)       # type: ignore[arg-type]
        else:
            self.wid = int(f or 0)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.f is None:                  # @postfork(wid) applied to its function
            self.f = args[0]
            _sd.postfork(self)       # type: ignore[arg-type]
            return self.f
        if self.wid and sigsup.worker_id() != self.wid:
            return None
        return self.f(*args, **kwargs)


def _ready() -> None:
    """A mule whose post-fork body takes it over: tell the master it is running."""
    rt = context.current_or_none()
    channel = getattr(rt, "channel", None)
    if channel is not None:
        channel.send(pack(READY, 0, 0, os.getpid()))


def _mule_body(matches: Callable[[], bool], body: Callable[[], Any], name: str) -> None:
    def hook() -> None:
        if not matches():
            return
        _ready()
        try:
            body()
        except Exception:
            print(f"{name} raised (the mule exits and is respawned):", file=sys.stderr)
            traceback.print_exc()
            sys.exit(1)
    _sd.postfork(hook)


def mule(num: int) -> Callable[[F], F]:
    """``@mule(2)``: ``fn()`` runs in mule 2 after fork (then its plain loop)."""
    def deco(fn: F) -> F:
        _mule_body(lambda: sigsup.mule_id() == num, fn, f"@mule({num}) {fn.__qualname__}")
        return fn
    return deco


def muleloop(num: int) -> Callable[[F], F]:
    """``@muleloop(2)``: ``fn()`` again and again in mule 2."""
    def deco(fn: F) -> F:
        def forever() -> None:
            while True:
                fn()
        _mule_body(lambda: sigsup.mule_id() == num, forever, f"@muleloop({num}) {fn.__qualname__}")
        return fn
    return deco


def mulemsg(num: int) -> Callable[[F], F]:
    """``@mulemsg(2)``: mule 2 calls ``fn(message)`` for each message it gets."""
    def deco(fn: F) -> F:
        def forever() -> None:
            while True:
                fn(_uwsgi.mule_get_msg())
        _mule_body(lambda: sigsup.mule_id() == num, forever, f"@mulemsg({num}) {fn.__qualname__}")
        return fn
    return deco


def farm(name: str | None = None, **_: Any) -> Callable[[F], F]:
    """``@farm("reports")``: each mule of that farm calls ``fn(message)`` for each farm
    message."""
    def deco(fn: F) -> F:
        def forever() -> None:
            while True:
                msg = _uwsgi.farm_get_msg()
                if msg:
                    fn(msg)
        _mule_body(lambda: sigsup.in_farm(name), forever, f"@farm({name!r}) {fn.__qualname__}")
        return fn
    return deco


# -- spooler tasks -----------------------------------------------------------------------


SPOOLER_KEYS = ("spooler", "priority", "at", "body")


class _spoolraw:  # noqa: N801 - uWSGI's name
    """A spooler task: calling it (or ``.spool``) queues a job; the spooler runs it by
    name. Its return value is the job's outcome (a SPOOL_* code)."""

    ret: int | None = None          # the fixed outcome of spool / spoolforever

    def __init__(self, f: F, pass_arguments: bool) -> None:
        self.f = f
        self.pass_arguments = pass_arguments
        self.task = f"{getattr(f, '__module__', '')}:{getattr(f, '__qualname__', f)}"
        functools.update_wrapper(self, f)     # type: ignore[arg-type]
        context.process().tasks[self.task] = self.run

    def __call__(self, *args: Any, **kwargs: Any) -> bytes:
        if not self.pass_arguments:
            message: dict[Any, Any] = {}
            if args:
                message.update(args[0])
            message.update(kwargs)
            return spooling.spool(message, task=self.task)
        magic = {k: kwargs.pop(k) for k in SPOOLER_KEYS if k in kwargs}
        try:
            json.dumps([args, kwargs], allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{self.task}.spool(): with pass_arguments=True the arguments "
                            f"are stored as JSON (sigsup does not pickle): {exc}") from None
        return spooling.queue(magic, {"args": list(args), "kwargs": kwargs}, self.task)

    def spool(self, *args: Any, **kwargs: Any) -> bytes:
        return self(*args, **kwargs)

    def run(self, **stored: Any) -> int:
        """In the spooler: the job's arguments back into the call uWSGI makes."""
        body = stored.pop("body", None)
        if self.pass_arguments:
            ret = self.f(*stored.get("args", []), **stored.get("kwargs", {}))
        else:
            message = {k: spooling.decode_value(v) for k, v in stored.items()}
            if body is not None:
                message["body"] = body
            ret = self.f(message)
        if self.ret is not None:
            return self.ret
        if type(ret) is int and ret in (_uwsgi.SPOOL_OK, _uwsgi.SPOOL_RETRY,
                                        _uwsgi.SPOOL_IGNORE):
            return ret
        raise ValueError(f"@spoolraw {self.task} returned {ret!r}: return uwsgi.SPOOL_OK, "
                         "SPOOL_RETRY or SPOOL_IGNORE")


class _spool(_spoolraw):  # noqa: N801
    ret = _uwsgi.SPOOL_OK


class _spoolforever(_spoolraw):  # noqa: N801
    ret = _uwsgi.SPOOL_RETRY


def _spool_decorate(f: F | None, pass_arguments: bool, cls: type[_spoolraw]) -> Any:
    if f is None:
        return lambda fn: cls(fn, pass_arguments)
    return cls(f, pass_arguments)


def spool(f: F | None = None, pass_arguments: bool = False) -> Any:
    """``@spool``: the job is done when the function returns (an exception retries it)."""
    return _spool_decorate(f, pass_arguments, _spool)


def spoolforever(f: F | None = None, pass_arguments: bool = False) -> Any:
    """``@spoolforever``: the job runs again after each run (up to the spooler's
    max_retries: sigsup bounds what uWSGI repeats forever)."""
    return _spool_decorate(f, pass_arguments, _spoolforever)


def spoolraw(f: F | None = None, pass_arguments: bool = False) -> Any:
    """``@spoolraw``: the function's return value (a SPOOL_* code) is the outcome."""
    return _spool_decorate(f, pass_arguments, _spoolraw)


# -- mule functions, locks, threads, harakiri --------------------------------------------


def mulefunc(f: Any = None) -> Any:
    """``@mulefunc`` (any mule), ``@mulefunc(2)``, ``@mulefunc("farm")``: a call runs the
    function in a mule; returns True once queued, False when the master refused it."""
    def make(fn: F, where: Any) -> F:
        send = _sd.mulefunc(None if where == 0 else where)(fn)

        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> bool:
            try:
                send(*args, **kwargs)
            except MessageRefused as exc:
                print(f"@mulefunc {fn.__qualname__}: refused: {exc}", file=sys.stderr)
                return False
            return True
        return call
    if callable(f):
        return make(f, None)
    return lambda fn: make(fn, f)


def lock(f: F) -> F:
    """``@lock``: uWSGI's lock 0 around each call, in every process (uWSGI skips the call
    in a spooler)."""
    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _uwsgi.lock()
        try:
            return f(*args, **kwargs)
        finally:
            _uwsgi.unlock()
    return wrapper


def thread(f: F) -> F:
    """``@thread``: each call runs in a new daemon thread (returned)."""
    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> threading.Thread:
        t = threading.Thread(target=f, args=args, kwargs=kwargs, daemon=True)
        t.start()
        return t
    return wrapper  # type: ignore[return-value]


class harakiri:  # noqa: N801 - uWSGI's name
    """``@harakiri(30)``: a call that runs longer than 30 s kills its process (the master
    counts the death and respawns it), exceptions included."""

    def __init__(self, seconds: float) -> None:
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
            raise ValueError(f"@harakiri: seconds must be a positive number, not {seconds!r}")
        self.seconds = seconds

    def __call__(self, f: F) -> F:
        seconds = self.seconds

        @functools.wraps(f)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            def kill() -> None:
                print(f"*** HARAKIRI: {f.__qualname__} ran over {seconds} s; killing "
                      f"pid {os.getpid()} ***", file=sys.stderr, flush=True)
                os.kill(os.getpid(), _posix_signal.SIGKILL)
            t = threading.Timer(seconds, kill)
            t.daemon = True
            t.start()
            try:
                return f(*args, **kwargs)
            finally:
                t.cancel()
        return wrapper


def __getattr__(name: str) -> Any:
    raise missing.not_provided("uwsgidecorators", name)
