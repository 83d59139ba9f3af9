"""One raised signal as the router tracks it (``Raise``), and who waits for its outcome
(``Watch``, for ``sigsup raise --wait``). A leaf of routing: proc, result and router use it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sigsup.routing.table import Entry


class Raise:
    """One raised signal, shared by all of its recipients."""

    __slots__ = ("id", "signum", "entry", "pending", "watch", "origin", "payload")

    def __init__(self, rid: int, signum: int, entry: Entry, origin: str,
                 payload: object = None) -> None:
        self.id = rid
        self.signum = signum
        self.entry = entry
        self.pending = 0                 # recipients that have not finished
        self.watch: Watch | None = None  # set when someone waits for the outcome
        self.origin = origin
        self.payload = payload           # JSON value the handler gets, or None


@dataclass
class Watch:
    """Outcomes of one raise, for ``sigsup raise --wait``."""

    expected: int
    results: list[dict[str, object]] = field(default_factory=list)
    on_complete: Callable[[Watch], None] | None = None

    @property
    def complete(self) -> bool:
        return len(self.results) >= self.expected

    def record(self, proc: str, status: str, detail: str | None = None) -> None:
        self.results.append({"process": proc, "status": status, "detail": detail})
        if self.complete and self.on_complete is not None:
            callback, self.on_complete = self.on_complete, None
            callback(self)
