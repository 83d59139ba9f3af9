"""Build a (small) report when the cron's signal arrives."""

from __future__ import annotations

import os
import time
from pathlib import Path

import sigsup

OUT = Path(__file__).resolve().parent / "run"


def build(num: int) -> None:
    """Signal 40's handler, in one mule of the farm "reports"."""
    OUT.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    load1, load5, load15 = os.getloadavg()
    path = OUT / f"report-{stamp}.txt"
    path.write_text(f"report {stamp}\nload average: {load1:.2f} {load5:.2f} {load15:.2f}\n")
    print(f"mule {sigsup.mule_id()}: report written to {path.name}")
