"""What is wrong with a config file: :class:`Problem`, :class:`ConfigError` and the listing
``sigsup check`` prints."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["ConfigError", "Problem", "format_problems"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a config file."""

    file: str  # the path as the user gave it
    key: str  # dotted key path, "" for the file as a whole
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ConfigError(Exception):
    """A config file that cannot be used; ``problems`` lists everything wrong with it."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        super().__init__(self.problems)

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


def format_problems(err: ConfigError) -> str:
    """A human listing: ``sigsup.toml: 2 problems`` then one indented line per problem."""
    by_file: dict[str, list[Problem]] = {}
    for p in err.problems:
        by_file.setdefault(p.file, []).append(p)
    out = []
    for file, problems in by_file.items():
        n = len(problems)
        out.append(f"{file}: {n} problem{'' if n == 1 else 's'}\n")
        for p in problems:
            where = f"line {p.line}: " if p.line else ""
            key = f"{p.key}: " if p.key else ""
            out.append(f"  - {where}{key}{p.message}\n")
    return "".join(out)
