"""The states of the master and of each child process slot, and the moves between them.

A leaf module (no imports of sigsup). Every change of a slot's state goes through
``Proc.state``'s setter, which checks it against ``TRANSITIONS``: an illegal move is a bug in
the master and raises ``IllegalTransition`` (tests catch it), as supervisor's states.py does.
"""

from __future__ import annotations

from enum import Enum


class MasterState(str, Enum):
    STARTING = "starting"    # built, preload imported, not yet spawning
    RUNNING = "running"      # routes raises, respawns, runs event sources
    STOPPING = "stopping"    # refuses raises, waits for children (shutdown_timeout)
    STOPPED = "stopped"      # every child gone: the loop ends

    def __str__(self) -> str:
        return self.value


class ProcState(str, Enum):
    STARTING = "starting"    # forked, not yet READY
    RUNNING = "running"      # READY: takes signals (idle, busy or waiting is derived)
    STOPPING = "stopping"    # asked to stop (shutdown, cheaper, harakiri kill)
    BACKOFF = "backoff"      # exited; respawns at respawn_at
    FAILED = "failed"        # too many deaths in the window; retried after the cool-down
    CHEAPED = "cheaped"      # stopped on purpose by the cheaper; starts again on backlog
    STOPPED = "stopped"      # not started yet, or the master is shutting down and it is gone

    def __str__(self) -> str:
        return self.value


# the master routes raises while it starts (preload modules may raise) and runs
ACCEPTS_RAISES = frozenset({MasterState.STARTING, MasterState.RUNNING})

ALIVE = frozenset({ProcState.STARTING, ProcState.RUNNING, ProcState.STOPPING})
ACTIVE = frozenset({ProcState.STARTING, ProcState.RUNNING})

_S = ProcState
_GONE = frozenset({_S.STOPPED, _S.CHEAPED, _S.BACKOFF, _S.FAILED})   # where an exit leads
# a spawn that cannot fork counts as a death: every resting state can go to BACKOFF/FAILED
_RESTING = frozenset({_S.STARTING, _S.CHEAPED, _S.STOPPED, _S.BACKOFF, _S.FAILED})

TRANSITIONS: dict[ProcState, frozenset[ProcState]] = {
    _S.STOPPED: _RESTING,
    _S.CHEAPED: _RESTING,
    _S.BACKOFF: _RESTING,
    _S.FAILED: _RESTING,
    _S.STARTING: frozenset({_S.RUNNING, _S.STOPPING}) | _GONE,
    _S.RUNNING: frozenset({_S.STOPPING}) | _GONE,
    _S.STOPPING: _GONE,
}

MASTER_TRANSITIONS: dict[MasterState, frozenset[MasterState]] = {
    MasterState.STARTING: frozenset({MasterState.RUNNING, MasterState.STOPPED}),
    MasterState.RUNNING: frozenset({MasterState.STOPPING}),
    MasterState.STOPPING: frozenset({MasterState.STOPPED}),
    MasterState.STOPPED: frozenset(),
}


class IllegalTransition(RuntimeError):
    """A state change the state machine does not allow: a bug in the master."""


def check_move(what: str, old: Enum, new: Enum, table: dict) -> None:
    if new is not old and new not in table[old]:
        raise IllegalTransition(f"{what}: {old.value} -> {new.value} is not a legal move")
