"""What a reload would change: two configs in, the differences out (pure, no I/O).

``diff_configs(old, new)`` lists every change by section -- ``processes`` (added, removed,
changed slots), ``signals`` (table entries of the file), ``events`` (timers, rb_timers,
crons, file monitors), ``spoolers`` and ``supervisor`` (settings) -- and, apart, what a
running master cannot take without a restart (``blocked``): a reload with a blocked change
is refused whole, naming each.

Event sources are matched by identity, so that what did not change keeps its state:

    timer, rb_timer    (kind, signal, seconds): the period decides the phase
    cron               (signal, schedule or uWSGI fields, timezone): its last-fired instant
    monitor            (signal, path)

A matched source whose other fields differ (``iterations``, ``misfire_grace``, ``events``...)
is ``changed``; ``match`` pairs them in order, so two identical timers stay two.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from .schema import Config, CronConfig, MonitorConfig, SupervisorConfig, TimerConfig

T = TypeVar("T")

ADDED, REMOVED, CHANGED = "added", "removed", "changed"
SECTIONS = ("processes", "signals", "events", "spoolers", "supervisor")
# settings a running master cannot change: its identity and where it listens
FIXED_SUPERVISOR = ("name", "socket")
RESTART_HINT = "stop and start the master to change it"


@dataclass(frozen=True)
class Change:
    section: str      # one of SECTIONS
    what: str         # added, removed, changed
    name: str         # worker3, signal 17, timer (signal 5, every 2 s), supervisor.harakiri
    detail: str = ""  # "handler a:f -> b:g", "10 -> 20"

    def line(self) -> str:
        mark = {ADDED: "+", REMOVED: "-", CHANGED: "~"}[self.what]
        return f"  {mark} {self.name}" + (f": {self.detail}" if self.detail else "")

    def as_dict(self) -> dict[str, str]:
        return {"section": self.section, "what": self.what, "name": self.name,
                "detail": self.detail}


@dataclass(frozen=True)
class ConfigDiff:
    changes: tuple[Change, ...] = ()
    blocked: tuple[str, ...] = ()    # why a running master cannot take it, one line each

    def __bool__(self) -> bool:
        return bool(self.changes)

    def of(self, section: str) -> list[Change]:
        return [c for c in self.changes if c.section == section]

    def lines(self) -> list[str]:
        """The diff as ``sigsup reload`` prints it: one heading per section with changes."""
        if not self.changes:
            return ["no changes in the config"]
        out = []
        for section in SECTIONS:
            items = self.of(section)
            if items:
                out.append(f"{section}:")
                out.extend(c.line() for c in items)
        return out

    def as_dict(self) -> dict[str, Any]:
        return {s: [c.as_dict() for c in self.of(s)] for s in SECTIONS} | {
            "blocked": list(self.blocked)}


def match(old: Sequence[T], new: Sequence[T], key: Callable[[T], Hashable]
          ) -> tuple[list[tuple[T, T]], list[T], list[T]]:
    """Pair ``old`` and ``new`` items of equal ``key``, in order: (pairs, removed, added)."""
    waiting: dict[Hashable, list[T]] = {}
    for item in new:
        waiting.setdefault(key(item), []).append(item)
    pairs: list[tuple[T, T]] = []
    removed: list[T] = []
    for item in old:
        same = waiting.get(key(item))
        if same:
            pairs.append((item, same.pop(0)))
        else:
            removed.append(item)
    taken = {id(n) for _, n in pairs}
    added = [item for item in new if id(item) not in taken]
    return pairs, removed, added


# -- identities of event sources ------------------------------------------------------------


def timer_key(t: TimerConfig) -> Hashable:
    return (t.kind, t.signal, t.seconds)


def cron_key(c: CronConfig) -> Hashable:
    return (c.signal, c.schedule, c.fields, c.timezone)


def monitor_key(m: MonitorConfig) -> Hashable:
    return (m.signal, str(m.path))


def timer_name(t: TimerConfig) -> str:
    return f"{t.kind} (signal {t.signal}, every {t.seconds:g} s)"


def cron_name(c: CronConfig) -> str:
    when = c.schedule if c.schedule is not None else " ".join(str(f) for f in c.fields or ())
    return f"cron (signal {c.signal}, {when!r}{', ' + c.timezone if c.timezone else ''})"


def monitor_name(m: MonitorConfig) -> str:
    return f"monitor (signal {m.signal}, {m.path})"


def _field_changes(old: Any, new: Any, skip: tuple[str, ...] = ()) -> list[str]:
    """``name a -> b`` for each dataclass field that differs."""
    out = []
    for f in fields(old):
        if f.name in skip:
            continue
        a, b = getattr(old, f.name), getattr(new, f.name)
        if a != b:
            out.append(f"{f.name} {_show(a)} -> {_show(b)}")
    return out


def _show(v: Any) -> str:
    if isinstance(v, tuple):
        return "[" + ", ".join(_show(x) for x in v) + "]"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


# -- the sections ---------------------------------------------------------------------------


@dataclass
class _Builder:
    changes: list[Change] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)

    def add(self, section: str, what: str, name: str, detail: str = "") -> None:
        self.changes.append(Change(section, what, name, detail))


def _mule_shape(cfg: Config) -> dict[str, tuple[tuple[str, ...], str | None]]:
    return {f"mule{i}": (tuple(f for f, ids in cfg.farms.items() if i in ids),
                         cfg.mules.programs.get(i))
            for i in range(1, cfg.mules.count + 1)}


def _processes(b: _Builder, old: Config, new: Config) -> None:
    ow, nw = old.workers.count, new.workers.count
    for i in range(nw + 1, ow + 1):
        b.add("processes", REMOVED, f"worker{i}")
    for i in range(ow + 1, nw + 1):
        b.add("processes", ADDED, f"worker{i}")
    for detail in _field_changes(old.workers, new.workers, skip=("count",)):
        b.add("processes", CHANGED, "workers", detail)
    om, nm = _mule_shape(old), _mule_shape(new)
    mule_changes = False
    for name in om:
        if name not in nm:
            b.add("processes", REMOVED, name)
            mule_changes = True
    for name, (farms, program) in nm.items():
        if name not in om:
            b.add("processes", ADDED, name)
            mule_changes = True
            continue
        ofarms, oprogram = om[name]
        details = []
        if ofarms != farms:
            details.append(f"farms {_show(ofarms)} -> {_show(farms)}")
        if oprogram != program:
            details.append(f"program {oprogram} -> {program}")
        if details:
            b.add("processes", CHANGED, name, "; ".join(details))
            mule_changes = True
    if old.mules.message_handler != new.mules.message_handler:
        b.add("processes", CHANGED, "mules",
              f"message_handler {old.mules.message_handler} -> {new.mules.message_handler}")
        mule_changes = True
    if mule_changes:
        b.blocked.append(f"mules and farms changed: a reload applies workers, signals, event "
                         f"sources and [supervisor] settings; {RESTART_HINT}")


def _spoolers(b: _Builder, old: Config, new: Config) -> None:
    for name in old.spoolers:
        if name not in new.spoolers:
            b.add("spoolers", REMOVED, name)
    for name, sp in new.spoolers.items():
        before = old.spoolers.get(name)
        if before is None:
            b.add("spoolers", ADDED, name)
        else:
            for detail in _field_changes(before, sp):
                b.add("spoolers", CHANGED, name, detail)
    if b.changes and any(c.section == "spoolers" for c in b.changes):
        b.blocked.append(f"spoolers changed (their jobs stay on disk either way); {RESTART_HINT}")


def _signals(b: _Builder, old: Config, new: Config) -> None:
    for num, sc in old.signals.items():
        if num not in new.signals:
            b.add("signals", REMOVED, f"signal {num}", f"{sc.handler} -> {sc.target}")
    for num, sc in new.signals.items():
        before = old.signals.get(num)
        if before is None:
            b.add("signals", ADDED, f"signal {num}", f"{sc.handler} -> {sc.target}")
            continue
        details = []
        if before.handler != sc.handler:
            details.append(f"handler {before.handler} -> {sc.handler}")
        if str(before.target) != str(sc.target):
            details.append(f"target {before.target} -> {sc.target}")
        if before.on_full != sc.on_full:
            details.append(f"on_full {before.on_full} -> {sc.on_full}")
        if details:
            b.add("signals", CHANGED, f"signal {num}", "; ".join(details))


def _sources(b: _Builder, old: Sequence[T], new: Sequence[T], key: Callable[[T], Hashable],
             name: Callable[[T], str], *, kept_detail: str) -> None:
    pairs, removed, added = match(old, new, key)
    for o, n in pairs:
        details = _field_changes(o, n)
        if details:
            b.add("events", CHANGED, name(n), "; ".join(details) + f" ({kept_detail})")
    for o in removed:
        b.add("events", REMOVED, name(o))
    for n in added:
        b.add("events", ADDED, name(n))


def _events(b: _Builder, old: Config, new: Config) -> None:
    _sources(b, (*old.timers, *old.rb_timers), (*new.timers, *new.rb_timers), timer_key,
             timer_name, kept_detail="its phase kept")
    _sources(b, old.crons, new.crons, cron_key, cron_name, kept_detail="its last run kept")
    _sources(b, old.monitors, new.monitors, monitor_key, monitor_name,
             kept_detail="watched again")


def _supervisor(b: _Builder, old: SupervisorConfig, new: SupervisorConfig) -> None:
    for f in fields(old):
        a, n = getattr(old, f.name), getattr(new, f.name)
        if a == n:
            continue
        b.add("supervisor", CHANGED, f"supervisor.{f.name}", f"{_show(a)} -> {_show(n)}")
        if f.name in FIXED_SUPERVISOR:
            b.blocked.append(f"supervisor.{f.name} changed ({_show(a)} -> {_show(n)}): a "
                             f"running master keeps its {f.name}; {RESTART_HINT}")


def diff_configs(old: Config, new: Config) -> ConfigDiff:
    """Every difference between the running ``old`` config and ``new``, and the ones a
    running master cannot apply (``blocked``)."""
    b = _Builder()
    _processes(b, old, new)
    _signals(b, old, new)
    _events(b, old, new)
    _spoolers(b, old, new)
    _supervisor(b, old.supervisor, new.supervisor)
    return ConfigDiff(tuple(b.changes), tuple(b.blocked))
