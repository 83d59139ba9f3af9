"""``sigsup.spool()``: queue a job from any process, with or without a running master.

A job queued by a ``@sigsup.decorators.spool`` function names it (its "task", an import
path); the spooler runs it only if it is in ``context.process().tasks`` there, in the
spooler process: a job never makes a spooler import anything.
"""

from __future__ import annotations

from typing import Any

from sigsup import context
from sigsup.errors import SigsupError
from sigsup.spool.job import SPOOL_IGNORE, SPOOL_OK, SPOOL_RETRY, Job
from sigsup.spool.store import JobStore
from sigsup.treeconfig import current_config

__all__ = ["SPOOL_IGNORE", "SPOOL_OK", "SPOOL_RETRY", "Job", "spool", "spool_task", "store_for"]


def store_for(spooler: str) -> JobStore:
    cfg = current_config()
    sp = cfg.spoolers.get(spooler)
    if sp is None:
        names = ", ".join(cfg.spoolers) or "none"
        raise SigsupError(f"no spooler named {spooler!r} in {cfg.path} (spoolers: {names})")
    return JobStore(sp.dir, spooler)


def spool(spooler: str = "default", *, at: Any = None, priority: int = 0, body: bytes = b"",
          **args: Any) -> str:
    """Queue a job for ``spooler``; returns its id once the job is safely on disk.

    ``args`` are JSON values (the handler gets them as ``job.args``); ``body`` is bytes of
    any size (``job.body``); ``at`` (a Unix time, a datetime or an ISO 8601 string) is the
    earliest time it runs; ``priority``: higher runs first. Works with no master running:
    the job waits on disk.
    """
    return spool_task(spooler, None, at=at, priority=priority, body=body, args=args)


def spool_task(spooler: str, task: str | None, *, at: Any = None, priority: int = 0,
               body: bytes = b"", args: dict[str, Any] | None = None) -> str:
    job_id = store_for(spooler).put(args or {}, body, at=at, priority=priority, task=task)
    notify(spooler)
    return job_id


def notify(spooler: str) -> None:
    """Tell the master a job was written, so the spooler wakes now and sees it before it
    picks its next job (best effort: with no master the job waits on disk, and a spooler
    also notices new files by itself within half a second)."""
    rt = context.current_or_none()
    try:
        channel = getattr(rt, "channel", None)
        if channel is not None:          # a child: one frame, no round trip
            from sigsup.protocol.frames import pack_json
            channel.send(pack_json({"t": "spool-wake", "spooler": spooler}))
            return
        if rt is not None:               # the master (preload), or an outside client
            rt.call("spool-wake", spooler=spooler)
            return
        from sigsup.protocol.control import request
        request(current_config().supervisor.socket, {"cmd": "spool-wake", "spooler": spooler},
                2.0)
    except Exception:  # noqa: BLE001 - the job is on disk; waking is an optimisation
        pass
