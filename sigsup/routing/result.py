"""What the master did with one raise: the one result type of every raise in the tree.

The router builds it for a routed raise; ``RaiseResult.refused_by`` for a raise the master
refused before routing (it is stopping). ``as_dict`` is the form every reply carries: the
control socket's ``raise``, a child's ``raised`` frame, the ``raise`` event.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sigsup.routing.raises import Raise


class RaiseResult:
    """What the master did with a raise: who will run it, and what was refused and why.

    A plain class with slots, not a dataclass: one is made for every raise, and a
    dataclass with three ``default_factory`` lists costs twice as much to build."""

    __slots__ = ("id", "signum", "recipients", "refused", "coalesced", "raise_")

    def __init__(self, id: int, signum: int, recipients: list[str] | None = None,
                 refused: list[tuple[str, str]] | None = None,
                 coalesced: list[str] | None = None, raise_: Raise | None = None) -> None:
        self.id = id
        self.signum = signum
        self.recipients: list[str] = [] if recipients is None else recipients
        self.refused: list[tuple[str, str]] = [] if refused is None else refused
        self.coalesced: list[str] = [] if coalesced is None else coalesced
        self.raise_ = raise_

    def __repr__(self) -> str:
        return (f"RaiseResult(id={self.id!r}, signum={self.signum!r}, "
                f"recipients={self.recipients!r}, refused={self.refused!r}, "
                f"coalesced={self.coalesced!r}, raise_={self.raise_!r})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RaiseResult):
            return NotImplemented
        return all(getattr(self, k) == getattr(other, k) for k in self.__slots__)

    __hash__ = None  # type: ignore[assignment]   # mutable, like the dataclass it was

    @classmethod
    def refused_by(cls, signum: int, who: str, why: str) -> RaiseResult:
        """A raise refused whole, before routing (``who`` is "master" when it is stopping)."""
        return cls(0, signum, refused=[(who, why)])

    @property
    def accepted(self) -> bool:
        return bool(self.recipients or self.coalesced)

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id, "signum": self.signum, "accepted": self.accepted,
            "recipients": self.recipients, "coalesced": self.coalesced,
            "refused": [{"recipient": r, "reason": why} for r, why in self.refused],
        }
