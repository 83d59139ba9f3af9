"""Numbers, times and names as the status view writes them: ``3m05s``, ``123k``,
``…reports:rebuild``. Pure functions: strings in, strings out.
"""

from __future__ import annotations


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


def shorten_state(s: str, width: int) -> str:
    """Lose the "(why)" first, then the end."""
    head = s.split(" (", 1)[0]
    return head if len(head) <= width else shorten_right(head, width)
