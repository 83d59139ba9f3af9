"""A Linux timerfd on CLOCK_MONOTONIC, for waking the master at a deadline precisely.

``selectors`` (epoll) rounds its timeout up to a whole millisecond, so a loop that sleeps
"until the next deadline" wakes 0-1 ms late (p50 about 0.5 ms). A timerfd armed at the
absolute deadline (nanoseconds) becomes readable within the kernel's timer slack (about
50 µs) and wakes the same ``select``. It is one file descriptor in the master's selector;
nothing here runs a thread.

Python gained ``os.timerfd_create`` only in 3.13, so this calls libc through ctypes.
``TimerFd()`` raises OSError where there is no timerfd; the scheduler then relies on the
loop's timeout alone.
"""

from __future__ import annotations

import ctypes
import os
import sys
import time

CLOCK_MONOTONIC = 1
TFD_NONBLOCK = os.O_NONBLOCK
TFD_CLOEXEC = getattr(os, "O_CLOEXEC", 0o2000000)
TFD_TIMER_ABSTIME = 1
# a deadline further away than this (a timer of 1e308 s) is armed this far off: the loop
# arms it again when that fires; nanoseconds of 1e308 s fit no timespec
ARM_MAX = 86400.0


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


class TimerFd:
    def __init__(self) -> None:
        if not sys.platform.startswith("linux"):
            raise OSError("timerfd is Linux only")
        libc = ctypes.CDLL(None, use_errno=True)
        self._settime = libc.timerfd_settime
        self._settime.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.POINTER(_Itimerspec),
                                  ctypes.c_void_p]
        fd = libc.timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"timerfd_create: {os.strerror(err)}")
        self.fd = fd
        self.armed: float | None = None
        self._spec = _Itimerspec()

    def fileno(self) -> int:
        return self.fd

    def arm(self, when: float | None) -> None:
        """Fire once at monotonic time ``when`` (seconds); None disarms."""
        if when == self.armed:
            return
        spec = self._spec
        if when is None:
            spec.it_value.tv_sec = spec.it_value.tv_nsec = 0
        else:
            ns = max(1, int(min(when, time.monotonic() + ARM_MAX) * 1_000_000_000))
            spec.it_value.tv_sec, spec.it_value.tv_nsec = divmod(ns, 1_000_000_000)
        if self._settime(self.fd, TFD_TIMER_ABSTIME, ctypes.byref(spec), None) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"timerfd_settime: {os.strerror(err)}")
        self.armed = when

    def clear(self) -> None:
        """Read the expiration count so the descriptor is no longer readable."""
        try:
            os.read(self.fd, 8)
        except (BlockingIOError, InterruptedError):
            pass
        self.armed = None

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
