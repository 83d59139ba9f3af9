"""A chat room on signal_wait: each member waits; a post wakes them all."""

from __future__ import annotations

import os
from pathlib import Path

import sigsup

LOG = Path(__file__).resolve().parent / "run" / "room.log"
MESSAGE = 30
_offset = 0     # how much of the log this member has read


def member() -> None:
    """A programmed mule: join the room and wait for messages, forever."""
    global _offset
    LOG.parent.mkdir(exist_ok=True)
    LOG.touch()
    _offset = LOG.stat().st_size    # only what is posted from now on
    print(f"member {sigsup.mule_id()}: joined the room (pid {os.getpid()})")
    while True:
        sigsup.signal_wait(MESSAGE)     # blocks; deliver() runs when a post arrives


def deliver(num: int) -> None:
    """Signal 30's handler: print the lines posted since this member last read."""
    global _offset
    with LOG.open("rb") as f:
        f.seek(_offset)
        new = f.read()
    complete = new[: new.rfind(b"\n") + 1]
    _offset += len(complete)
    for line in complete.decode().splitlines():
        print(f"member {sigsup.mule_id()} got: {line}")


def post(text: str) -> None:
    """Append one message (a single O_APPEND write) and wake every member."""
    LOG.parent.mkdir(exist_ok=True)
    fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (text.replace("\n", " ") + "\n").encode())
    finally:
        os.close(fd)
    sigsup.signal(MESSAGE)
