"""The states a child process slot goes through (a leaf module: no imports of sigsup)."""

from __future__ import annotations

from enum import Enum


class ProcState(str, Enum):
    STARTING = "starting"    # forked, not yet READY
    RUNNING = "running"      # READY: takes signals (idle, busy or waiting is derived)
    STOPPING = "stopping"    # asked to stop (shutdown, cheaper, harakiri kill)
    BACKOFF = "backoff"      # exited; respawns at respawn_at
    FAILED = "failed"        # too many deaths in the window; retried after the cool-down
    CHEAPED = "cheaped"      # stopped on purpose by the cheaper; starts again on backlog
    STOPPED = "stopped"      # the master is shutting down and this one is gone

    def __str__(self) -> str:
        return self.value


ALIVE = frozenset({ProcState.STARTING, ProcState.RUNNING, ProcState.STOPPING})
ACTIVE = frozenset({ProcState.STARTING, ProcState.RUNNING})
