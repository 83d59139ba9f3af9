"""The signals, event sources and spoolers tables of the status view."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from sigsup.status.columns import Col, fit_table, num_cell
from sigsup.status.formats import ago, count, duration, shorten_left, shorten_path


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
        cols["failed"].cells.append(num_cell(e.get("failed"), "bold red"))
        dropped, coalesced = e.get("dropped", 0), e.get("coalesced", 0)
        dc = Text.assemble((count(dropped), "bold red" if dropped else "dim"), ("/", "dim"),
                           (count(coalesced), "" if coalesced else "dim"))
        cols["dropped"].cells.append(dc)
        cols["queued"].cells.append(num_cell(e.get("queued"), "bold yellow"))
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
        cols["missed"].cells.append(num_cell(ev.get("missed"), "yellow"))
        cols["coalesced"].cells.append(num_cell(ev.get("coalesced")))
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
        cols["queued"].cells.append(num_cell(sp.get("queued"), "bold"))
        cols["due"].cells.append(num_cell(sp.get("due"), "bold yellow"))
        cols["running"].cells.append(num_cell(sp.get("running"), "yellow"))
        cols["retrying"].cells.append(num_cell(sp.get("retrying"), "yellow"))
        cols["failed"].cells.append(num_cell(_first(sp, "failed", "dead", "dead_lettered"), "bold red"))
        cols["done"].cells.append(Text(count(sp.get("done"))))
    return fit_table(list(cols.values()), width)
