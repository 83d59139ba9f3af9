"""Decorators in the spirit of uwsgidecorators, each registering through sigsup's API.

::

    from sigsup.decorators import signal, timer, rbtimer, cron, filemon, spool, mulefunc, lock, postfork

    @timer(30, target="workers")          # every 30 s, in every worker
    def refresh(num): ...

    @spool(spooler="mail")                # send.spool(to="a@b") queues a job that runs send()
    def send(to): ...

    @mulefunc("reports")                  # build(7) runs build in a mule of farm "reports"
    def build(day): ...

Put decorated functions in modules the master imports (``[supervisor] preload``): the
registration then happens once, in the master, before anything forks, and every child has
the functions. Importing the module again in a child registers nothing twice: a signal
number chosen for a function is kept for it (see ``free_signal``).

Free signal numbers are asked of the master, which picks atomically, from 255 down (far
from the small numbers people write by hand), never one that is registered; a later
``register_signal`` of that number for another handler is refused, naming the owner. This
is uWSGI's ``get_free_signal`` race (two decorators getting the same number, or a hand
registration overwriting one) fixed.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from typing import Any, TypeVar

from sigsup import client_runtime, context
from sigsup.importing import signature_problem
from sigsup.locks import locked
from sigsup.mules.api import send
from sigsup.mules.payload import MAX_MESSAGE
from sigsup.routing.table import check_signum
from sigsup.spool.api import spool_task

__all__ = ["cron", "filemon", "free_signal", "lock", "mulefunc", "postfork", "rbtimer",
           "signal", "spool", "timer"]

F = TypeVar("F", bound=Callable[..., Any])


def _path(fn: Callable[..., Any]) -> str:
    """``module:qualname`` of a module-level function. Not resolved here: while its module
    is being imported, the name is not bound yet; each process resolves it when it runs."""
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if not callable(fn) or not module or not qualname:
        raise ValueError(f"decorate a module-level function, not {fn!r}")
    if "<locals>" in qualname or "<lambda>" in qualname or module == "__main__":
        raise ValueError(f"{module}.{qualname} cannot be imported by other processes: define it "
                         "at module level in an importable module")
    return f"{module}:{qualname}"


def free_signal(handler: Callable[..., Any] | str, target: str = "worker",
                on_full: str = "reject") -> int:
    """Register ``handler`` on a free signal number chosen by the master, and return it.

    Asking again for the same handler and target returns the same number (no second
    entry): importing a decorated module in several processes is harmless."""
    path = handler if isinstance(handler, str) else _path(handler)
    num = _call_register(None, path, target, on_full)[0]
    if num is None:
        raise RuntimeError("no signal number was allocated (no master here)")
    return num


def _call_register(num: int | None, path: str, target: str,
                   on_full: str) -> tuple[int | None, bool]:
    """(number, existing). The number is None when the runtime picked none (``sigsup check``
    on a broken config imports modules against a runtime that registers nothing)."""
    reply = client_runtime.current().call("register", signum=num, handler=path,
                                   target=target or "worker", on_full=on_full)
    got = reply.get("signum", num)
    return (got if isinstance(got, int) and not isinstance(got, bool) else None,
            bool(reply.get("existing")))


def _register(fn: Callable[..., Any], num: int | None, target: str,
              on_full: str) -> tuple[int | None, bool]:
    """(number, True if this handler and target were registered there already, not by the
    config: its event source exists then, added by whoever registered it first)."""
    if num is not None:
        check_signum(num)
    path = _path(fn)
    problem = signature_problem(fn, path)   # refused now, not at every raise
    if problem is not None:
        raise ValueError(problem)
    return _call_register(num, path, target, on_full)


def _when_ready(action: Callable[[], None]) -> None:
    """Run ``action`` now if this process can reach a master, else when the master starts
    (``context.Process.run_pending``): ``sigsup start`` imports the preload modules once to
    check them before the master exists; the master runs what they deferred before it
    forks."""
    now = context.current_or_none() is not None or bool(os.environ.get("SIGSUP_SOCKET"))
    context.process().when_ready(action, now=now)


class _Sources:
    """The event source each decorator added, by (decorator, number, arguments): one
    source however often the decorated module is imported."""

    def __init__(self) -> None:
        self.added: dict[tuple[Any, ...], Any] = {}


def signal(num: int, target: str = "worker", on_full: str = "reject") -> Callable[[F], F]:
    """``@signal(17, target="workers")``: the function handles signal 17 (``handler(num)``)."""
    def deco(fn: F) -> F:
        _path(fn)

        def register() -> None:
            fn.signum = _register(fn, num, target, on_full)[0]  # type: ignore[attr-defined]
        _when_ready(register)
        return fn
    return deco


def _source(add: Callable[..., Any], describe: str, target: str, signum: int | None,
            on_full: str, *args: Any, **kwargs: Any) -> Callable[[F], F]:
    def deco(fn: F) -> F:
        _path(fn)

        def register() -> None:
            num, existing = _register(fn, signum, target, on_full)
            key = (describe, num, args, repr(sorted(kwargs.items())))
            added = context.process().state(_Sources).added
            if num is not None and key not in added and not existing:
                added[key] = add(num, *args, **kwargs)   # one source, however imported
            fn.signum = num                      # type: ignore[attr-defined]
            fn.event = added.get(key)            # type: ignore[attr-defined]
        _when_ready(register)
        return fn
    return deco


def _api() -> Any:
    import sigsup
    return sigsup


def timer(seconds: float, target: str = "worker", iterations: int = 0, *,
          signum: int | None = None, on_full: str = "coalesce") -> Callable[[F], F]:
    """``@timer(5)``: run the function every 5 s (``sigsup.add_timer``) on ``target``.
    ``signum`` defaults to a free number; ``iterations`` > 0 stops after that many."""
    return _source(lambda n, s, **kw: _api().add_timer(n, s, **kw), "timer", target, signum,
                   on_full, seconds, iterations=iterations)


def rbtimer(seconds: float, target: str = "worker", iterations: int = 0, *,
            signum: int | None = None, on_full: str = "coalesce") -> Callable[[F], F]:
    """``@rbtimer(5, iterations=3)``: ``sigsup.add_rb_timer``."""
    return _source(lambda n, s, **kw: _api().add_rb_timer(n, s, **kw), "rbtimer", target,
                   signum, on_full, seconds, iterations=iterations)


def cron(*schedule: Any, target: str = "worker", signum: int | None = None,
         on_full: str = "coalesce", **options: Any) -> Callable[[F], F]:
    """``@cron("*/5 * * * *")`` or uWSGI's fields ``@cron(-5, -1, -1, -1, -1)``
    (``sigsup.add_cron``; ``timezone=``, ``iterations=`` pass through)."""
    if not schedule:
        raise TypeError("@cron needs a cron expression or uWSGI's five fields")
    return _source(lambda n, *s, **kw: _api().add_cron(n, *s, **kw), "cron", target, signum,
                   on_full, *schedule, **options)


def filemon(path: Any, target: str = "worker", *, signum: int | None = None,
            on_full: str = "coalesce", **options: Any) -> Callable[[F], F]:
    """``@filemon("/etc/app.conf")``: run the function when the path changes
    (``sigsup.add_file_monitor``; ``recursive=``, ``events=``, ``iterations=`` pass through)."""
    return _source(lambda n, p, **kw: _api().add_file_monitor(n, p, **kw), "filemon", target,
                   signum, on_full, os.path.abspath(os.fspath(path)), **options)


def spool(fn: F | None = None, *, spooler: str = "default") -> Any:
    """``@spool`` / ``@spool(spooler="mail")``: ``fn.spool(**args)`` queues a job that a
    process of that spooler runs as ``fn(**args)`` (plus ``body=`` if the job has one);
    ``at=``, ``priority=``, ``body=`` are the job's options, as for ``sigsup.spool``. An
    exception, or returning ``sigsup.SPOOL_RETRY``, is a failed attempt (retried with
    backoff); anything else is done. Calling ``fn(...)`` directly runs it here and now.

    The job stores the function's import path; the spooler runs it only if the function
    is registered in the spooler process (its module imported through ``preload``)."""
    def deco(f: F) -> F:
        path = _path(f)
        context.process().tasks[path] = f

        def queue(*, at: Any = None, priority: int = 0, body: bytes = b"", **args: Any) -> str:
            return spool_task(spooler, path, at=at, priority=priority, body=body, args=args)

        f.spool = queue              # type: ignore[attr-defined]
        f.spooler = spooler          # type: ignore[attr-defined]
        return f
    return deco(fn) if fn is not None else deco


def mulefunc(target: Any = None) -> Any:
    """``@mulefunc`` (any mule), ``@mulefunc(2)`` (mule 2), ``@mulefunc("farm")``: calling
    the function sends its import path and JSON arguments to a mule, which runs it; the
    call returns the message id at once (MessageRefused if the master refused it). No code
    is pickled: the mule runs only functions registered in it (module imported in
    ``preload``)."""
    def make(f: F, where: Any) -> F:
        path = _path(f)
        context.process().mulefuncs[path] = f

        @functools.wraps(f)
        def call(*args: Any, **kwargs: Any) -> int:
            try:
                size = len(json.dumps([path, args, kwargs], allow_nan=False))
            except (TypeError, ValueError) as exc:
                raise TypeError(f"@mulefunc {path}: arguments must be JSON values: {exc}") from None
            if size > MAX_MESSAGE:
                raise ValueError(f"@mulefunc {path}: arguments take {size} bytes of JSON; the "
                                 f"limit is {MAX_MESSAGE}")
            return send(where, kind="call", fn=path, args=list(args), kwargs=kwargs)

        call.run_here = f            # type: ignore[attr-defined]
        return call                  # type: ignore[return-value]

    if callable(target):
        return make(target, None)
    return lambda f: make(f, target)


def lock(fn: F | str | None = None, *, name: str = "default") -> Any:
    """``@lock`` / ``@lock("name")``: hold a tree-wide lock (``sigsup.locked``) around each
    call, in every kind of process (uWSGI silently skips the call in a spooler)."""
    if isinstance(fn, str):
        name, fn = fn, None

    def deco(f: F) -> F:
        @functools.wraps(f)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with locked(name):
                return f(*args, **kwargs)
        return wrapper  # type: ignore[return-value]
    return deco(fn) if fn is not None else deco


def postfork(fn: F) -> F:
    """``@postfork``: run ``fn()`` in every child (worker, mule, spooler) right after it
    starts, before its loop. Register it before the master forks (a ``preload`` module)."""
    context.process().postfork.append(fn)
    return fn
