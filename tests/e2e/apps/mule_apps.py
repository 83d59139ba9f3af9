"""Mule programs and handlers for tests/e2e/test_mules.py; records as in spool_jobs.py."""

from __future__ import annotations

import os
import time

from spool_jobs import rec

import sigsup


def on_msg(msg: bytes | str) -> None:
    """[mules] message_handler: plain mules record what they get."""
    rec(ev="msg", msg=msg if isinstance(msg, str) else msg.hex(), type=type(msg).__name__,
        mule=sigsup.mule_id())


def collector() -> None:
    """A programmed mule: mule_get_msg in a loop (signals handled while it waits)."""
    rec(ev="collector-start", mule=sigsup.mule_id(), in_farm=sigsup.in_farm(),
        in_g=sigsup.in_farm("g"), in_f=sigsup.in_farm("f"))
    while True:
        msg = sigsup.mule_get_msg(timeout=float(os.environ.get("E2E_GET_TIMEOUT", "30")))
        if msg is None:
            rec(ev="timeout", mule=sigsup.mule_id())
            continue
        rec(ev="got", msg=msg if isinstance(msg, str) else msg.hex(), type=type(msg).__name__,
            mule=sigsup.mule_id())
        if msg == "no-signals":
            # wait without handling signals: a signal raised meanwhile waits for later
            got = sigsup.mule_get_msg(timeout=1.0, signals=False)
            rec(ev="quiet-wait", got=got)


def sleeper() -> None:
    """A programmed mule that never asks for messages (they pile up in the master)."""
    rec(ev="sleeper-start", mule=sigsup.mule_id())
    while True:
        sigsup.signal_wait(timeout=30)


def returns_at_once() -> None:
    """A programmed mule whose program returns: the master respawns it with backoff."""
    rec(ev="program-ran", mule=sigsup.mule_id(), mono=time.monotonic())


def on_signal(num: int) -> None:
    rec(ev="signal", num=num, mule=sigsup.mule_id(), wid=sigsup.worker_id())


def send_from_worker(num: int) -> None:
    """A worker's signal handler: messages from inside the tree."""
    sigsup.mule_msg("from-worker", 4)
    sigsup.mule_msg(b"\x00\x01", 4)
    sigsup.farm_msg("f", "to-farm-from-worker")
    rec(ev="sent", wid=sigsup.worker_id())
