"""``python -m benchmarks.apps.profiled_master start CFG``: ``sigsup start``, instrumented.

dispatch.py uses it for two options; both write their file when the master stops gracefully:

``--cprofile DIR``  (env ``SIGSUP_BENCH_CPROFILE``) the master under cProfile; forked children
                    switch it off at once. The call counts of recv/send/poll say how well the
                    loop batches.
``--probe DIR``     (env ``SIGSUP_BENCH_PROBE``) light counters instead of a profiler: loop
                    turns (wall and CPU time), time in select, events, channel reads, frames per read,
                    socket writes and bytes per write, as JSON.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any


def _off_in_child() -> None:
    sys.setprofile(None)


def _install_probe(counters: dict[str, Any]) -> None:
    """Wrap a few Master methods with counters (only in this process: no source change)."""
    from sigsup.master import loop
    from sigsup.protocol import frames

    clock = time.perf_counter_ns
    cpu = time.thread_time_ns
    orig_step = loop.Master.step
    orig_read = loop.Master._read_channel
    orig_write = loop.Master._write
    orig_feed = frames.FrameReader.feed

    def step(self: Any, timeout: float | None = None) -> None:
        sel = self.selector
        if not getattr(sel, "_probed", False):
            real_select = sel.select

            def select(t: float | None = None) -> Any:
                t0 = clock()
                ev = real_select(t)
                counters["select_ns"] += clock() - t0
                counters["selects"] += 1
                counters["events"] += len(ev)
                return ev

            sel.select = select
            sel._probed = True
        t0 = clock()
        c0 = cpu()
        orig_step(self, timeout)
        counters["step_cpu_ns"] += cpu() - c0
        counters["steps"] += 1
        counters["step_ns"] += clock() - t0

    def read_channel(self: Any, p: Any, drain: bool = False) -> None:
        counters["channel_reads"] += 1
        orig_read(self, p, drain)

    def write(self: Any, p: Any) -> None:
        if p.sock is not None and p.out:
            counters["writes"] += 1
            counters["write_bytes"] += len(p.out)
        orig_write(self, p)

    def feed(self: Any, data: bytes) -> list[Any]:
        out = orig_feed(self, data)
        counters["feeds"] += 1
        counters["frames_in"] += len(out)
        return out

    loop.Master.step = step
    loop.Master._read_channel = read_channel
    loop.Master._write = write
    frames.FrameReader.feed = feed

    def restore() -> None:   # children run the real thing
        frames.FrameReader.feed = orig_feed

    os.register_at_fork(after_in_child=restore)


def main() -> None:
    prof_out = os.environ.get("SIGSUP_BENCH_CPROFILE")
    probe_out = os.environ.get("SIGSUP_BENCH_PROBE")
    master_pid = os.getpid()
    counters: dict[str, Any] = dict.fromkeys(
        ("steps", "step_ns", "step_cpu_ns", "selects", "select_ns", "events", "channel_reads", "feeds",
         "frames_in", "writes", "write_bytes"), 0)
    prof = None
    if probe_out:
        _install_probe(counters)
    if prof_out:
        import cProfile
        os.register_at_fork(after_in_child=_off_in_child)
        prof = cProfile.Profile()
    from sigsup.cli import main as cli_main
    if prof is not None:
        prof.enable()
    try:
        cli_main(args=sys.argv[1:], prog_name="sigsup")
    finally:
        if os.getpid() == master_pid:
            if prof is not None:
                prof.disable()
                prof.dump_stats(prof_out)
            if probe_out:
                with open(probe_out, "w") as f:
                    json.dump(counters, f, indent=2)


if __name__ == "__main__":
    main()
