"""Handlers for sigsup.toml.example: small, real, and loud about what they do."""

from __future__ import annotations

import os
import time

import sigsup


def on_change(num: int) -> None:
    print(f"signal {num}: worker {sigsup.worker_id()} (pid {os.getpid()}) reloads its settings")


def broadcast(num: int) -> None:
    print(f"signal {num}: every worker hears this; I am worker {sigsup.worker_id()}")


def report(num: int) -> None:
    print(f"signal {num}: mule {sigsup.mule_id()} of farm 'reports' builds a report")


def slow(num: int) -> None:
    print(f"signal {num}: working for 2 s in worker {sigsup.worker_id()}")
    time.sleep(2)


def on_mule(num: int) -> None:
    print(f"signal {num}: handled in mule {sigsup.mule_id()}")


def spooler_signal(num: int) -> None:
    print(f"signal {num}: handled by a spooler process")


def ticker() -> None:
    """A programmed mule: its own loop, handling signals while it waits."""
    print(f"mule {sigsup.mule_id()}: programmed loop started")
    while True:
        got = sigsup.signal_wait(timeout=30)
        print(f"mule {sigsup.mule_id()}: signal_wait returned {got}")


def on_message(msg: bytes | str) -> None:
    """[mules] message_handler: a plain mule gets each sigsup.mule_msg() here."""
    print(f"mule {sigsup.mule_id()}: message {msg!r}")


def job(job: sigsup.Job) -> int:
    """The spooler's handler: ``sigsup spool default to=ann -c sigsup.toml.example``.

    A job with ``fail=true`` raises: it is retried with backoff, then moved to failed/
    (``sigsup jobs -c sigsup.toml.example`` lists it; ``sigsup jobs retry ID`` requeues it).
    """
    print(f"job {job.id} attempt {job.attempt}: args {job.args}, {len(job.body)} bytes of body")
    if job.args.get("fail"):
        raise RuntimeError(f"job {job.id} was asked to fail")
    return sigsup.SPOOL_OK
