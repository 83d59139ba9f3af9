"""Counted nouns for messages: ``count(1, "signal")`` is "1 signal", ``count(2, "signal")``
"2 signals", ``count(1, "spooler process", "spooler processes")`` "1 spooler process"."""

from __future__ import annotations


def count(n: int, noun: str, plural: str | None = None) -> str:
    if n == 1:
        return f"1 {noun}"
    return f"{n} {plural if plural is not None else noun + 's'}"
