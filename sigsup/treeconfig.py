"""The configuration of the tree this process belongs to, for spoolers, mule messages and
locks.

The master sets it when it builds its features (before it imports ``preload`` and before
it forks), so every child has it from birth. Elsewhere it comes from ``$SIGSUP_CONFIG`` (the
master exports it to its children, and a script may set it), else from a running master
found as the CLI finds one (``$SIGSUP_SOCKET``, else the one running master: locate.py).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from sigsup import client_runtime, context
from sigsup.errors import NotInSigsup

if TYPE_CHECKING:
    from sigsup.config import Config

ENV = "SIGSUP_CONFIG"


class _Held:
    """The config of this process (``context.process().state(_Held)``)."""

    __slots__ = ("config", "path")

    def __init__(self) -> None:
        self.config: Config | None = None
        self.path: str | None = None


def _held() -> _Held:
    return context.process().state(_Held)


def set_config(config: Config | None) -> None:
    held = _held()
    held.config = config
    held.path = str(config.path) if config is not None else None


def current_or_none_held() -> Config | None:
    """The config set here, without looking further."""
    return _held().config


def load(path: str) -> Config:
    """The config at ``path`` (cached: one load per path and process)."""
    held = _held()
    if held.config is not None and held.path == str(path):
        return held.config
    from sigsup.config import load_config
    cfg = load_config(path)
    set_config(cfg)
    return cfg


def current_config() -> Config:
    """This tree's config; NotInSigsup when there is no way to know it."""
    cfg = _held().config
    if cfg is not None:
        return cfg
    path = os.environ.get(ENV)
    if path:
        return load(path)
    # the one rule (locate.py): $SIGSUP_SOCKET, else the one running master; NotInSigsup
    # in one line saying what to set when there is none
    reply: dict[str, Any] = client_runtime.current().call("tree-config")
    return load(reply["config"])


def current_or_none() -> Config | None:
    try:
        return current_config()
    except NotInSigsup:
        return None
