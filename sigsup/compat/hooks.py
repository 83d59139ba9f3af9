"""uWSGI's hook attributes: ``uwsgi.post_fork_hook``, ``uwsgi.spooler``, ``uwsgi.mule_msg_hook``.

Each is one slot of this process's ``Hooks`` (``context.process().state(Hooks)``), read
through a trampoline that sigsup's own machinery calls:

- ``post_fork_hook``: a trampoline in ``context.process().postfork``, the chain every
  worker, mule and spooler runs after fork; ``@uwsgidecorators.postfork`` appends to the
  same chain, so setting the attribute and using the decorator never overwrite each other
  (in uWSGI the decorators module assigns ``uwsgi.post_fork_hook`` itself);
- ``spooler``: the handler of a spooler with no ``handler`` configured
  (``sigsup.spool.runner.Fallback``); ``@uwsgidecorators.spool`` tasks run by their own
  name, beside it;
- ``mule_msg_hook``: the message handler of mules with no ``[mules] message_handler``
  (``sigsup.mules.child.Inbox.fallback``); ``@mulefunc`` calls travel beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sigsup import context
from sigsup.mules.child import Inbox
from sigsup.spool.job import SPOOL_IGNORE, SPOOL_OK, SPOOL_RETRY, Job
from sigsup.spool.runner import Fallback

NAMES = ("post_fork_hook", "spooler", "mule_msg_hook")


class Hooks:
    def __init__(self) -> None:
        self.slots: dict[str, Callable[..., Any] | None] = dict.fromkeys(NAMES)
        self.wired = False      # run_post_fork is in the postfork chain


def hooks() -> Hooks:
    return context.process().state(Hooks)


def get(name: str) -> Callable[..., Any] | None:
    return hooks().slots[name]


def set_hook(name: str, fn: Callable[..., Any] | None) -> None:
    if fn is not None and not callable(fn):
        raise TypeError(f"uwsgi.{name} must be a function (or None), not {fn!r}")
    h = hooks()
    h.slots[name] = fn
    proc = context.process()
    if name == "post_fork_hook" and not h.wired:
        h.wired = True
        proc.postfork.append(run_post_fork)
    elif name == "spooler":
        proc.state(Fallback).fn = run_spooler if fn is not None else None
    elif name == "mule_msg_hook":
        proc.state(Inbox).fallback = run_mule_msg if fn is not None else None


def run_post_fork() -> None:
    fn = get("post_fork_hook")
    if fn is not None:
        fn()


def run_mule_msg(message: bytes | str) -> None:
    fn = get("mule_msg_hook")
    if fn is not None:
        fn(message.encode() if isinstance(message, str) else message)


def spool_dict(job: Job) -> dict[Any, Any]:
    """What a uWSGI spooler function gets: user keys and values as bytes, ``'body'`` (a str
    key) with the body."""
    from sigsup.compat.spooling import decode_value
    out: dict[Any, Any] = {k.encode(): decode_value(v) for k, v in job.args.items()}
    out["body"] = job.body
    out["spooler_task_name"] = job.id.encode()
    return out


def run_spooler(job: Job) -> int:
    """A job for a spooler with no handler: ``uwsgi.spooler(dict)``; its return code in
    uWSGI's meaning (anything but the three codes is an error, retried as uWSGI retries)."""
    fn = get("spooler")
    if fn is None:
        raise LookupError(f"spooler {job.spooler!r} has no handler: set [spoolers."
                          f"{job.spooler}] handler, or uwsgi.spooler = fn in a preload module")
    ret = fn(spool_dict(job))
    if ret in (SPOOL_OK, SPOOL_RETRY, SPOOL_IGNORE) and type(ret) is int:
        return ret
    raise ValueError(f"uwsgi.spooler returned {ret!r}: return uwsgi.SPOOL_OK (done), "
                     "uwsgi.SPOOL_RETRY or uwsgi.SPOOL_IGNORE (uWSGI retries a job on "
                     "any other value)")


