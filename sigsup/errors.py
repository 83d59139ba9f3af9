"""Exceptions that handler code and the CLI see."""

from __future__ import annotations

from typing import Any


class SigsupError(Exception):
    """Base class of sigsup's own errors."""


class SignalRefused(SigsupError):
    """The master refused a raise (or part of it); ``result`` says what it did."""

    def __init__(self, message: str, result: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.result = result or {}


class NotInSigsup(SigsupError, RuntimeError):
    """The API was called outside a sigsup process, with no master to talk to."""


class MasterGone(SigsupError, ConnectionError):
    """The channel to the master closed."""


class CommandFailed(SigsupError):
    """The master answered a request with an error; ``reply`` is its whole answer."""

    def __init__(self, message: str, reply: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.reply = reply or {}
