"""Fixtures of the end-to-end suite alone; ``master_factory``, ``apps_dir`` and ``poll`` are
shared with the reliability suite (tests/conftest.py), the harness behind them is
tests/harness.py."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Callable, Iterable

import pytest
from harness import kill_pid_and_group, pids_with_tag, run_cli


@pytest.fixture
def sigsup_cli() -> Iterable[Callable[..., subprocess.CompletedProcess[str]]]:
    """``sigsup_cli(*args, env=None)``: run ``python -m sigsup ARGS`` with a clean env.

    Whatever it starts carries an environment tag: if a ``start`` that should have failed
    forked anyway, teardown finds and kills what it left, and fails the test."""
    tag = uuid.uuid4().hex

    def run(*args: str, timeout: float = 60.0, env: dict[str, str] | None = None,
            ) -> subprocess.CompletedProcess[str]:
        return run_cli([sys.executable, "-m", "sigsup", *args], timeout=timeout,
                       env={**(env or {}), "E2E_TAG": tag})
    yield run
    left = pids_with_tag(tag)
    for pid in left:
        kill_pid_and_group(pid, None)
    assert not left, f"client commands left processes behind: {left}"
