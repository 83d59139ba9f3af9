"""A new config made the running one (``MasterPort.apply_config``, for sigsup reload).

The master's part of a reload, once the file is checked and its imports are done: the
[supervisor] settings, the signal entries the file declares (entries registered at run time
are the code's and stay), the worker count (through ``scale_workers``: what waits for the
pool is kept, what waited for a removed worker alone is counted dropped), then every
feature's ``reload(old, new)`` hook (the scheduler keeps timers' phase and crons' last run).

``preflight`` says what cannot be applied before anything changes: a reload is applied
whole or not at all.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from sigsup.config import Config
from sigsup.master.port import Refused
from sigsup.protocol.frames import pack_json
from sigsup.routing.targets import PROCESS, WORKERS

if TYPE_CHECKING:
    from sigsup.master.loop import Master


def preflight(m: Master, new: Config) -> list[str]:
    """Why ``new`` cannot be applied to the running master ``m`` ([] when it can)."""
    problems = []
    count = new.workers.count
    if count != _workers(m):
        for e in m.table.registered():
            t = e.target
            if e.source == "config" or t is None or t.group != WORKERS:
                continue   # the file's own entries were checked against the new tree
            if count == 0:
                problems.append(f"signal {e.num} ({e.source}) targets {t.raw}: workers.count "
                                "cannot go to 0 while it is registered")
            elif t.scope == PROCESS and t.index > count:
                problems.append(f"signal {e.num} ({e.source}) targets {t.raw}: workers.count "
                                f"{count} would remove it (keep {t.index}, or unregister it)")
    return problems


def _workers(m: Master) -> int:
    return m.config.workers.count


def apply(m: Master, new: Config) -> dict[str, Any]:
    problems = preflight(m, new)
    if problems:
        raise Refused("; ".join(problems))
    old = m.config
    count = new.workers.count
    # the new config with the old worker count: scale_workers moves it on with the slots
    m.config = dataclasses.replace(new, workers=dataclasses.replace(
        new.workers, count=old.workers.count))
    m.sup = new.supervisor
    m.router.queue_size = new.supervisor.queue_size
    m.router.window = new.supervisor.window
    signals = _signals(m, old, new)
    workers = m.scale_workers(count) if count != old.workers.count else None
    for ext in m.extensions:
        ext.reload(old, m.config)
    return {"signals": signals, "workers": workers}


def _signals(m: Master, old: Config, new: Config) -> dict[str, Any]:
    """The file's entries: removed ones go (what waited for them is counted dropped),
    added and changed ones are set; children's copies of the table follow."""
    removed: list[int] = []
    dropped = 0
    for num in old.signals:
        if num in new.signals:
            continue
        if m.table[num].source != "config":
            continue   # registered again at run time since: the code's now
        m.table.unregister(num)
        removed.append(num)
        dropped += m.router.drop_signal(num, f"not run: signal {num} left the config (reload)")
    set_: dict[str, str] = {}
    for num, sc in new.signals.items():
        before = old.signals.get(num)
        e = m.table[num]
        same = (before is not None and e.source == "config" and e.handler == sc.handler
                and str(e.target) == str(sc.target) and e.on_full == sc.on_full)
        if same:
            continue
        m.table.register(num, sc.handler, sc.target, sc.on_full, source="config")
        set_[str(num)] = sc.handler
    if removed or set_:
        msg: dict[str, Any] = {"t": "table"}
        if set_:
            msg["set"] = set_
        if removed:
            msg["del"] = removed
        data = pack_json(msg)
        for p in m.procs:
            m.send(p, data)
    if dropped:
        m.log.warning(f"reload: {dropped} queued signal{'s' if dropped != 1 else ''} dropped "
                      f"(their entries left the config: {', '.join(map(str, removed))})")
    return {"set": sorted(int(k) for k in set_), "removed": removed, "dropped": dropped}
