"""Helpers for tests/e2e/test_sources.py: mule programs the masters run, and test-side
helpers (the API from the test process, starting an example's own config).

The masters import this module from the children (their ``pythonpath`` gets this
directory, next to ``apps/``); records go through ``e2eapp.write`` like every e2e handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sigsup
from sigsup import context

HERE = Path(__file__).parent
EXAMPLES = HERE.parent.parent / "examples"


# -- in the children ---------------------------------------------------------------------


def _write(sig: int | None, tag: str, **extra: Any) -> None:
    import e2eapp  # the e2e apps directory is on the children's pythonpath
    e2eapp.write(sig, tag, **extra)


def record_time(num: int) -> None:
    """A handler that records the wall and monotonic time it ran at."""
    _write(num, "run", wall=time.time(), mono=time.monotonic())


def waiter() -> None:
    """A programmed mule: ``signal_wait($E2E_WAIT_SIGNUM or any, $E2E_WAIT_TIMEOUT)`` in a
    loop, recording what each call returned and how long it took."""
    signum = int(os.environ["E2E_WAIT_SIGNUM"]) if os.environ.get("E2E_WAIT_SIGNUM") else None
    timeout = float(os.environ["E2E_WAIT_TIMEOUT"]) if os.environ.get("E2E_WAIT_TIMEOUT") else None
    while True:
        t0 = time.monotonic()
        got = sigsup.signal_wait(signum, timeout)
        _write(got, "waited", want=signum, elapsed=time.monotonic() - t0,
               received=sigsup.signal_received())


def aio_waiter() -> None:
    """A programmed mule in asyncio: a ticker task runs while ``await sigsup.aio.
    signal_wait`` waits; each result is recorded with how many ticks ran meanwhile."""
    signum = int(os.environ["E2E_WAIT_SIGNUM"]) if os.environ.get("E2E_WAIT_SIGNUM") else None
    timeout = float(os.environ["E2E_WAIT_TIMEOUT"]) if os.environ.get("E2E_WAIT_TIMEOUT") else None

    async def main() -> None:
        ticks = 0
        announced = True

        async def ticker() -> None:
            nonlocal ticks, announced
            while True:
                await asyncio.sleep(0.01)
                ticks += 1
                if not announced:   # the first tick inside a wait: the loop is not blocked
                    announced = True
                    _write(None, "ticking")

        task = asyncio.create_task(ticker())
        try:
            while True:
                before = ticks
                t0 = time.monotonic()
                announced = False
                got = await sigsup.aio.signal_wait(signum, timeout)
                _write(got, "aio", ticks=ticks - before, elapsed=time.monotonic() - t0)
        finally:
            task.cancel()

    asyncio.run(main())


# -- in the test process -----------------------------------------------------------------


@contextlib.contextmanager
def api(master: Any) -> Iterator[None]:
    """``sigsup.add_timer(...)`` and friends from the test process, against ``master``
    (as any outside script would with SIGSUP_SOCKET); the runtime is uninstalled after."""
    from sigsup.client_runtime import ClientRuntime
    before = context.current_or_none()
    context.install(ClientRuntime(str(master.sock)))
    try:
        yield
    finally:
        context.install(before)


def events(master: Any, st: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    st = st or master.status()
    return list(st.get("events", []))


def event(master: Any, sid: int) -> dict[str, Any] | None:
    return next((e for e in events(master) if e["id"] == sid), None)


def wait_event(master: Any, sid: int, what: str, cond: Any, timeout: float = 10.0) -> dict:
    def check() -> dict | None:
        e = event(master, sid)
        return e if e is not None and cond(e) else None
    return master.wait_for(check, timeout, f"event {sid}: {what}")


def wait_gone(master: Any, sid: int, timeout: float = 10.0) -> None:
    master.wait_for(lambda: event(master, sid) is None, timeout, f"event {sid} to be removed")


def start_example(master_factory: Any, name: str, tmp: Path, timeout: float = 20.0) -> Any:
    """Copy ``examples/NAME`` to ``tmp`` and start ``sigsup start NAME/sigsup.toml`` there,
    as a user would (its socket in $XDG_RUNTIME_DIR/sigsup/), under the e2e harness (its
    teardown kills everything)."""
    src = EXAMPLES / name
    dst = tmp / name
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "run"))
    m = master_factory("", start=False, env={"XDG_RUNTIME_DIR": str(tmp)})
    m.cfg = dst / "sigsup.toml"
    m.sock = tmp / "sigsup" / f"{name}.sock"
    m.dir = dst
    return m.start(timeout=timeout)


def replace_atomically(path: Path, text: str) -> None:
    """Write a temp file next to ``path`` and rename it over ``path`` (what editors and
    config managers do)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


if os.environ.get("E2E_PRELOAD_TIMER"):
    # imported as a preload module: `sigsup start` imports it to check the config before the
    # master exists (the call is kept), and the master adds the timer when it starts
    PRELOAD_TIMER = sigsup.add_timer(int(os.environ["E2E_PRELOAD_TIMER"]), 0.05, iterations=2)
