"""Fixtures shared by the end-to-end and reliability suites (pytest's root conftest: every
test under tests/ sees them). What they are built from is in tests/harness.py.

``master_factory(body, sup=..., env=..., start=True, timeout=20.0)`` makes a ``Master`` in
its own directory under ``tmp_path`` and (by default) starts it and waits until it runs.
Teardown kills every master it made, their process groups and every child they ever had,
and fails the test if a process survives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from harness import APPS, Master, wait_for


@pytest.fixture
def master_factory(tmp_path: Path) -> Iterable[Callable[..., Master]]:
    masters: list[Master] = []

    def make(body: str, *, sup: dict[str, Any] | None = None, env: dict[str, str] | None = None,
             start: bool = True, timeout: float = 20.0) -> Master:
        d = tmp_path / f"m{len(masters)}"
        d.mkdir(mode=0o700)
        m = Master(d, body, sup, env)
        masters.append(m)
        if start:
            m.start(timeout=timeout)
        return m

    yield make
    problems = []
    for m in masters:
        survivors = m.kill()
        if survivors:
            problems.append(f"{m.dir}: processes left behind: {survivors}")
    assert not problems, "\n".join(problems)


@pytest.fixture
def apps_dir() -> Path:
    """The directory of the handler modules the test configs import."""
    return APPS


@pytest.fixture
def poll() -> Callable[..., Any]:
    """``poll(cond, timeout, what)``: wait_for, for tests without a master."""
    return wait_for
