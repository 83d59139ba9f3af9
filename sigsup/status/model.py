"""The status document: one JSON-ready dict describing a running master.

This is the contract between the master and every view of it (``sigsup status``, the live
view, ``--json`` consumers); docs/status-schema.md documents every field and
sigsup/status/schema.py checks a document against it. Adding a field keeps ``version``;
bump ``STATUS_VERSION`` when a field changes meaning or goes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from sigsup.master.port import MasterPort
from sigsup.routing.states import ProcState

if TYPE_CHECKING:
    from sigsup.status.monitor import StatusMonitor

STATUS_VERSION = 1

_NO_RESOURCES = {"rss": None, "cpu_percent": None, "cpu_time": None, "cpu_window": None}


def process_status(m: MasterPort, now: float, resources: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for p in m.procs:
        current = None
        if p.inflight:
            started = max(p.sent_at[0], p.last_done)
            current = {"signum": p.inflight[0].signum, "id": p.inflight[0].id,
                       "for": round(max(0.0, now - started), 3)}
        out.append({
            "name": p.name,
            "kind": p.kind,
            "id": p.index,
            "groups": list(p.groups),
            "pid": p.pid or None,
            "state": p.state.value,
            "activity": p.activity(),
            "current": current,
            "waiting_for": p.waiting,
            "queued": len(p.queue),
            "in_flight": len(p.inflight),
            "handled": p.handled,
            "failed": p.failed,
            "respawns": p.respawns,
            "started_at": p.started_at or None,
            "uptime": round(now - p.started_mono, 3) if p.pid else None,
            "respawn_in": round(max(0.0, p.respawn_at - now), 3)
            if p.state in (ProcState.BACKOFF, ProcState.FAILED) else None,
            "last_exit": p.last_exit,
            "program": p.program,
            "spooler": p.spooler,
            **(resources.get(p.pid, _NO_RESOURCES) if p.pid else _NO_RESOURCES),
        })
    return out


def signal_status(m: MasterPort) -> list[dict[str, Any]]:
    """The table entries worth showing, each with how many of its raises wait in the master."""
    r = m.router
    holders = [*m.procs, *r.pools.values(), r.unclaimed]
    out = []
    for e in m.table.seen():
        d = e.as_dict()
        d["queued"] = sum(h.pending_count.get(e.num, 0) for h in holders)
        out.append(d)
    return out


def _monitor(m: MasterPort) -> StatusMonitor | None:
    # the status feature (status/monitor.py, which imports this module): by its name
    return cast("StatusMonitor | None", m.extension("monitor"))


def build_status(m: MasterPort) -> dict[str, Any]:
    now = m.os.monotonic()
    r = m.router
    monitor = _monitor(m)
    resources = monitor.resource_sample(now) if monitor is not None else {}
    return {
        "version": STATUS_VERSION,
        "time": m.os.time(),
        "master": {
            "name": m.name,
            "pid": m.pid,
            "state": m.state.value,
            "config": str(m.config.path),
            "socket": str(m.config.supervisor.socket),
            "started_at": m.started_at,
            "uptime": round(now - m.started_mono, 3),
            "queued": r.queued_total(),
            "raised": r.raised_total,
            "raises_per_s": round(monitor.raise_rate(now), 2) if monitor is not None else None,
            "window": r.window,
            "queue_size": r.queue_size,
            "protocol_errors": m.errors,
            "subscribers": len(monitor.events.subscribers) if monitor is not None else 0,
            **resources.get(m.pid, _NO_RESOURCES),
        },
        "processes": process_status(m, now, resources),
        "pools": [{"name": pool.name, "queued": len(pool.queue),
                   "members": [p.name for p in pool.members]}
                  for pool in (*r.pools.values(), r.unclaimed)],
        "signals": signal_status(m),
        "groups_failed": sorted({p.kind for p in m.procs if p.state is ProcState.FAILED}),
        **m.extensions_status(),   # each feature's part, under its name (none: no key)
    }
