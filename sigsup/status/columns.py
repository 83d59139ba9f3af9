"""Fitting a table to a width: each column knows when it goes and how its cells shorten.

Instead of letting rich wrap cells, ``fit_table`` narrows the gaps, then shrinks the
shrinkable columns (their cells shortened from the side that matters least), then drops
the droppable ones, lowest ``drop`` first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from rich.table import Table
from rich.text import Text

from sigsup.status.formats import count, shorten_right
from sigsup.status.styles import HEADER


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


def num_cell(v: int | None, bad: str = "") -> Text:
    """A count in the ``bad`` style when it is not zero, dim when it is."""
    return Text(count(v), bad if v else "dim" if v == 0 else "")
