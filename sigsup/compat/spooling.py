"""``uwsgi.spool(dict)`` as a sigsup job, and back to a uWSGI spool dict.

A uWSGI spool dict has bytes (here also str) keys and values, and four magic keys:
``spooler`` (a spooler's directory; here also its name), ``priority`` (uWSGI: the name of
a numbered subdirectory, lower numbers first; here: the job's priority, negated so the
order is the same), ``at`` (a Unix time) and ``body`` (raw bytes of any size). The other
keys become the job's arguments, each value stored as a string that ``decode_value`` turns
back into the same bytes (UTF-8 with surrogate escapes: any bytes survive JSON).

``uwsgi.spool`` returns the job file's path as bytes, like uWSGI: deleting that file before
the job runs cancels it (the spooler's claim, a rename, then finds nothing).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from sigsup.errors import SigsupError
from sigsup.spool.api import spool_task, store_for
from sigsup.spool.store import QUEUED, RUNNING, JobStore
from sigsup.treeconfig import current_config

MAGIC = ("spooler", "priority", "at", "body")


def _text(v: Any, what: str) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).decode("utf-8", "surrogateescape")
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return str(v)
    raise TypeError(f"uwsgi.spool: {what} must be bytes or str, not {type(v).__name__}")


def decode_value(v: Any) -> bytes:
    """A job argument as a uWSGI spooler function gets it: bytes."""
    if isinstance(v, str):
        return v.encode("utf-8", "surrogateescape")
    if v is None:
        return b""
    if isinstance(v, bool):
        return b"true" if v else b"false"
    if isinstance(v, (int, float)):
        return str(v).encode()
    return json.dumps(v).encode()


def spooler_name(value: Any) -> str:
    """The spooler a job goes to: ``value`` (a name or a directory), else ``default``,
    else the first one declared."""
    cfg = current_config()
    if not cfg.spoolers:
        raise SigsupError(f"uwsgi.spool: {cfg.path} declares no spooler (add "
                          "[spoolers.default] with its dir)")
    if value is None:
        return "default" if "default" in cfg.spoolers else next(iter(cfg.spoolers))
    want = _text(value, "'spooler'")
    if want in cfg.spoolers:
        return want
    real = os.path.realpath(want)
    for name, sp in cfg.spoolers.items():
        if os.path.realpath(sp.dir) == real:
            return name
    raise SigsupError(f"uwsgi.spool: no spooler {want!r} in {cfg.path} (spoolers: "
                      f"{', '.join(f'{n} ({sp.dir})' for n, sp in cfg.spoolers.items())})")


def split(message: dict[Any, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """(the job's options: spooler, priority, at, body; its arguments) of a spool dict."""
    opts: dict[str, Any] = {}
    args: dict[str, str] = {}
    for k, v in message.items():
        key = _text(k, "a key") if not isinstance(k, (int, float)) else None
        if key is None:
            raise TypeError(f"uwsgi.spool: keys are bytes or str, not {k!r}")
        if key in MAGIC:
            opts[key] = v
        else:
            args[key] = _text(v, f"the value of {key!r}")
    body = opts.get("body", b"")
    opts["body"] = body.encode() if isinstance(body, str) else bytes(body)
    if opts.get("priority") is not None:
        raw = _text(opts["priority"], "'priority'").strip()
        try:
            opts["priority"] = -int(raw)
        except ValueError:
            raise ValueError(f"uwsgi.spool: 'priority' must be a number, not {raw!r}") from None
    else:
        opts["priority"] = 0
    if opts.get("at") is not None:
        raw = _text(opts["at"], "'at'").strip()
        try:
            opts["at"] = float(raw)
        except ValueError:
            raise ValueError(f"uwsgi.spool: 'at' must be a Unix time, not {raw!r}") from None
    return opts, args


def job_path(store: JobStore, job_id: str) -> Path:
    """Where job ``job_id`` is now: queued, else running; its queued name if neither (it
    ran already)."""
    for state in (QUEUED, RUNNING):
        try:
            with os.scandir(store.dirs[state]) as it:
                for e in it:
                    if e.name.startswith(job_id + "_"):
                        return Path(e.path)
        except FileNotFoundError:
            continue
    return store.dirs[QUEUED] / job_id


def _put(opts: dict[str, Any], args: dict[str, Any], task: str | None) -> bytes:
    name = spooler_name(opts.get("spooler"))
    job_id = spool_task(name, task, at=opts.get("at"), priority=opts["priority"],
                        body=opts["body"], args=args)
    return os.fsencode(job_path(store_for(name), job_id))


def spool(message: dict[Any, Any], task: str | None = None) -> bytes:
    """Queue a uWSGI spool dict; the job file's path as bytes."""
    opts, args = split(message)
    return _put(opts, args, task)


def queue(magic: dict[Any, Any], args: dict[str, Any], task: str | None) -> bytes:
    """Queue a job of ``args`` (JSON values) with uWSGI's magic keys; its path as bytes."""
    opts, rest = split(magic)
    if rest:
        raise TypeError(f"uwsgi.spool: {sorted(rest)} are not spooler keys")
    return _put(opts, args, task)


def job_paths(spooler: str | None = None) -> list[bytes]:
    """The queued jobs of a spooler (default: the first), as uWSGI's ``spooler_jobs``."""
    name = spooler_name(spooler)
    store = store_for(name)
    try:
        names = sorted(os.listdir(store.dirs[QUEUED]))
    except FileNotFoundError:
        return []
    return [os.fsencode(store.dirs[QUEUED] / n) for n in names if n.endswith(".job")]
