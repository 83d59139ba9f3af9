"""The status document's schema, as data, and a checker (no dependency).

docs/status-schema.md describes the same fields for people; a unit test keeps the two
in step. ``check(doc)`` returns a list of problems, each naming the path of a field
(``processes[3].rss: expected integer or null, got str``); an empty list means valid.

Types: ``int`` (not bool), ``number`` (int or float), ``string``, ``bool``, ``any``; a
trailing ``?`` allows null; ``[T]`` is a list of T; a dict is an object with those fields.
Objects may carry fields the schema does not name (new fields keep ``version``); ``strict``
reports them (except at the top level, where features add their own sections), which the
tests use to keep the documentation complete.
"""

from __future__ import annotations

from typing import Any

PROC_STATES = ("starting", "running", "stopping", "backoff", "failed", "cheaped", "stopped")
ACTIVITIES = PROC_STATES[:1] + PROC_STATES[2:] + ("idle", "busy", "waiting")
MASTER_STATES = ("starting", "running", "stopping", "stopped")

RESOURCES: dict[str, Any] = {
    "rss": "int?",
    "cpu_percent": "number?",
    "cpu_time": "number?",
    "cpu_window": "number?",
}

MASTER: dict[str, Any] = {
    "name": "string",
    "pid": "int",
    "state": ("string", MASTER_STATES),
    "config": "string",
    "socket": "string",
    "started_at": "number",
    "uptime": "number",
    "queued": "int",
    "raised": "int",
    "raises_per_s": "number?",
    "window": "int",
    "queue_size": "int",
    "protocol_errors": "int",
    "subscribers": "int",
    **RESOURCES,
}

CURRENT: dict[str, Any] = {"signum": "int", "id": "int", "for": "number"}

PROCESS: dict[str, Any] = {
    "name": "string",
    "kind": "string",
    "id": "int",
    "groups": ["string"],
    "pid": "int?",
    "state": ("string", PROC_STATES),
    "activity": ("string", ACTIVITIES),
    "current": ("object?", CURRENT),
    "waiting_for": "int?",
    "queued": "int",
    "in_flight": "int",
    "handled": "int",
    "failed": "int",
    "respawns": "int",
    "started_at": "number?",
    "uptime": "number?",
    "respawn_in": "number?",
    "last_exit": "string?",
    "program": "string?",
    "spooler": "string?",
    **RESOURCES,
}

POOL: dict[str, Any] = {"name": "string", "queued": "int", "members": ["string"]}

SIGNAL: dict[str, Any] = {
    "num": "int",
    "target": "string?",
    "handler": "string?",
    "on_full": "string",
    "source": "string",
    "raised": "int",
    "delivered": "int",
    "handled": "int",
    "failed": "int",
    "dropped": "int",
    "coalesced": "int",
    "last_raised": "number?",
    "queued": "int",
}

STATUS: dict[str, Any] = {
    "version": "int",
    "time": "number",
    "master": MASTER,
    "processes": [PROCESS],
    "pools": [POOL],
    "signals": [SIGNAL],
    "groups_failed": ["string"],
}

# Sections that features add (master/port.py: ``Extension.status()``): present only when the
# feature is configured, and documented by the feature; checked here for their shape only.
OPTIONAL: dict[str, Any] = {
    "events": "list|object",
    "spoolers": "list|object",
    "pgnotify": "list",
    "reload": "object",
}


def _type_ok(value: Any, name: str) -> bool:
    if name == "any":
        return True
    if name == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if name == "string":
        return isinstance(value, str)
    if name == "bool":
        return isinstance(value, bool)
    if name == "list":
        return isinstance(value, list)
    if name == "object":
        return isinstance(value, dict)
    raise ValueError(f"unknown schema type {name!r}")


def _describe(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _check(value: Any, spec: Any, path: str, strict: bool, out: list[str]) -> None:
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            out.append(f"{path}: expected an object, got {_describe(value)}")
            return
        for key, sub in spec.items():
            if key not in value:
                out.append(f"{path}.{key}: missing" if path else f"{key}: missing")
                continue
            _check(value[key], sub, f"{path}.{key}" if path else key, strict, out)
        if strict and path:   # the top level also holds the sections features add
            for key in value:
                if key not in spec:
                    out.append(f"{path}.{key}: not in the schema")
        return
    if isinstance(spec, list):
        if not isinstance(value, list):
            out.append(f"{path}: expected a list, got {_describe(value)}")
            return
        for i, item in enumerate(value):
            _check(item, spec[0], f"{path}[{i}]", strict, out)
        return
    if isinstance(spec, tuple):
        kind, extra = spec
        if kind.endswith("?") and value is None:
            return
        kind = kind.rstrip("?")
        if kind == "object":
            _check(value, extra, path, strict, out)
            return
        if not _type_ok(value, kind):
            out.append(f"{path}: expected {kind}, got {_describe(value)}")
        elif value not in extra:
            out.append(f"{path}: {value!r} is not one of {', '.join(extra)}")
        return
    nullable = spec.endswith("?")
    if value is None:
        if not nullable:
            out.append(f"{path}: expected {spec}, got null")
        return
    kinds = spec.rstrip("?").split("|")
    if not any(_type_ok(value, k) for k in kinds):
        out.append(f"{path}: expected {' or '.join(kinds)}{' or null' if nullable else ''}, "
                   f"got {_describe(value)}")


def check(doc: Any, *, strict: bool = False) -> list[str]:
    """Problems with ``doc`` as a status document; [] when it is valid."""
    out: list[str] = []
    _check(doc, STATUS, "", strict, out)
    if isinstance(doc, dict):
        for key, spec in OPTIONAL.items():
            if key in doc:
                _check(doc[key], spec, key, strict, out)
    return out


def field_paths(spec: Any = STATUS, prefix: str = "") -> list[str]:
    """Every documented field as a dotted path (``processes[].rss``), for the docs test."""
    out: list[str] = []
    if isinstance(spec, tuple) and spec[0].startswith("object"):
        spec = spec[1]
    if isinstance(spec, list):
        return field_paths(spec[0], prefix + "[]")
    if isinstance(spec, dict):
        for key, sub in spec.items():
            path = f"{prefix}.{key}" if prefix else key
            out.append(path)
            out.extend(field_paths(sub, path))
    return out
