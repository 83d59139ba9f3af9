"""The converted tables (convert/mapping.py) -> the text of a sigsup.toml.

Pure. Tables come out in the order of sigsup.toml.example; a key whose name is a dotted
section (``mules.main``) is written as that header. Strings are TOML basic strings (JSON
escapes are TOML's for every character this writes).
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["render", "toml_value"]

ORDER = ("supervisor", "workers", "mules", "mules.main", "farms", "spoolers", "caches",
         "timers", "rb_timers", "crons", "monitors")
ARRAYS = ("timers", "rb_timers", "crons", "monitors")
NESTED = ("spoolers", "caches")   # [spoolers.NAME], [caches.NAME]


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise TypeError(f"no TOML form for {type(v).__name__}")


def _key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() and k.isascii() else json.dumps(k)


def _table(header: str, tbl: dict[str, Any]) -> str:
    return f"[{header}]\n" + "".join(f"{_key(k)} = {toml_value(v)}\n" for k, v in tbl.items())


def render(doc: dict[str, Any], head: list[str], tail: list[str] = ()) -> str:
    """``head``: comment lines for the top (without ``#``); ``tail``: commented blocks."""
    parts = ["".join(f"# {line}\n" if line else "#\n" for line in head)]
    for name in ORDER:
        if name not in doc:
            continue
        v = doc[name]
        if name in ARRAYS:
            parts.extend(_table(f"[{name}]", entry) for entry in v)
        elif name in NESTED:
            parts.extend(_table(f"{name}.{_key(sub)}", t) for sub, t in v.items())
        elif name == "mules.main":
            parts.append(_table("mules.main", v))
        else:
            parts.append(_table(name, v))
    parts.extend(tail)
    return "\n".join(p for p in parts if p)
