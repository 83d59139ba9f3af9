"""An in-process cache each worker refreshes when the timer's signal arrives."""

from __future__ import annotations

import json
import time
from pathlib import Path

import sigsup

SOURCE = Path(__file__).resolve().parent / "rates.json"
CACHE: dict[str, float] = {}
_version = 0


def _load() -> dict[str, float]:
    return {k: float(v) for k, v in json.loads(SOURCE.read_text()).items()}


def refresh(num: int) -> None:
    """Signal 20's handler: reload the data into this worker's cache."""
    global _version
    started = time.monotonic()
    CACHE.clear()
    CACHE.update(_load())
    _version += 1
    print(f"worker {sigsup.worker_id()}: cache refreshed, version {_version}, "
          f"{len(CACHE)} rates, {1000 * (time.monotonic() - started):.1f} ms")


def rate(currency: str) -> float:
    """What request code would call: served from memory, never from the file."""
    return CACHE[currency]


CACHE.update(_load())   # warm at import (preload): every worker starts with it
