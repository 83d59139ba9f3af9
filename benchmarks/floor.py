"""The Python floor: what two or three plain Python processes do over socketpairs.

Every sigsup figure is printed beside one of these, measured in the same run on the same
machine, so the ratio says how much sigsup adds on top of the kernel and the interpreter.

    pingpong(samples)    a 1-byte round trip between two processes (blocking socketpair):
                         RTT p50/p90/p99/min/max in µs
    relay_latency(n)     the same 3 processes, one timestamp about every 1 ms: raise -> handler
                         p50/p90/p99/max in µs (the floor for sigsup's raise -> handler latency)
    relay(n)             raiser -> middle -> handler, 3 processes, 1 byte per message; the middle
                         runs a selectors loop and relays in batches (recv 4096, one sendall);
                         the handler reads in batches and "handles" each byte in Python.
                         Messages/s from the raiser's first write to the handler's last byte.
                         Blocking sockets: nothing is lost (delivered is checked).

    python -m benchmarks.floor [--reps N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import socket
import struct
import sys
import time
from collections.abc import Callable
from typing import Any

from benchmarks import common

MONO = common.MONO
now_ns = common.now_ns
percentile = common.percentile
summarize_us = common.summarize_us
spread = common.spread


def _fork(fn: Callable[[], None]) -> int:
    """Run ``fn`` in a forked child that exits when it returns (or fails)."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            fn()
        except BaseException:
            import traceback
            traceback.print_exc()
            code = 1
        finally:
            os._exit(code)
    return pid


def _reap(pids: list[int], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    left = list(pids)
    while left:
        for pid in list(left):
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                left.remove(pid)
        if left and time.monotonic() > deadline:
            for pid in left:
                try:
                    os.kill(pid, 9)
                    os.waitpid(pid, 0)
                except (ProcessLookupError, ChildProcessError):
                    pass
            break
        if left:
            time.sleep(0.005)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("peer closed")
        buf += chunk
    return buf


# -- ping-pong --------------------------------------------------------------------------------


def pingpong(samples: int = 2000, warmup: int = 200) -> dict[str, float]:
    """RTT of a 1-byte message to a child process and back, blocking socketpair."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)

    def echo() -> None:
        a.close()
        recv, send = b.recv, b.send
        while True:
            data = recv(1)
            if not data or data == b"q":
                return
            send(data)

    pid = _fork(echo)
    b.close()
    try:
        send, recv, clock = a.send, a.recv, time.perf_counter_ns
        rtts: list[int] = []
        for i in range(warmup + samples):
            t0 = clock()
            send(b"x")
            recv(1)
            t1 = clock()
            if i >= warmup:
                rtts.append(t1 - t0)
        a.send(b"q")
    finally:
        a.close()
        _reap([pid])
    return summarize_us(rtts)


# -- relay ------------------------------------------------------------------------------------

_RESULT = struct.Struct("<qqq")   # first byte seen, last byte seen, bytes received


def relay(n: int = 20000, batch: int = 4096) -> dict[str, Any]:
    """Raiser -> middle -> handler over two socketpairs, 1 byte per message; messages/s.

    The raiser writes ``n`` single bytes (blocking). The middle waits in a selectors loop and
    forwards what one ``recv(batch)`` returns with one ``sendall``. The handler reads in
    batches and runs a Python function per byte. The clock runs from the raiser's first
    write to the handler's last byte (CLOCK_MONOTONIC, comparable across processes).
    """
    r_out, m_in = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    m_out, h_in = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    res_r, res_w = os.pipe()
    start_r, start_w = os.pipe()
    t0_r, t0_w = os.pipe()

    def handler() -> None:
        for s in (r_out, m_in, m_out):
            s.close()
        got = 0
        seen = 0

        def handle(byte: int) -> None:
            nonlocal seen
            seen += 1

        recv = h_in.recv
        while got < n:
            data = recv(batch)
            if not data:
                break
            for byte in data:
                handle(byte)
            got += len(data)
        t_last = now_ns()
        os.write(res_w, _RESULT.pack(0, t_last, seen))

    def middle() -> None:
        for s in (r_out, h_in):
            s.close()
        sel = selectors.DefaultSelector()
        sel.register(m_in, selectors.EVENT_READ)
        recv, sendall = m_in.recv, m_out.sendall
        forwarded = 0
        while forwarded < n:
            for _key, _mask in sel.select():
                data = recv(batch)
                if not data:
                    return
                sendall(data)
                forwarded += len(data)

    def raiser() -> None:
        for s in (m_in, m_out, h_in):
            s.close()
        os.read(start_r, 1)
        send = r_out.send
        one = b"s"
        t0 = now_ns()
        for _ in range(n):
            send(one)
        os.write(t0_w, struct.pack("<q", t0))

    pids = [_fork(handler), _fork(middle), _fork(raiser)]
    for s in (r_out, m_in, m_out, h_in):
        s.close()
    try:
        time.sleep(0.05)   # every process is in its loop
        os.write(start_w, b"g")
        (t0,) = struct.unpack("<q", os.read(t0_r, 8))
        _first, t_last, seen = _RESULT.unpack(os.read(res_r, _RESULT.size))
    finally:
        _reap(pids)
        for fd in (res_r, res_w, start_r, start_w, t0_r, t0_w):
            os.close(fd)
    elapsed = (t_last - t0) / 1e9
    return {"messages": n, "delivered": seen, "seconds": elapsed,
            "per_s": seen / elapsed if elapsed > 0 else float("nan"), "batch": batch}


def relay_latency(samples: int = 1000, interval_ns: int = 1_000_000) -> dict[str, float]:
    """Raiser -> middle (selectors) -> handler, one 8-byte timestamp about every ``interval_ns``:
    the handler's CLOCK_MONOTONIC at receipt minus the raiser's just before its write (µs)."""
    r_out, m_in = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    m_out, h_in = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    res_r, res_w = os.pipe()
    start_r, start_w = os.pipe()
    stamp = struct.Struct("<q")

    def handler() -> None:
        for s in (r_out, m_in, m_out):
            s.close()
        lat = []
        while len(lat) < samples:
            data = _recv_exact(h_in, 8)
            t = now_ns()
            lat.append(t - stamp.unpack(data)[0])
        payload = struct.pack(f"<{samples}q", *lat)
        os.write(res_w, payload)

    def middle() -> None:
        for s in (r_out, h_in):
            s.close()
        sel = selectors.DefaultSelector()
        sel.register(m_in, selectors.EVENT_READ)
        got = 0
        while got < samples * 8:
            for _key, _mask in sel.select():
                data = m_in.recv(4096)
                if not data:
                    return
                m_out.sendall(data)
                got += len(data)

    def raiser() -> None:
        for s in (m_in, m_out, h_in):
            s.close()
        os.read(start_r, 1)
        start = now_ns() + 2_000_000
        for i in range(samples):
            wait = start + i * interval_ns - now_ns()
            if wait > 0:
                time.sleep(wait / 1e9)
            r_out.sendall(stamp.pack(now_ns()))

    pids = [_fork(handler), _fork(middle), _fork(raiser)]
    for s in (r_out, m_in, m_out, h_in):
        s.close()
    try:
        time.sleep(0.05)
        os.write(start_w, b"g")
        size = samples * 8
        buf = b""
        while len(buf) < size:
            chunk = os.read(res_r, size - len(buf))
            if not chunk:
                break
            buf += chunk
    finally:
        _reap(pids)
        for fd in (res_r, res_w, start_r, start_w):
            os.close(fd)
    return summarize_us(list(struct.unpack(f"<{len(buf) // 8}q", buf)))


# -- standalone -------------------------------------------------------------------------------


def figures(samples: int = 2000, messages: int = 20000, lat_samples: int = 1000) -> dict[str, float]:
    """One repetition of every floor figure, flat (what dispatch.py reports beside sigsup)."""
    pp = pingpong(samples)
    rl = relay(messages)
    if rl["delivered"] != messages:
        raise RuntimeError(f"relay lost messages: {rl['delivered']} of {messages}")
    rlat = relay_latency(lat_samples)
    return {"rtt_p50_us": pp["p50"], "rtt_p90_us": pp["p90"], "rtt_p99_us": pp["p99"],
            "rtt_min_us": pp["min"], "relay_per_s": rl["per_s"],
            "relay_lat_p50_us": rlat["p50"], "relay_lat_p90_us": rlat["p90"],
            "relay_lat_p99_us": rlat["p99"], "relay_lat_max_us": rlat["max"]}


def measure(reps: int = 3, samples: int = 2000, messages: int = 20000) -> dict[str, Any]:
    """The floor figures over ``reps`` repetitions: per-rep values and min/median/max."""
    runs = []
    for _ in range(reps):
        runs.append(figures(samples, messages, samples // 2))
    return {"reps": runs, "summary": {k: spread([r[k] for r in runs]) for k in runs[0]}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    out = measure(args.reps)
    if args.json:
        json.dump(out, sys.stdout, indent=2)
        print()
        return 0
    for k, v in out["summary"].items():
        print(f"{k:14} {v['min']:12,.1f} {v['median']:12,.1f} {v['max']:12,.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
