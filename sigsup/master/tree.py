"""The shape of the process tree and the respawn policy, as pure functions."""

from __future__ import annotations

from collections import deque

from sigsup.config import Config
from sigsup.routing.proc import Proc
from sigsup.routing.targets import MULES, SPOOLERS, WORKERS, farm_group, spooler_group


def build_procs(config: Config) -> list[Proc]:
    """Every process slot the config declares, in spawn order: spoolers, workers, mules."""
    procs: list[Proc] = []
    for name, sp in config.spoolers.items():
        for k in range(1, sp.processes + 1):
            procs.append(Proc(f"spooler:{name}#{k}", "spooler", k, (SPOOLERS, spooler_group(name)),
                              spooler=name))
    for i in range(1, config.workers.count + 1):
        procs.append(Proc(f"worker{i}", "worker", i, (WORKERS,)))
    for i in range(1, config.mules.count + 1):
        farms = tuple(farm_group(f) for f, ids in config.farms.items() if i in ids)
        procs.append(Proc(f"mule{i}", "mule", i, (MULES, *farms),
                          program=config.mules.programs.get(i)))
    return procs


def respawn_delay(recent_deaths: int, base: float, cap: float) -> float:
    """Exponential backoff: base, 2*base, 4*base... capped."""
    if recent_deaths <= 1:
        return base
    return min(cap, base * (2 ** min(recent_deaths - 1, 30)))


def record_death(deaths: deque[float], now: float, window: float) -> int:
    """Remember a death at ``now`` and forget those older than ``window``; returns the count."""
    deaths.append(now)
    while deaths and now - deaths[0] > window:
        deaths.popleft()
    return len(deaths)
