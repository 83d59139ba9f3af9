"""The configuration of the tree this process belongs to, for spoolers, mule messages and
locks.

The master sets it when it builds its features (before it imports ``preload`` and before
it forks), so every child has it from birth. Elsewhere it comes from ``$SIGSUP_CONFIG`` (the
master exports it to its children, and a script may set it), else from a running master
found through ``$SIGSUP_SOCKET``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from sigsup.errors import NotInSigsup

if TYPE_CHECKING:
    from sigsup.config import Config

ENV = "SIGSUP_CONFIG"


class _Holder:
    __slots__ = ("config", "path")

    def __init__(self) -> None:
        self.config: Config | None = None
        self.path: str | None = None


_held = _Holder()


def set_config(config: Config | None) -> None:
    _held.config = config
    _held.path = str(config.path) if config is not None else None


def current_or_none_held() -> Config | None:
    """The config set here, without looking further."""
    return _held.config


def load(path: str) -> Config:
    """The config at ``path`` (cached: one load per path and process)."""
    if _held.config is not None and _held.path == str(path):
        return _held.config
    from sigsup.config import load_config
    cfg = load_config(path)
    set_config(cfg)
    return cfg


def current_config() -> Config:
    """This tree's config; NotInSigsup when there is no way to know it."""
    if _held.config is not None:
        return _held.config
    path = os.environ.get(ENV)
    if path:
        return load(path)
    if os.environ.get("SIGSUP_SOCKET"):
        from sigsup import context
        reply: dict[str, Any] = context.current().call("tree-config")
        return load(reply["config"])
    raise NotInSigsup("no sigsup config known here: run inside a sigsup tree, set "
                      f"${ENV} to the config file, or set $SIGSUP_SOCKET")


def current_or_none() -> Config | None:
    try:
        return current_config()
    except NotInSigsup:
        return None
