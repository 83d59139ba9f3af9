"""Rich renderings of the status document: ``sigsup status``, ``sigsup top``, the dashboard.

Pure functions of the document (and the screen size): no I/O, no clock (relative times
use the document's own ``time``), so they are tested by rendering to a string.

The layout fits the width it is given instead of letting rich wrap cells: every table
knows which columns it can lose first, and long names shorten from the side that matters
least (a handler path keeps its function name). With a height, runs of alike processes
(28 idle workers) fold into one row so the view stays one screen.

Colour carries meaning but never alone: every state is a word (``busy``, ``FAILED``...),
numbers that are bad are also non-zero.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

STATE_STYLE = {
    "failed": "bold red", "backoff": "red", "busy": "yellow", "waiting": "cyan",
    "starting": "blue", "stopping": "magenta", "cheaped": "dim", "stopped": "dim",
    "idle": "green", "running": "green",
}
MASTER_STYLE = {"running": "bold green", "starting": "bold blue", "stopping": "bold yellow",
                "stopped": "bold red"}
TITLE = "bold cyan"
HEADER = "bold"
WIDE = 150           # from this width on, the tables can sit side by side
DEFAULT_WIDTH = 100
UNLIMITED = 10_000   # a width for measuring natural sizes

# -- small formatters ----------------------------------------------------------------------


def duration(sec: float | None) -> str:
    """0.4s, 12s, 3m05s, 2h03m, 3d04h."""
    if sec is None:
        return "-"
    if sec < 10:
        return f"{sec:.1f}s"
    s = int(sec)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit, div in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= div:
            v = n / div
            return f"{v:.1f}{unit}" if v < 100 else f"{v:.0f}{unit}"
    return f"{n}B"


def count(n: int | float | None) -> str:
    """Exact below 100,000; then 123k, 1.2M."""
    if n is None:
        return "-"
    if n < 100_000:
        return str(n)
    if n < 10_000_000:
        return f"{n / 1000:.0f}k"
    return f"{n / 1_000_000:.1f}M"


def ago(ts: float | None, now: float) -> str:
    if not ts:
        return "never"
    return duration(max(0.0, now - ts)) + " ago"


def shorten_left(s: str, width: int) -> str:
    """Keep the end: ``…ers.reports:build`` (a handler keeps its function, a path its file)."""
    if len(s) <= width:
        return s
    if width <= 1:
        return "…"[:width]
    return "…" + s[-(width - 1):]


def shorten_path(s: str, width: int) -> str:
    """An import path shortened whole module names first: ``…reports:rebuild``."""
    if len(s) <= width:
        return s
    head, sep, func = s.rpartition(":")
    if sep and len(func) + 2 <= width:
        parts = head.split(".")
        while parts and len(".".join(parts)) + len(func) + 2 > width:
            parts.pop(0)
        return "…" + ".".join(parts) + ":" + func if parts else "…:" + func
    return shorten_left(s, width)


def shorten_right(s: str, width: int) -> str:
    if len(s) <= width:
        return s
    if width <= 1:
        return "…"[:width]
    return s[:width - 1] + "…"


def exit_word(how: str | None) -> str:
    """``exit code 3`` -> ``exit 3``; ``killed by signal SIGKILL`` -> ``SIGKILL``."""
    if not how:
        return ""
    return how.replace("exit code ", "exit ").replace("killed by signal ", "")


def rate(v: float | None) -> str:
    if v is None:
        return "-"
    if v >= 100:
        return f"{v:,.0f}/s"
    return f"{v:.1f}/s"


# -- fitting tables to a width -------------------------------------------------------------


@dataclass
class Col:
    header: str
    justify: str = "left"
    drop: int = 0          # 0: always kept; otherwise dropped when narrow, lowest first
    shrink: int = 0        # >0: may shrink down to this width (cells are shortened)
    shorten: Callable[[str, int], str] = shorten_right
    cells: list[Text] = field(default_factory=list)

    def natural(self) -> int:
        return max([len(self.header), *(c.cell_len for c in self.cells)])


def fit_table(cols: Sequence[Col], width: int, *, title: Text | None = None) -> Table:
    """A borderless table of ``cols`` that fits ``width``: two spaces between columns if
    there is room, else one; then shrinkable columns shrink; then droppable ones go."""
    cols = list(cols)
    widths: dict[int, int] = {}
    gap = 2
    while True:
        widths = {id(c): c.natural() for c in cols}
        need = sum(widths.values()) + gap * (len(cols) - 1)
        if need <= width:
            break
        if gap == 2:
            gap = 1
            continue
        over = need - width
        # the columns right of the first shrink first (rightmost first), then columns go,
        # and only then the first column (the names) shrinks
        for c in reversed(cols[1:]):
            over -= _shrink(c, widths, over)
        if over <= 0:
            break
        droppable = [c for c in cols if c.drop]
        if droppable:
            cols.remove(min(droppable, key=lambda c: c.drop))
            continue
        over -= _shrink(cols[0], widths, over)
        if over > 0:   # nothing left to give: the first column takes the cut
            widths[id(cols[0])] = max(4, widths[id(cols[0])] - over)
        break
    table = Table(box=None, padding=(0, gap, 0, 0), pad_edge=False, show_edge=False,
                  header_style=HEADER, title=title, title_justify="left", expand=False,
                  collapse_padding=False)
    for c in cols:
        table.add_column(c.header, justify=c.justify, no_wrap=True, overflow="ellipsis",
                         width=widths[id(c)], min_width=widths[id(c)])
    rows = len(cols[0].cells) if cols else 0
    for i in range(rows):
        cells = []
        for c in cols:
            cell = c.cells[i]
            w = widths[id(c)]
            if cell.cell_len > w:
                cell = _cut(cell, c.shorten(cell.plain, w))
            cells.append(cell)
        table.add_row(*cells)
    return table


def _cut(cell: Text, short: str) -> Text:
    """``cell`` shortened to the text ``short`` (a piece of it with "…" at either end),
    keeping its colours."""
    core = short.strip("…")
    i = cell.plain.find(core)
    if not core or i < 0:
        return Text(short, style=cell.style)
    out = Text(style=cell.style)
    if short.startswith("…"):
        out.append("…")
    out.append_text(cell[i:i + len(core)])
    if short.endswith("…"):
        out.append("…")
    return out


def shorten_state(s: str, width: int) -> str:
    """Lose the "(why)" first, then the end."""
    head = s.split(" (", 1)[0]
    return head if len(head) <= width else shorten_right(head, width)


def _shrink(c: Col, widths: dict[int, int], over: int) -> int:
    """Take up to ``over`` columns from ``c`` (down to its ``shrink``); returns how many."""
    if not c.shrink or over <= 0:
        return 0
    give = max(0, min(over, widths[id(c)] - c.shrink))
    widths[id(c)] -= give
    return give


def table_width(t: Table) -> int:
    cols = t.columns
    gap = t.padding[1]
    return sum(c.width or 0 for c in cols) + gap * max(0, len(cols) - 1)


# -- sections ------------------------------------------------------------------------------


def _chunks_to_lines(chunks: list[Text], width: int, sep: str = "  ") -> list[Text]:
    """Pack chunks into lines of ``width``; a chunk is never split."""
    lines: list[Text] = []
    line = Text()
    for ch in chunks:
        if line.cell_len and line.cell_len + len(sep) + ch.cell_len > width:
            lines.append(line)
            line = Text()
        if line.cell_len:
            line.append(sep)
        line.append_text(ch)
    if line.cell_len:
        lines.append(line)
    return lines


def _kv(label: str, value: str, style: str = "") -> Text:
    return Text.assemble((label + " ", "dim"), (value, style or "bold"))


def header(s: dict[str, Any], width: int) -> list[Text]:
    m = s["master"]
    state = m.get("state", "?")
    first = Text.assemble(("sigsup ", "bold"), (m["name"], "bold cyan"))
    chunks = [
        first,
        Text(state, MASTER_STYLE.get(state, "bold")),
        _kv("pid", str(m["pid"])),
        _kv("up", duration(m.get("uptime"))),
        _kv("raised", f"{count(m.get('raised'))} ({rate(m.get('raises_per_s'))})"),
        _kv("queued", count(m.get("queued")), "bold yellow" if m.get("queued") else ""),
    ]
    lines = _chunks_to_lines(chunks, width)
    extra = _kv("rss", size(m.get("rss"))) if m.get("rss") is not None else None
    if extra is not None and lines[-1].cell_len + 2 + extra.cell_len <= width:
        lines[-1].append("  ")      # the master's own RSS only where it fits
        lines[-1].append_text(extra)
    paths = [Text.assemble(("config ", "dim"), (m.get("config", ""), "")),
             Text.assemble(("socket ", "dim"), (m.get("socket", ""), ""))]
    if sum(p.cell_len for p in paths) + 3 <= width:
        lines.append(Text("   ").join(paths))
    else:
        for p in paths:
            p.truncate(width, overflow="ellipsis")
            lines.append(p)
    failed = [p for p in s.get("processes", []) if p["state"] == "failed"]
    if s.get("groups_failed") or failed:
        what = "; ".join(f"{p['name']}" + (f" ({p['last_exit']})" if p.get("last_exit") else "")
                         for p in failed[:4]) + (f"; {len(failed) - 4} more" if len(failed) > 4 else "")
        retry = min((p["respawn_in"] for p in failed if p.get("respawn_in") is not None),
                    default=None)
        t = Text(f"✖ FAILED {', '.join(s.get('groups_failed') or [])}: {what}", "bold red")
        if retry is not None:
            t.append(f", next retry in {duration(retry)}", "red")
        t.truncate(width, overflow="ellipsis")
        lines.append(t)
    return lines


def _summary(procs: list[dict[str, Any]]) -> Text:
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


def _num(v: int | None, bad: str = "") -> Text:
    return Text(count(v), bad if v else "dim" if v == 0 else "")


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
        cols["queued"].cells.append(_num(waiting, "bold yellow"))
        cols["handled"].cells.append(Text(count(p.get("handled"))))
        cols["failed"].cells.append(_num(p.get("failed"), "bold red"))
        cols["respawns"].cells.append(_num(p.get("respawns"), "yellow"))
        cols["rss"].cells.append(_rss(p))
        cols["cpu"].cells.append(_cpu(p))
        cols["up"].cells.append(Text(duration(p.get("uptime")) if p.get("uptime") is not None
                                     else "-", "" if p.get("uptime") else "dim"))
        if wide:
            cols["exit"].cells.append(Text(exit_word(p.get("last_exit")), "dim"))
    return fit_table(list(cols.values()), width)


def signals_table(sigs: list[dict[str, Any]], now: float, width: int) -> Table:
    cols = {
        "num": Col("SIG", "right"),
        "target": Col("TARGET"),
        "handler": Col("HANDLER", shrink=20, shorten=shorten_path),
        "raised": Col("RAISED", "right"),
        "delivered": Col("DELIV", "right", drop=1),
        "handled": Col("HANDLED", "right"),
        "failed": Col("FAIL", "right", drop=5),
        "dropped": Col("DROP/COAL", "right", drop=4),
        "queued": Col("QUEUE", "right", drop=3),
        "last": Col("LAST", "right", drop=2),
    }
    for e in sigs:
        cols["num"].cells.append(Text(str(e["num"]), "bold"))
        cols["target"].cells.append(Text(e.get("target") or "signal_wait",
                                         "" if e.get("target") else "dim italic"))
        cols["handler"].cells.append(Text(e["handler"]) if e.get("handler")
                                     else Text("(unregistered)", "dim italic"))
        cols["raised"].cells.append(Text(count(e.get("raised"))))
        cols["delivered"].cells.append(Text(count(e.get("delivered"))))
        cols["handled"].cells.append(Text(count(e.get("handled"))))
        cols["failed"].cells.append(_num(e.get("failed"), "bold red"))
        dropped, coalesced = e.get("dropped", 0), e.get("coalesced", 0)
        dc = Text.assemble((count(dropped), "bold red" if dropped else "dim"), ("/", "dim"),
                           (count(coalesced), "" if coalesced else "dim"))
        cols["dropped"].cells.append(dc)
        cols["queued"].cells.append(_num(e.get("queued"), "bold yellow"))
        cols["last"].cells.append(Text(ago(e.get("last_raised"), now),
                                       "" if e.get("last_raised") else "dim"))
    return fit_table(list(cols.values()), width)


def _when(v: Any, now: float) -> str:
    """A next-fire time: wall-clock seconds (like the rest of the document), or a string."""
    if v is None:
        return "-"
    if isinstance(v, (int, float)):
        d = v - now
        return "due" if d <= 0 else "in " + duration(d)
    return str(v)


def _first(d: dict[str, Any], *keys: str) -> Any:
    for k in keys:
        if d.get(k) is not None:
            return d[k]
    return None


def _items(section: Any) -> list[dict[str, Any]]:
    """A section as a list of dicts: a list as it is, a name -> dict map with names added."""
    if isinstance(section, dict):
        return [{"name": k, **v} if isinstance(v, dict) else {"name": k, "value": v}
                for k, v in section.items()]
    if isinstance(section, list):
        return [x for x in section if isinstance(x, dict)]
    return []


def events_table(events: list[dict[str, Any]], now: float, width: int) -> Table:
    cols = {
        "kind": Col("KIND"),
        "id": Col("ID", shrink=6, drop=2),
        "signal": Col("SIG", "right"),
        "spec": Col("SPEC", shrink=10, shorten=shorten_left),
        "next": Col("NEXT", "right"),
        "fired": Col("FIRED", "right"),
        "missed": Col("MISSED", "right", drop=4),
        "coalesced": Col("COAL", "right", drop=3),
        "left": Col("LEFT", "right", drop=1),
    }
    for ev in events:
        left = ev.get("iterations_left")
        cols["kind"].cells.append(Text(str(ev.get("kind", "?")), "bold"))
        cols["id"].cells.append(Text(str(_first(ev, "id", "name") or "-")))
        cols["signal"].cells.append(Text(str(_first(ev, "signal", "signum") or "-")))
        cols["spec"].cells.append(Text(str(_first(ev, "spec", "path", "period") or "")))
        nxt = ev.get("next_fire_in")
        cols["next"].cells.append(Text("in " + duration(nxt) if nxt is not None
                                       else _when(ev.get("next_fire"), now)))
        cols["fired"].cells.append(Text(count(ev.get("fired"))))
        cols["missed"].cells.append(_num(ev.get("missed"), "yellow"))
        cols["coalesced"].cells.append(_num(ev.get("coalesced")))
        cols["left"].cells.append(Text("∞" if left is None else count(left), "dim" if left is None else ""))
    return fit_table(list(cols.values()), width)


def spoolers_table(spoolers: list[dict[str, Any]], width: int) -> Table:
    cols = {
        "name": Col("SPOOLER", shrink=8),
        "queued": Col("QUEUED", "right"),
        "due": Col("DUE", "right", drop=2),
        "running": Col("RUNNING", "right"),
        "retrying": Col("RETRYING", "right", drop=1),
        "failed": Col("DEAD", "right"),
        "done": Col("DONE", "right", drop=3),
    }
    for sp in spoolers:
        cols["name"].cells.append(Text(str(sp.get("name", "?"))))
        cols["queued"].cells.append(_num(sp.get("queued"), "bold"))
        cols["due"].cells.append(_num(sp.get("due"), "bold yellow"))
        cols["running"].cells.append(_num(sp.get("running"), "yellow"))
        cols["retrying"].cells.append(_num(sp.get("retrying"), "yellow"))
        cols["failed"].cells.append(_num(_first(sp, "failed", "dead", "dead_lettered"), "bold red"))
        cols["done"].cells.append(Text(count(sp.get("done"))))
    return fit_table(list(cols.values()), width)


def _section(title: str, note: str = "") -> Text:
    return Text.assemble((title, TITLE), (f"  {note}" if note else "", "dim"))


# -- the whole view ------------------------------------------------------------------------


def _side_sections(s: dict[str, Any], now: float, width: int) -> list[RenderableType]:
    out: list[RenderableType] = []
    sigs = s.get("signals") or []
    out.append(_section("signals", f"{len(sigs)} in the table or raised"))
    if sigs:
        out.append(signals_table(sigs, now, width))
    else:
        out.append(Text("no signal registered or raised yet", "dim"))
    events = _items(s.get("events"))
    if events:
        out += [Text(""), _section("event sources", str(len(events))),
                events_table(events, now, width)]
    spoolers = _items(s.get("spoolers"))
    if spoolers:
        out += [Text(""), _section("spoolers", str(len(spoolers))), spoolers_table(spoolers, width)]
    return out


def _height(parts: list[RenderableType]) -> int:
    n = 0
    for p in parts:
        if isinstance(p, Table):
            n += len(p.rows) + (1 if p.show_header else 0)
        else:
            n += 1
    return n


def render_status(s: dict[str, Any], width: int | None = None,
                  height: int | None = None) -> RenderableType:
    """The status view for a terminal ``width`` columns wide (and ``height`` rows, to fold
    long process lists)."""
    width = width or DEFAULT_WIDTH
    now = s.get("time") or 0.0
    head = header(s, width)
    procs = s.get("processes") or []
    side_by_side = wide = width >= WIDE
    proc_rows = procs

    def build(rows: list[dict[str, Any]]) -> tuple[list[RenderableType], int]:
        if side_by_side:
            # side by side only when both tables fit at their natural widths: a squeezed
            # pair reads worse than the same tables one above the other
            left = processes_table(rows, UNLIMITED, wide=True)
            lw = table_width(left)
            sigs = s.get("signals") or []
            rw = max(table_width(signals_table(sigs, now, UNLIMITED)) if sigs else 0, 60)
            if lw + 3 + rw <= width:
                right = _side_sections(s, now, rw)
                lp: list[RenderableType] = [_summary(procs), left]
                grid = Table.grid(padding=(0, 3))
                grid.add_column(width=lw)
                grid.add_column(width=rw)
                grid.add_row(Group(*lp), Group(*right))
                return [*head, Text(""), grid], len(head) + 1 + max(_height(lp), _height(right))
        body: list[RenderableType] = [_summary(procs), processes_table(rows, width, wide)]
        body += [Text(""), *_side_sections(s, now, width)]
        return [*head, Text(""), *body], len(head) + 1 + _height(body)

    jobs = {b.get("process"): b for sp in _items(s.get("spoolers"))
            for b in sp.get("busy") or () if isinstance(b, dict)}
    if jobs:   # a spooler process running a job is busy, though it runs no signal
        procs = [{**p, "job": jobs[p["name"]],
                  "activity": "busy" if p["activity"] == "idle" else p["activity"]}
                 if p["name"] in jobs else p for p in procs]
        proc_rows = procs
    parts, h = build(proc_rows)
    if height is not None and h > height:
        proc_rows = fold(procs, max(1, len(procs) - (h - height)))
        parts, h = build(proc_rows)
    return Group(*parts)


def render_problem(message: str, detail: str = "", width: int | None = None) -> RenderableType:
    """What the live view shows while no master answers."""
    t = Table(box=box.ROUNDED, show_header=False, border_style="yellow", expand=False,
              width=min(width or DEFAULT_WIDTH, 100))
    t.add_column(overflow="fold")
    t.add_row(Text(message, "bold yellow"))
    if detail:
        t.add_row(Text(detail, "dim"))
    return t
