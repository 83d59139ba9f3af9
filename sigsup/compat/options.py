"""``uwsgi.opt``: the tree's options as uWSGI would show them, values as bytes.

A few keys come from the tree itself (``master``, ``processes``/``workers``, ``mules``,
``farm``, ``spooler``, ``spooler-processes``, ``import``, ``pythonpath``); the config's
``[options]`` table adds the application's own keys, and wins over them. A string or
number becomes the bytes of its text, a boolean ``b"true"``/``b"false"``, an array a list of
those (uWSGI's repeated keys).
"""

from __future__ import annotations

from typing import Any

from sigsup.config import Config


def as_bytes(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return [as_bytes(x) for x in v]
    if isinstance(v, bool):
        return b"true" if v else b"false"
    if isinstance(v, bytes):
        return v
    return str(v).encode()


def tree_options(cfg: Config) -> dict[str, Any]:
    """What uWSGI's ini for this tree would hold."""
    out: dict[str, Any] = {"master": b"true",
                           "processes": as_bytes(cfg.workers.count),
                           "workers": as_bytes(cfg.workers.count)}
    if cfg.mules.count:
        out["mules"] = as_bytes(cfg.mules.count)
    if cfg.farms:
        farms = [f"{name}:{','.join(map(str, ids))}" for name, ids in cfg.farms.items()]
        out["farm"] = as_bytes(farms[0] if len(farms) == 1 else farms)
    if cfg.spoolers:
        dirs = [str(sp.dir) for sp in cfg.spoolers.values()]
        out["spooler"] = as_bytes(dirs[0] if len(dirs) == 1 else dirs)
        out["spooler-processes"] = as_bytes(max(sp.processes for sp in cfg.spoolers.values()))
    preload = cfg.supervisor.preload
    if preload:
        out["import"] = as_bytes(preload[0] if len(preload) == 1 else list(preload))
    paths = [str(p) for p in cfg.supervisor.pythonpath]
    if paths:
        out["pythonpath"] = as_bytes(paths[0] if len(paths) == 1 else paths)
    return out


def opt(cfg: Config | None) -> dict[str, Any]:
    """``uwsgi.opt`` for ``cfg`` (an empty dict when no tree is known)."""
    if cfg is None:
        return {}
    out = tree_options(cfg)
    for key, value in cfg.options.items():
        out[key] = as_bytes(value)
    return out
