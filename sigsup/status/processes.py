"""The processes part of the status view: the summary line, the table, and folding runs of
alike processes (28 idle workers) into one row so a tall tree stays one screen."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.table import Table
from rich.text import Text

from sigsup.status.columns import Col, fit_table, num_cell
from sigsup.status.formats import count, duration, exit_word, shorten_left, shorten_state, size
from sigsup.status.styles import STATE_STYLE, TITLE


def processes_summary(procs: list[dict[str, Any]]) -> Text:
    order = ("busy", "waiting", "idle", "starting", "backoff", "failed", "cheaped", "stopping",
             "stopped")
    n: dict[str, int] = {}
    for p in procs:
        n[p["activity"]] = n.get(p["activity"], 0) + 1
    t = Text.assemble(("processes ", TITLE), (str(len(procs)), "bold"))
    parts = [(f"{n[a]} {a}", STATE_STYLE.get(a, "")) for a in order if n.get(a)]
    parts += [(f"{v} {a}", "") for a, v in n.items() if a not in order]
    if parts:
        t.append("  ")
        for i, (txt, style) in enumerate(parts):
            if i:
                t.append(" · ", "dim")
            t.append(txt, style)
    return t


def state_cell(p: dict[str, Any], why: bool = False) -> Text:
    """The state word, coloured, and what it means right now (``why``: how a process in
    backoff or failed last exited, for views without a LAST EXIT column)."""
    t = _state_cell(p)
    if why and p["activity"] in ("backoff", "failed") and p.get("last_exit"):
        t.append(f" ({exit_word(p['last_exit'])})", "dim")
    return t


def _state_cell(p: dict[str, Any]) -> Text:
    act = p["activity"]
    if p.get("folded"):
        sig = f" sig {p['fold_signum']}" if p.get("fold_signum") is not None else ""
        return Text.assemble((act, STATE_STYLE.get(act, "")), sig, (f" ×{p['folded']}", "dim"))
    job = p.get("job")
    if job is not None and act in ("idle", "busy") and not p.get("current"):
        attempt = job.get("attempt") or 1
        return Text.assemble(("busy", STATE_STYLE["busy"]), f" job {duration(job.get('for'))}",
                             (f" try {attempt}" if attempt > 1 else "", "dim"))
    if act == "busy" and p.get("current"):
        cur = p["current"]   # what waits behind it is in the QUEUE column
        return Text.assemble(("busy", STATE_STYLE["busy"]),
                             f" sig {cur['signum']} {duration(cur['for'])}")
    if act == "waiting":
        w = p.get("waiting_for")
        return Text.assemble(("waiting", STATE_STYLE["waiting"]),
                             " any" if w in (None, -1) else f" sig {w}")
    if act == "backoff":
        return Text.assemble(("backoff", STATE_STYLE["backoff"]),
                             f" {duration(p.get('respawn_in'))}")
    if act == "failed":
        return Text.assemble(("FAILED", STATE_STYLE["failed"]),
                             f" retry {duration(p.get('respawn_in'))}")
    return Text(act, STATE_STYLE.get(act, ""))


def name_cell(p: dict[str, Any]) -> Text:
    t = Text(p["name"])
    farms = [g[5:] for g in p.get("groups", []) if g.startswith("farm:")]
    if farms:
        t.append(" " + ",".join(farms), "dim")
    return t


def _cpu(p: dict[str, Any]) -> Text:
    v = p.get("cpu_percent")
    if v is None:
        return Text("-", "dim")
    return Text(("~" if p.get("folded") else "") + f"{v:.1f}", "bold yellow" if v >= 80 else "")


def _rss(p: dict[str, Any]) -> Text:
    v = p.get("rss")
    if v is None:
        return Text("-", "dim")
    return Text(("~" if p.get("folded") else "") + size(int(v)))


FOLD_QUIET = ("idle", "cheaped", "stopped", "starting", "waiting")
# what may fold, tried in order until the rows fit: quiet and clean, quiet, anything
FOLD_TIERS: tuple[Callable[[dict[str, Any]], bool], ...] = (
    lambda p: p["activity"] in FOLD_QUIET and not p.get("queued") and not p.get("failed")
    and not p.get("respawns"),
    lambda p: p["activity"] in FOLD_QUIET and not p.get("queued"),
    lambda p: True,
)


def _folded(run: list[dict[str, Any]]) -> dict[str, Any]:
    """One row for a run of alike processes: counters summed, RSS and CPU averaged."""
    def total(key: str) -> Any:
        vals = [q[key] for q in run if q.get(key) is not None]
        return sum(vals) if vals else None

    def mean(key: str) -> Any:
        vals = [q[key] for q in run if q.get(key) is not None]
        return sum(vals) / len(vals) if vals else None
    p = run[0]
    signums = {(q.get("current") or {}).get("signum") for q in run}
    behind = sum(q.get("queued", 0) + max(0, q.get("in_flight", 0) - (1 if q.get("current") else 0))
                 for q in run)
    return {
        "name": f"{p['name']}…{run[-1]['name']}", "kind": p["kind"], "groups": [],
        "pid": None, "activity": p["activity"], "state": p["state"], "folded": len(run),
        "waiting_for": p.get("waiting_for"), "queued": behind, "in_flight": 0,
        "fold_signum": signums.pop() if len(signums) == 1 else None,
        "current": None, "handled": total("handled"),
        "failed": total("failed"), "respawns": total("respawns"), "rss": mean("rss"),
        "cpu_percent": mean("cpu_percent"), "uptime": None, "last_exit": None,
    }


def fold(procs: list[dict[str, Any]], max_rows: int) -> list[dict[str, Any]]:
    """At most ``max_rows`` rows if it can be done: the tail of the longest run of alike
    processes (same kind, same state) folds into one row, again until it fits. Quiet,
    clean processes fold first; then quiet ones that failed; busy ones or ones with a
    backlog only if that is not enough."""
    groups: list[list[dict[str, Any]]] = [[p] for p in procs]
    need = len(groups) - max_rows
    for fits in FOLD_TIERS:
        while need > 0:
            best: tuple[int, int] | None = None      # (start, length) of the longest run
            i = 0
            while i < len(groups):
                g = groups[i]
                j = i + 1
                if len(g) == 1 and fits(g[0]):
                    key = (g[0]["kind"], g[0]["activity"], g[0].get("waiting_for"))
                    while j < len(groups) and len(groups[j]) == 1 and fits(groups[j][0]) and \
                            (groups[j][0]["kind"], groups[j][0]["activity"],
                             groups[j][0].get("waiting_for")) == key:
                        j += 1
                    if j - i >= 2 and (best is None or j - i > best[1]):
                        best = (i, j - i)
                i = j
            if best is None:
                break
            start, length = best
            k = min(length, max(need + 1, 3))    # fold the last k rows of the run (3 or more)
            tail = [g[0] for g in groups[start + length - k:start + length]]
            groups[start + length - k:start + length] = [tail]
            need -= k - 1
    return [g[0] if len(g) == 1 else _folded(g) for g in groups]


def processes_table(procs: list[dict[str, Any]], width: int, wide: bool = False) -> Table:
    cols = {
        "name": Col("NAME", shrink=8, shorten=shorten_left),
        "pid": Col("PID", "right"),
        "state": Col("STATE", shrink=18, shorten=shorten_state),
        "queued": Col("QUEUE", "right", drop=6),
        "handled": Col("HANDLED", "right"),
        "failed": Col("FAIL", "right", drop=8),
        "respawns": Col("RESP", "right", drop=7),
        "rss": Col("RSS", "right", drop=4),
        "cpu": Col("CPU%", "right", drop=3),
        "up": Col("UP", "right", drop=2),
    }
    wide = wide and any(p.get("last_exit") for p in procs)
    if wide:
        cols["exit"] = Col("LAST EXIT", drop=1, shrink=10)
    for p in procs:
        waiting = p.get("queued", 0) + max(0, p.get("in_flight", 0) - (1 if p.get("current") else 0))
        cols["name"].cells.append(name_cell(p))
        cols["pid"].cells.append(Text(str(p["pid"]) if p.get("pid") else "-",
                                      "" if p.get("pid") else "dim"))
        cols["state"].cells.append(state_cell(p, why=not wide))
        cols["queued"].cells.append(num_cell(waiting, "bold yellow"))
        cols["handled"].cells.append(Text(count(p.get("handled"))))
        cols["failed"].cells.append(num_cell(p.get("failed"), "bold red"))
        cols["respawns"].cells.append(num_cell(p.get("respawns"), "yellow"))
        cols["rss"].cells.append(_rss(p))
        cols["cpu"].cells.append(_cpu(p))
        cols["up"].cells.append(Text(duration(p.get("uptime")) if p.get("uptime") is not None
                                     else "-", "" if p.get("uptime") else "dim"))
        if wide:
            cols["exit"].cells.append(Text(exit_word(p.get("last_exit")), "dim"))
    return fit_table(list(cols.values()), width)
