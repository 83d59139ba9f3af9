"""Rich renderings of the status document: ``sigsup status``, ``sigsup top``, the dashboard.

Pure functions of the document (and the screen size): no I/O, no clock (relative times
use the document's own ``time``), so they are tested by rendering to a string.

This module assembles the screen: the header, the sections, side by side from ``WIDE``
columns on. The layout fits the width it is given instead of letting rich wrap cells:
every table knows which columns it can lose first (status/columns.py), and long names
shorten from the side that matters least (status/formats.py). With a height, runs of
alike processes (28 idle workers) fold into one row so the view stays one screen
(status/processes.py); the other tables are in status/tables.py.

Colour carries meaning but never alone: every state is a word (``busy``, ``FAILED``...),
numbers that are bad are also non-zero.
"""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from sigsup.status.columns import table_width
from sigsup.status.formats import count, duration, rate, size
from sigsup.status.processes import fold, processes_summary, processes_table
from sigsup.status.styles import MASTER_STYLE, TITLE
from sigsup.status.tables import events_table, signals_table, spoolers_table

WIDE = 150           # from this width on, the tables can sit side by side
DEFAULT_WIDTH = 100
UNLIMITED = 10_000   # a width for measuring natural sizes

# -- the header ----------------------------------------------------------------------------


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


# -- sections ------------------------------------------------------------------------------


def _items(section: Any) -> list[dict[str, Any]]:
    """A section as a list of dicts: a list as it is, a name -> dict map with names added."""
    if isinstance(section, dict):
        return [{"name": k, **v} if isinstance(v, dict) else {"name": k, "value": v}
                for k, v in section.items()]
    if isinstance(section, list):
        return [x for x in section if isinstance(x, dict)]
    return []


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
                lp: list[RenderableType] = [processes_summary(procs), left]
                grid = Table.grid(padding=(0, 3))
                grid.add_column(width=lw)
                grid.add_column(width=rw)
                grid.add_row(Group(*lp), Group(*right))
                return [*head, Text(""), grid], len(head) + 1 + max(_height(lp), _height(right))
        body: list[RenderableType] = [processes_summary(procs), processes_table(rows, width, wide)]
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
