"""The scheduler's side of a reload (``Scheduler.reload``): the config's event sources
follow the new file, and nothing that did not change loses its state.

Sources are paired by identity (sigsup/config/diff.py ``match``: a timer by kind, signal and
period, a cron by signal, schedule and zone, a monitor by signal and path):

    paired      kept: a timer keeps its phase (the same anchor: its next deadline does not
                move), a cron its next instant and last-fired record; fields that changed
                (iterations, misfire_grace) are taken; a monitor with other settings is
                watched again with them
    removed     removed, said in the log
    added       added, counting from now (a cron from its recorded last run, if any)

Sources the preload modules add at import (origin ``runtime (master)``) are added again
when the reload imports them afresh: each new one that matches one of before (kind, signal,
spec) is dropped and the old one kept with its phase; an old one the code no longer adds is
removed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sigsup.config import Config, CronConfig
from sigsup.config.diff import cron_key as cron_identity
from sigsup.config.diff import match, monitor_key, timer_key
from sigsup.schedule import cron
from sigsup.sources.events import CronSource, MonitorSource, Source

if TYPE_CHECKING:
    from sigsup.sources.scheduler import Scheduler

MASTER_ORIGIN = "runtime (master)"


def cron_spec(cc: CronConfig) -> cron.Schedule:
    return (cron.parse_schedule(cc.schedule) if cc.schedule is not None
            else cron.uwsgi_schedule(cc.fields or (-1, -1, -1, -1, -1)))


def cron_key(i: int, cc: CronConfig, spec: cron.Schedule) -> str:
    """A config cron's identity across master restarts (its last run, sources/state.py)."""
    return f"{i}:{cc.signal}:{spec}:{cc.timezone}"


def reload_sources(s: Scheduler, old: Config, new: Config) -> None:
    by_item = {id(item): sid for sid, item in s.from_config.items()}
    _timers(s, old, new, by_item)
    _crons(s, old, new, by_item)
    _monitors(s, old, new, by_item)
    _preloaded(s)
    s.state.keep({src.key for src in s.sources.values()
                  if isinstance(src, CronSource) and src.key})
    s.state.flush()


def _sid(s: Scheduler, by_item: dict[int, int], item: Any) -> int | None:
    """The source of a config item, if it is still there (not done with its iterations)."""
    sid = by_item.get(id(item))
    return sid if sid is not None and sid in s.sources else None


def _gone(s: Scheduler, by_item: dict[int, int], items: list[Any]) -> None:
    for item in items:
        sid = _sid(s, by_item, item)
        if sid is not None:
            s.remove(sid, "not in the config any more (reload)")


def _iterations(s: Scheduler, src: Source, total: int) -> None:
    src.iterations.total = total
    if total and src.iterations.done >= total:
        s.remove(src.id, f"its new iterations ({total}) are done (reload)")


def _timers(s: Scheduler, old: Config, new: Config, by_item: dict[int, int]) -> None:
    pairs, removed, added = match((*old.timers, *old.rb_timers), (*new.timers, *new.rb_timers),
                                  timer_key)
    for o, n in pairs:
        sid = _sid(s, by_item, o)
        if sid is None:
            continue
        s.from_config[sid] = n
        if o.iterations != n.iterations:
            _iterations(s, s.sources[sid], n.iterations)
    _gone(s, by_item, removed)
    for n in added:
        s.add_config_timer(n)


def _crons(s: Scheduler, old: Config, new: Config, by_item: dict[int, int]) -> None:
    index = {id(cc): i for i, cc in enumerate(new.crons)}
    pairs, removed, added = match(old.crons, new.crons, cron_identity)
    for o, n in pairs:
        sid = _sid(s, by_item, o)
        if sid is None:
            continue
        src = s.sources[sid]
        assert isinstance(src, CronSource)
        s.from_config[sid] = n
        src.misfire_grace = n.misfire_grace
        key = cron_key(index[id(n)], n, cron_spec(n))
        if src.key and key != src.key:   # moved in the file: its last run moves with it
            last = s.state.data.pop(src.key, None)
            if last is not None:
                s.state.data[key] = last
        src.key = key
        if o.iterations != n.iterations:
            _iterations(s, src, n.iterations)
    _gone(s, by_item, removed)
    for n in added:
        s.add_config_cron(index[id(n)], n)


def _monitors(s: Scheduler, old: Config, new: Config, by_item: dict[int, int]) -> None:
    pairs, removed, added = match(old.monitors, new.monitors, monitor_key)
    for o, n in pairs:
        sid = _sid(s, by_item, o)
        if sid is None:
            continue
        if o == n:
            s.from_config[sid] = n
            continue
        s.remove(sid, "its settings changed (reload): watched again")
        s.add_config_monitor(n)
    _gone(s, by_item, removed)
    for n in added:
        s.add_config_monitor(n)


def _identity(src: Source) -> tuple[str, int, str]:
    return (src.kind, src.signal, src.spec())


def _preloaded(s: Scheduler) -> None:
    mine = [src for src in s.sources.values() if src.origin == MASTER_ORIGIN]
    before = [src for src in mine if src.id < s.reload_mark]
    fresh = [src for src in mine if src.id >= s.reload_mark]
    pairs, removed, _added = match(before, fresh, _identity)
    for kept, again in pairs:
        s.sources.pop(again.id, None)   # never armed past its first deadline: just forgotten
        if isinstance(again, MonitorSource):
            s.monitor.send({"t": "fs-del", "id": again.id})
        kept.iterations.total = again.iterations.total
    for src in removed:
        s.remove(src.id, "the preload modules no longer add it (reload)")
    s.reload_mark = next(s._ids)
