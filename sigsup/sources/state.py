"""The last run of each configured cron, kept across master restarts.

A file next to the control socket (``NAME.sock.crons.json``, in the master's 0700 socket
directory) maps a cron's identity (its position, signal, schedule and zone in the config)
to the instant of its last scheduled run. A master that starts again resumes each cron from
there, so runs it missed while it was down go through the misfire policy (the latest one
runs late if within ``misfire_grace``, the rest are counted as missed) instead of being
forgotten. A cron whose config changed gets a new identity and starts from now.

Written with a temp file and a rename, so a crash never leaves half a file. If the file
cannot be written, the master says so once and carries on without it.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path


class CronState:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.data: dict[str, float] = {}
        self.error: str | None = None
        if path is not None:
            try:
                raw = json.loads(path.read_text())
                if isinstance(raw, dict):
                    self.data = {str(k): float(v) for k, v in raw.items()
                                 if isinstance(v, (int, float)) and not isinstance(v, bool)}
            except (OSError, ValueError):
                pass

    @classmethod
    def for_socket(cls, socket: Path | str) -> CronState:
        return cls(Path(f"{socket}.crons.json"))

    def last(self, key: str) -> float | None:
        return self.data.get(key)

    def keep(self, keys: set[str]) -> None:
        """Forget crons that are no longer in the config."""
        self.data = {k: v for k, v in self.data.items() if k in keys}

    def ran(self, key: str, when: float) -> None:
        self.data[key] = when
        self.flush()

    def flush(self) -> None:
        if self.path is None or self.error is not None:
            return
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps(self.data))
            os.replace(tmp, self.path)
        except OSError as exc:
            self.error = f"cannot keep cron state in {self.path}: {exc}"
            with contextlib.suppress(OSError):
                tmp.unlink()
