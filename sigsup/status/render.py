"""Rich renderings of the status document (the live view builds on these)."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

STATE_STYLE = {
    "failed": "bold red", "backoff": "red", "busy": "yellow", "waiting": "cyan",
    "starting": "blue", "stopping": "magenta", "cheaped": "dim", "stopped": "dim", "idle": "green",
}


def _ago(ts: float | None) -> str:
    if not ts:
        return "-"
    d = time.time() - ts
    if d < 60:
        return f"{d:.1f}s ago"
    if d < 3600:
        return f"{d / 60:.0f}m ago"
    return f"{d / 3600:.1f}h ago"


def render_status(s: dict[str, Any]) -> Group:
    m = s["master"]
    head = Text.assemble(
        ("sigsup ", "bold"), (m["name"], "bold cyan"),
        f"  pid {m['pid']}  up {m['uptime']:.0f}s  {m['state']}  queued {m['queued']}  "
        f"raised {m['raised']}\n",
        (f"config {m['config']}  socket {m['socket']}", "dim"))
    procs = Table(title="processes", title_justify="left", expand=False)
    for col in ("name", "pid", "state", "current", "queued", "handled", "failed", "respawns", "last exit"):
        procs.add_column(col, justify="right" if col in ("pid", "queued", "handled", "failed", "respawns") else "left")
    for p in s["processes"]:
        act = p["activity"]
        cur = f"sig {p['current']['signum']} for {p['current']['for']:.1f}s" if p["current"] else (
            f"wait {'any' if p['waiting_for'] == -1 else p['waiting_for']}" if p["waiting_for"] is not None else "")
        label = act + (f" ({p['respawn_in']:.1f}s)" if p["respawn_in"] is not None else "")
        procs.add_row(p["name"], str(p["pid"] or "-"), Text(label, STATE_STYLE.get(act, "")), cur,
                      str(p["queued"] + p["in_flight"]), str(p["handled"]),
                      Text(str(p["failed"]), "red" if p["failed"] else ""), str(p["respawns"]),
                      p["last_exit"] or "")
    sigs = Table(title="signals", title_justify="left")
    for col in ("num", "target", "handler", "raised", "delivered", "handled", "failed", "dropped",
                "coalesced", "last raised"):
        sigs.add_column(col, justify="right" if col not in ("target", "handler", "last raised") else "left")
    for e in s["signals"]:
        sigs.add_row(str(e["num"]), e["target"] or "-", e["handler"] or Text("(none: signal_wait)", "dim"),
                     str(e["raised"]), str(e["delivered"]), str(e["handled"]),
                     Text(str(e["failed"]), "red" if e["failed"] else ""),
                     Text(str(e["dropped"]), "red" if e["dropped"] else ""), str(e["coalesced"]),
                     _ago(e["last_raised"]))
    return Group(head, procs, sigs)
