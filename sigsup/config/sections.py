"""The builders of the process tree's sections: ``[supervisor]``, ``[workers]``, ``[mules]``,
``[farms]``, ``[spoolers.NAME]`` and ``[signals.N]``.

Each one reads its table through the schema's field specs (the keys it takes, their
checks and defaults) and adds the checks that involve several keys or sections. A builder
records its problems on the :class:`~sigsup.config.reader.Reader` and returns what it
could build, with :data:`~sigsup.config.reader.BAD` for the values that failed.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from sigsup.routing.targets import (
    MULES,
    WORKERS,
    Target,
    TargetError,
    TreeShape,
    bind_target,
    parse_target,
)

from . import convert as c
from .fieldspec import specs, toml_keys
from .lines import KeyPath
from .reader import BAD, Reader, misplaced, ok
from .schema import MulesConfig, SignalConfig, SpoolerConfig, SupervisorConfig, WorkersConfig

__all__ = ["DEFAULT_TARGET", "SOCKET_PATH_MAX", "default_name", "default_socket", "farms",
           "mules", "signals", "spoolers", "supervisor", "workers"]

# sun_path holds 108 bytes on Linux (104 elsewhere), the terminating NUL included
SOCKET_PATH_MAX = 107 if sys.platform.startswith("linux") else 103
DEFAULT_TARGET = "worker"  # of a [signals.N] with no target

_NAME = re.compile(r"[A-Za-z0-9_-]+")


# -- [supervisor] ------------------------------------------------------------------------


def supervisor(r: Reader, tbl: dict | None, env: Mapping[str, str]) -> Any:
    p: KeyPath = ("supervisor",)
    if tbl is None:
        return BAD
    r.table(p, tbl, toml_keys(SupervisorConfig), "[supervisor]")
    fields = specs(SupervisorConfig)
    if "name" in tbl:
        name = r.convert(p + ("name",), tbl["name"], fields["name"])
    else:
        name = default_name(r.path)
        if not c.usable_name(name):
            r.err(p + ("name",), f"the default name {name!r} (from the file name) "
                                 "cannot be used: set supervisor.name")
            name = BAD
    if "socket" in tbl:
        socket = r.convert(p + ("socket",), tbl["socket"], fields["socket"])
        given = True
    else:
        socket = default_socket(name, env) if name is not BAD else BAD
        given = False
    if socket is not BAD and len(os.fsencode(str(socket))) > SOCKET_PATH_MAX:
        r.err(p + ("socket",), f"{str(socket)!r} is {len(os.fsencode(str(socket)))} bytes "
                               f"long; a unix socket path can be at most "
                               f"{SOCKET_PATH_MAX}" + ("" if given else ": set supervisor.socket"))
        socket = BAD
    f = r.values(tbl, p, SupervisorConfig, skip=("name", "socket"))
    delay, delay_max = f["respawn_delay"], f["respawn_delay_max"]
    if ok(delay, delay_max) and delay_max < delay:
        r.err(p + ("respawn_delay_max",), f"must be at least respawn_delay "
                                          f"({c.num_text(delay)}), got {c.num_text(delay_max)}")
    return SupervisorConfig(name=name, socket=socket, **f)


def default_name(path: Path) -> str:
    """``sigsup.toml`` -> ``sigsup``; ``sigsup.toml.example`` -> ``sigsup``."""
    name = path.name
    cut = name.find(".toml")
    if cut > 0:
        return name[:cut]
    return path.stem or name


def default_socket(name: str, env: Mapping[str, str]) -> Path:
    runtime = env.get("XDG_RUNTIME_DIR", "")
    if runtime and os.path.isabs(runtime):
        return Path(runtime) / "sigsup" / f"{name}.sock"
    return Path(f"/tmp/sigsup-{os.getuid()}") / f"{name}.sock"


# -- [workers] [mules] [farms] -----------------------------------------------------------


def workers(r: Reader, tbl: dict | None) -> tuple[Any, bool]:
    p: KeyPath = ("workers",)
    if tbl is None:
        return WorkersConfig(), False
    r.table(p, tbl, toml_keys(WorkersConfig), "[workers]")
    f = r.values(tbl, p, WorkersConfig)
    count, cheaper = f["count"], f["cheaper"]
    if ok(count) and cheaper not in (None, BAD) and cheaper > count:
        r.err(p + ("cheaper",), f"must be at most workers.count ({count}), got {cheaper}")
    return WorkersConfig(**f), ok(count)


def mules(r: Reader, tbl: dict | None) -> tuple[Any, bool]:
    p: KeyPath = ("mules",)
    if tbl is None:
        return MulesConfig(), False
    r.table(p, tbl, toml_keys(MulesConfig), "[mules]")
    fields = specs(MulesConfig)
    count = r.value(tbl, p, fields["count"])
    main_key = fields["programs"].key
    programs: dict[int, str] = {}
    main = tbl.get(main_key, {})
    if r.table(p + (main_key,), main, None, "[mules.main]: mule id = import path") is None:
        main = {}
    for key, value in main.items():
        kp = p + (main_key, key)
        mule = c.number_key(key)
        if mule is None or mule < 1:
            r.err(kp, "mule ids are whole numbers from 1 (mule1 is the first mule)")
        elif ok(count) and mule > count:
            r.err(kp, f"no mule {mule} (mules.count is {count})")
        elif mule in programs:
            r.err(kp, f"mule {mule} already has a program")
        handler = r.handler(kp, value)
        if mule is not None:
            programs.setdefault(mule, handler)
    message_handler = r.value(tbl, p, fields["message_handler"])
    return (MulesConfig(count=count, programs=MappingProxyType(dict(sorted(programs.items()))),
                        message_handler=message_handler), ok(count))


def farms(r: Reader, tbl: dict | None, mules: int | None,
          ) -> tuple[dict[str, tuple[int, ...]], bool]:
    if tbl is None:
        return {}, False
    before = len(r.problems)
    out: dict[str, tuple[int, ...]] = {}
    for name, value in tbl.items():
        kp: KeyPath = ("farms", name)
        if not _NAME.fullmatch(name):
            r.err(kp, "a farm name is made of letters, digits, '_' and '-'")
            continue
        ids = r.array(kp, value, "mule ids, e.g. [1, 2]")
        if ids is None:
            continue
        if not ids:
            r.err(kp, "a farm needs at least one mule")
            continue
        seen: list[int] = []
        for i, item in enumerate(ids):
            mule = r.check(kp + (i,), item, c.integer)
            if mule is BAD:
                continue
            if mule < 1:
                r.err(kp + (i,), f"mule ids start at 1, got {mule}")
            elif mules is not None and mule > mules:
                r.err(kp + (i,), f"no mule {mule} (mules.count is {mules})")
            elif mule in seen:
                r.err(kp + (i,), f"mule {mule} is listed twice")
            else:
                seen.append(mule)
        out[name] = tuple(seen)
    return out, len(r.problems) == before


# -- [spoolers.NAME] ---------------------------------------------------------------------


def spoolers(r: Reader, tbl: dict | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if tbl is None:
        return out
    fields = specs(SpoolerConfig)
    dirs: dict[Path, str] = {}
    for name, value in tbl.items():
        p: KeyPath = ("spoolers", name)
        if not _NAME.fullmatch(name):
            r.err(p, "a spooler name is made of letters, digits, '_' and '-'")
            continue
        # the name is valid: targets may use it even when the table has problems
        t = r.table(p, value, toml_keys(SpoolerConfig), "[spoolers.NAME]")
        if t is None:
            out[name] = BAD
            continue
        spool_dir = r.value(t, p, fields["dir"])
        if spool_dir is not BAD:
            if spool_dir in dirs:
                r.err(p + ("dir",), f"spoolers.{dirs[spool_dir]} already uses "
                                    f"{str(spool_dir)!r}")
            else:
                dirs[spool_dir] = name
        backoff = r.value(t, p, fields["retry_backoff"])
        backoff_max = r.value(t, p, fields["retry_backoff_max"])
        if ok(backoff, backoff_max) and backoff_max < backoff:
            r.err(p + ("retry_backoff_max",), f"must be at least retry_backoff "
                                              f"({c.num_text(backoff)}), "
                                              f"got {c.num_text(backoff_max)}")
        rest = r.values(t, p, SpoolerConfig, skip=("dir", "retry_backoff", "retry_backoff_max"))
        out[name] = SpoolerConfig(name=name, dir=spool_dir, retry_backoff=backoff,
                                  retry_backoff_max=backoff_max, **rest)
    return out


# -- [signals.N] -------------------------------------------------------------------------


def signals(r: Reader, tbl: dict | None, shape: TreeShape, broken: dict[str, bool],
            ) -> dict[int, SignalConfig]:
    out: dict[int, SignalConfig] = {}
    if tbl is None:
        return out
    fields = specs(SignalConfig)
    keys: dict[int, str] = {}
    for key, value in tbl.items():
        p: KeyPath = ("signals", key)
        num = c.number_key(key)
        if num is None or num > c.MAX_SIGNAL:
            r.err(p, f"signal numbers are 0..{c.MAX_SIGNAL}{misplaced(key)}")
            continue
        if num in keys:
            r.err(p, f"signal {num} is already declared as [signals.{keys[num]}]")
            continue
        keys[num] = key
        t = r.table(p, value, toml_keys(SignalConfig), "[signals.N]")
        if t is None:
            continue
        handler = r.value(t, p, fields["handler"])
        target_key = fields["target"].key
        target_ = target(r, p + (target_key,), t.get(target_key), shape, broken)
        on_full = r.value(t, p, fields["on_full"])
        out[num] = SignalConfig(num=num, handler=handler, target=target_, on_full=on_full)
    return out


def target(r: Reader, path: KeyPath, raw: Any, shape: TreeShape, broken: dict[str, bool],
           ) -> Any:
    """A signal's target, bound to the tree; BAD (with no new problem) when the section
    it names is itself broken."""
    defaulted = raw is None
    if defaulted:
        raw = DEFAULT_TARGET
    elif not isinstance(raw, str):
        r.err(path, f"expected a target string such as 'worker' or 'mule2', "
                    f"got {c.describe(raw)}")
        return BAD
    try:
        parsed: Target = parse_target(raw)
    except TargetError as exc:
        r.err(path, str(exc))
        return BAD
    group = parsed.group
    if ((group == WORKERS and broken[WORKERS]) or (group == MULES and broken[MULES])
            or (group.startswith("farm") and broken["farm"])):
        return BAD  # the section it depends on already has a problem: don't pile on
    try:
        return bind_target(parsed, shape)
    except TargetError as exc:
        extra = f" (a signal's target defaults to {DEFAULT_TARGET!r})" if defaulted else ""
        r.err(path, f"{exc}{extra}")
        return BAD
