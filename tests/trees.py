"""Config bodies the end-to-end and reliability tests write again and again.

A body is the TOML after ``[supervisor]`` (the harness writes that table: tests/harness.py).
Only what repeats lives here; a tree one test needs stays inline in that test, where its
reader sees it.

- ``signals({num: target}, handler)``: one ``[signals.N]`` table per number, every one with
  the same handler (a target of None: no ``target`` key);
- ``workers(count, {num: target}, handler)``: ``count`` workers and those signals, the
  smallest tree most tests need;
- ``BUSY_WORKER1``: signal 40 keeps worker1 busy until the test creates ``release`` in the
  master's directory (``e2eapp:wait_release``); signal 41 records in worker1, so its raises
  queue behind the busy one (the refusal and coalescing tests).

Handlers are in tests/e2e/apps/e2eapp.py (``RECORD`` writes one record per call).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

RECORD = "e2eapp:record"


def signals(targets: Mapping[int, str | None], handler: str = RECORD) -> str:
    """``[signals.N]`` with ``handler`` and ``target = targets[N]`` for each N, in order."""
    out = []
    for num, target in targets.items():
        out.append(f"\n[signals.{num}]\nhandler = {json.dumps(handler)}\n")
        if target is not None:
            out.append(f"target = {json.dumps(target)}\n")
    return "".join(out)


def workers(count: int, targets: Mapping[int, str | None] | None = None,
            handler: str = RECORD) -> str:
    """``[workers] count = COUNT`` and ``signals(targets, handler)``."""
    return f"\n[workers]\ncount = {count}\n" + signals(targets or {}, handler)


BUSY_WORKER1 = signals({40: "worker1"}, "e2eapp:wait_release") + signals({41: "worker1"})

# [supervisor] timings the fake-OS loop tests share: quick respawns, a small failure window
POLICY = """
respawn_delay = 0.5
respawn_delay_max = 4.0
failure_limit = 3
failure_window = 10.0
failure_cooldown = 60.0
shutdown_timeout = 5.0
"""
