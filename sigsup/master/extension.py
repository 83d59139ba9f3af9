"""The seam through which features plug into the master without editing its loop.

An extension (event sources, spoolers, mule messages...) is an object with these methods;
the master calls them from its one thread. Every method is optional except ``name``.

    name: str                                   key of its part of the status document
    start(master)                               after the control socket opened, before spawning
    deadline(now) -> float | None               monotonic time of its next due work
    tick(now)                                   run what is due (called every loop turn)
    status() -> dict | list                     merged into the status document under ``name``
    commands() -> dict[str, fn(msg, origin)]    extra control/child commands ("cmd" -> reply dict)
    child_message(proc, msg) -> bool            a JSON frame from a child whose "t" the master
                                                does not know; True if it was handled
    proc_exit(proc, how)                        a child of the tree exited
    close()                                     the master is shutting down

An extension that needs a descriptor of its own woken by the loop (the scheduler's timerfd)
registers it in ``master.selector`` with data ``(loop.EXTENSION, callback)``; the loop calls
``callback()`` when it is readable, then ``tick`` as every turn.
"""

from __future__ import annotations

from typing import Any, Protocol


class Extension(Protocol):
    name: str

    def tick(self, now: float) -> None: ...


def call_all(extensions: list[Any], method: str, *args: Any) -> list[Any]:
    out = []
    for ext in extensions:
        fn = getattr(ext, method, None)
        if fn is not None:
            out.append(fn(*args))
    return out
