"""Handlers for benchmarks/scale.py: a no-op, and a counter that first waits while the
driver holds the BLOCK slot (its workers stay busy while signals queue in the master)."""

from __future__ import annotations

import time
from typing import Any

from benchmarks import shm
from benchmarks.apps import dispatch_app


def noop(num: int) -> None:
    pass


def blocked_count(num: int) -> None:
    mv: Any = dispatch_app._mv if dispatch_app._mv is not None else dispatch_app._attach()
    while mv[shm.BLOCK]:
        time.sleep(0.0005)
    dispatch_app.count(num)
