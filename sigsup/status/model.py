"""The status document: one JSON-ready dict describing a running master.

This is the contract between the master and every view of it (``sigsup status``, the live
view, ``--json`` consumers). Bump ``STATUS_VERSION`` when a field changes meaning or goes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sigsup.master.loop import Master

STATUS_VERSION = 1


def process_status(m: Master, now: float) -> list[dict[str, Any]]:
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
            if p.state.value in ("backoff", "failed") else None,
            "last_exit": p.last_exit,
            "program": p.program,
            "spooler": p.spooler,
        })
    return out


def build_status(m: Master) -> dict[str, Any]:
    now = m.os.monotonic()
    r = m.router
    return {
        "version": STATUS_VERSION,
        "master": {
            "name": m.name,
            "pid": m.pid,
            "state": m.state,
            "config": str(m.config.path),
            "socket": str(m.sup.socket),
            "started_at": m.started_at,
            "uptime": round(now - m.started_mono, 3),
            "queued": r.queued_total(),
            "raised": r.raised_total,
            "window": r.window,
            "queue_size": r.queue_size,
            "protocol_errors": m.errors,
        },
        "processes": process_status(m, now),
        "pools": [{"name": pool.name, "queued": len(pool.queue),
                   "members": [p.name for p in pool.members]}
                  for pool in (*r.pools.values(), r.unclaimed)],
        "signals": [e.as_dict() for e in m.table.seen()],
        "groups_failed": sorted({p.kind for p in m.procs if p.state.value == "failed"}),
        **{ext.name: ext.status() for ext in m.extensions if hasattr(ext, "status")},
    }
