"""Settings every worker keeps in memory, reloaded when the file changes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import sigsup

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PATH = Path(__file__).resolve().parent / "settings.toml"
SETTINGS: dict[str, Any] = {}


def load() -> dict[str, Any]:
    with PATH.open("rb") as f:
        return tomllib.load(f)


def reload(num: int) -> None:
    """Signal 17's handler: a change to settings.toml reaches every worker."""
    try:
        new = load()
    except (OSError, tomllib.TOMLDecodeError) as exc:
        print(f"worker {sigsup.worker_id()}: keeping the old settings ({exc})")
        return
    SETTINGS.clear()
    SETTINGS.update(new)
    print(f"worker {sigsup.worker_id()}: settings reloaded: greeting = {SETTINGS.get('greeting')!r}")


SETTINGS.update(load())
