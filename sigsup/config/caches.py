"""The builder of ``[caches.NAME]``: the shared caches of the tree (sigsup/cache/).

A name the code uses without a table here gets a cache of the default bounds (the
``CacheConfig`` defaults), so a table is only needed to change them.
"""

from __future__ import annotations

import re
from typing import Any

from .fieldspec import specs, toml_keys
from .lines import KeyPath
from .reader import BAD, Reader, ok
from .schema import CACHE_SPAN_MAX, CacheConfig

__all__ = ["CACHE_NAME", "caches"]

# also the rule sigsup.cache applies to the names code uses
CACHE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")


def caches(r: Reader, tbl: dict | None) -> dict[str, CacheConfig]:
    out: dict[str, CacheConfig] = {}
    if tbl is None:
        return out
    fields = specs(CacheConfig)
    for name, value in tbl.items():
        p: KeyPath = ("caches", name)
        if not CACHE_NAME.fullmatch(name):
            r.err(p, "a cache name is 1..100 letters, digits, '_', '.' or '-'")
            continue
        t = r.table(p, value, toml_keys(CacheConfig), "[caches.NAME]")
        if t is None:
            continue
        f: dict[str, Any] = {n: r.value(t, p, s) for n, s in fields.items()
                             if s.setting.key is not None}
        items, max_bytes, max_item = f["items"], f["max_bytes"], f["max_item_bytes"]
        if ok(max_bytes, max_item) and max_item > max_bytes:
            r.err(p + ("max_item_bytes",), f"must be at most max_bytes ({max_bytes}), "
                                           f"got {max_item}")
        elif ok(items, max_item) and items * max_item > CACHE_SPAN_MAX:
            r.err(p + ("max_item_bytes",),
                  f"items x max_item_bytes is {items * max_item} bytes: at most "
                  f"{CACHE_SPAN_MAX} (the cache's shared file holds a slot of "
                  "max_item_bytes per item)")
        if any(v is BAD for v in f.values()):
            continue
        out[name] = CacheConfig(name=name, **f)
    return out

