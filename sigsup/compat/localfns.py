"""Signal handlers given to ``uwsgi.register_signal`` as function objects.

sigsup's table holds import paths, resolved in whichever process runs the handler. A
function object that has no import path (a closure, a lambda, a function of ``__main__``)
is kept in this process's ``Handlers`` and the table gets the path of a trampoline of this
module (``sigsup.compat.localfns:fn_TOKEN``): a process that runs the signal finds the
function in its own ``Handlers``. Registered in the master before it forks, every child has
it; registered in a worker after fork, only that worker (and the workers that register
their own for the same token, as lazy-apps code does from a post-fork hook) has it.

``refusal`` says, at registration, when the target names a process that cannot have the
function: uWSGI accepts such a registration and then never runs the handler.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sigsup import context
from sigsup.routing.targets import MULES, PROCESS, WORKERS, TargetError, parse_target

PREFIX = "fn_"
_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


class Handlers:
    """This process's function objects by token (``context.process().state(Handlers)``)."""

    def __init__(self) -> None:
        self.fns: dict[str, Callable[..., Any]] = {}
        self.where: dict[str, str] = {}          # token -> the process that registered it
        self.seen: dict[str, int] = {}           # name -> how many auto tokens it got


def handlers() -> Handlers:
    return context.process().state(Handlers)


def module_path(fn: Callable[..., Any]) -> str | None:
    """``module:qualname`` of a module-level function of an importable module, else None.
    Not resolved: while its module is being imported the name is not bound yet."""
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if not callable(fn) or not isinstance(module, str) or not isinstance(qualname, str):
        return None
    if "<" in qualname or module == "__main__" or not module:
        return None
    return f"{module}:{qualname}"


def signal_token(num: int) -> str:
    """The token of a function registered on a number given by hand."""
    return f"sig{num}"


def auto_token(fn: Callable[..., Any]) -> str:
    """A token for a function that gets a free number: the same in every process that runs
    the same code in the same order (each worker's post-fork hook), so the master gives
    them all one number."""
    name = f"{getattr(fn, '__module__', '')}_{getattr(fn, '__qualname__', repr(fn))}"
    name = _UNSAFE.sub("_", name)[:80]
    h = handlers()
    n = h.seen.get(name, 0)
    h.seen[name] = n + 1
    return f"auto_{name}_{n}"


def keep(token: str, fn: Callable[..., Any], where: str) -> str:
    """Keep ``fn`` under ``token`` in this process; returns the path for the table."""
    h = handlers()
    h.fns[token] = fn
    h.where[token] = where
    return f"{__name__}:{PREFIX}{token}"


def refusal(kind: str, index: int, target: str) -> str | None:
    """Why a function object registered in this process (``kind`` ``index``) cannot run on
    ``target``; None when it can. The master (before fork) can give it to everyone; a
    worker to the workers (each may register its own), or to itself; a mule to itself."""
    if kind == "master":
        return None
    try:
        t = parse_target(target or "worker")
    except TargetError:
        return None     # the master names the problem with the target itself
    if kind == "worker" and t.group == WORKERS and (t.scope != PROCESS or t.index == index):
        return None
    if kind == "mule" and t.group == MULES and t.scope == PROCESS and t.index == index:
        return None
    me = f"{kind}{index or ''}" if kind in ("worker", "mule") else kind
    return (f"the function exists only in the memory of {me}, where it was registered, and "
            f"target {target or 'worker'!r} names other processes, which cannot run it: "
            "register it before the master forks (at import of a [supervisor] preload "
            "module), define it at module level, or pass its import path as a string")


def _trampoline(token: str) -> Callable[..., Any]:
    def run(*args: Any) -> Any:
        fn = handlers().fns.get(token)
        if fn is None:
            ident = context.current_or_none()
            me = ident.identity.name if ident is not None else "this process"
            raise LookupError(
                f"the handler of this signal is a function object registered in another "
                f"process; {me} has none (register it here too, e.g. from a post-fork hook, "
                "or register it before the master forks)")
        return fn(*args)
    run.__qualname__ = f"{PREFIX}{token}"
    return run


def __getattr__(name: str) -> Any:
    """``sigsup.compat.localfns:fn_TOKEN`` resolves to the trampoline of TOKEN."""
    if name.startswith(PREFIX):
        return _trampoline(name[len(PREFIX):])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
