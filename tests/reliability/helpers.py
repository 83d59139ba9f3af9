"""Helpers of the reliability suite (its fixtures are in conftest.py and tests/conftest.py).

The end-to-end harness (tests/harness.py) is reused as it is: ``Master`` is a real
``sigsup start`` in its own session, with polling waits and a teardown that kills every
process it ever saw. Handler modules live in tests/e2e/apps (``APPS``) and, for this suite's
own needs, in tests/reliability/apps (``REL_APPS``); ``sup()`` puts both on ``pythonpath``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from harness import APPS

REL_APPS = Path(__file__).resolve().parent / "apps"
PYTHONPATH = [str(APPS), str(REL_APPS)]
SOAK_ENV = "SIGSUP_SOAK"


def soaking(config: pytest.Config | None = None) -> bool:
    """--soak on the command line, or SIGSUP_SOAK=1 in the environment."""
    if os.environ.get(SOAK_ENV, "") not in ("", "0"):
        return True
    if config is not None:
        try:
            return bool(config.getoption("--soak"))
        except ValueError:      # the option is not registered (this conftest loaded late)
            return False
    return False


def sup(**extra: Any) -> dict[str, Any]:
    """[supervisor] settings of this suite's trees: both app directories importable."""
    return {"pythonpath": PYTHONPATH, **extra}


def rss_kb(pid: int) -> int:
    """Resident set size of ``pid`` in KiB (VmRSS in /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.monotonic()
    out = fn()
    return out, time.monotonic() - t0
