"""Every decorator of sigsup.decorators, imported by the master (``preload``) in
tests/e2e/test_decorators.py. Records as in spool_jobs.py."""

from __future__ import annotations

import os
from pathlib import Path

from spool_jobs import rec

import sigsup
from sigsup import decorators as d

HERE = Path(os.environ["E2E_OUT"]).parent
WATCHED = HERE / "watched.txt"
WATCHED.touch()
COUNTER = HERE / "counter.txt"


@d.postfork
def forked() -> None:
    rec(ev="postfork", kind=sigsup.client_runtime.current().identity.kind)


@d.signal(70, target="workers")
def on70(num: int) -> None:
    rec(ev="sig70", num=num, wid=sigsup.worker_id())


@d.timer(0.2, target="worker", iterations=2)
def tick(num: int) -> None:
    rec(ev="timer", num=num)


@d.rbtimer(0.15, target="mule1", iterations=1)
def rb(num: int) -> None:
    rec(ev="rbtimer", num=num, mule=sigsup.mule_id())


@d.cron("* * * * * *", target="worker", iterations=1)
def every_second(num: int) -> None:
    rec(ev="cron", num=num)


@d.filemon(WATCHED, target="worker", iterations=1)
def watched(num: int) -> None:
    rec(ev="filemon", num=num)


@d.spool
def send_mail(to: str, body: bytes | None = None) -> None:
    rec(ev="spooled-task", to=to, body=body.hex() if body else None,
        name2=sigsup.client_runtime.current().identity.name)


@d.spool(spooler="other")
def flaky(n: int) -> int:
    if not (HERE / f"flaky-{n}").exists():      # the first attempt asks to be retried
        (HERE / f"flaky-{n}").touch()
        return sigsup.SPOOL_RETRY
    rec(ev="flaky-done", n=n)
    return 0


@d.mulefunc(1)
def in_mule(x: int, y: int = 0) -> None:
    rec(ev="mulefunc", x=x, y=y, mule=sigsup.mule_id())


@d.mulefunc
def in_any_mule(x: str) -> None:
    rec(ev="mulefunc-any", x=x, mule=sigsup.mule_id())


@d.lock
def bump() -> None:
    # read, then write: without the tree-wide lock, two workers lose updates
    n = int(COUNTER.read_text() or 0) if COUNTER.exists() else 0
    COUNTER.write_text(str(n + 1))


@d.signal(71, target="workers")
def bump_many(num: int) -> None:
    for _ in range(150):
        bump()
    rec(ev="bumped", wid=sigsup.worker_id())


@d.signal(72, target="worker1")
def send_calls(num: int) -> None:
    send_mail.spool(to="ann", body=b"\x00\x01")
    flaky.spool(n=1)
    in_mule(5, y=6)
    in_any_mule("z")
    try:
        sigsup.register_signal(tick.signum, "worker", "spool_dec_app:on70")
        collision = None
    except sigsup.SigsupError as exc:
        collision = str(exc)
    rec(ev="calls-sent", collision=collision,
        nums=[tick.signum, rb.signum, every_second.signum, watched.signum])
