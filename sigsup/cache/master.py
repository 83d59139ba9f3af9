"""The caches in the master (an ``Extension``, see master/port.py).

Built with the master (before ``preload`` is imported), it makes this process keep its
caches in private buffers until the master starts (cache/shared.py): so ``sigsup check``
never writes into a running tree's caches. ``start`` (after the control socket opened, so
no other master runs this tree; before anything forks) removes the files of an earlier
run and publishes one file per cache: what preload stored, and an empty one per declared
cache. Every child maps them from birth. ``status`` reads each cache's figures.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from sigsup.master.port import Extension, MasterPort

from .shared import SUFFIX, Handle, bounds_of, cache_dir, caches, open_file, publish


class CacheExtension(Extension):
    name = "caches"

    def __init__(self, master: MasterPort) -> None:
        super().__init__(master)
        cs = caches()
        with cs.guard:
            cs.handles.clear()      # one master per process: nothing of another tree's
        cs.staging = True
        cs.announce = lambda line: self.m.log.warning(line)
        self.dir = cache_dir(Path(master.config.supervisor.socket))
        self.errors: list[str] = []

    def start(self) -> None:
        cs = caches()
        declared = self.m.config.caches
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        for old in self.dir.iterdir():
            if old.name.endswith(SUFFIX) or old.name.endswith(".tmp"):
                with contextlib.suppress(FileNotFoundError):
                    old.unlink()
        with cs.guard:
            staged = {n: h for n, h in cs.handles.items() if h.path is None}
            cs.handles.clear()
            for name in [*staged, *(n for n in declared if n not in staged)]:
                path = self.dir / f"{name}{SUFFIX}"
                h = staged.get(name)
                if h is not None:
                    publish(path, h.table.bounds, h.table, cs.clock(), replace=True)
                else:
                    publish(path, bounds_of(declared[name]), None, replace=True)
                cs.handles[name] = open_file(name, path, name in declared)
            cs.staging = False
        if declared:
            self.m.log.info(f"caches: {', '.join(declared)} in {self.dir}")

    def status(self) -> Any:
        """Per cache: items, bytes, bounds, hits, misses, full refusals... and whether the
        config declares it (a name only the code uses gets the default bounds)."""
        cs = caches()
        out: dict[str, Any] = {}
        names = sorted({*cs.handles, *self._files()})
        for name in names:
            try:
                h: Handle = cs.get(name)
                with h.locked() as t:
                    st = t.stats()
            except (OSError, ValueError) as exc:
                out[name] = {"error": str(exc)}
                continue
            st["declared"] = name in self.m.config.caches
            out[name] = st
        return out

    def _files(self) -> list[str]:
        try:
            return [f.name[:-len(SUFFIX)] for f in os.scandir(self.dir)
                    if f.name.endswith(SUFFIX) and not f.name.startswith(".")]
        except FileNotFoundError:
            return []
