"""``sigsup.cache``: a cache shared by every process of the tree.

    from sigsup import cache
    cache.set("k", b"v", expires=60)      # False if "k" is there already (like uWSGI)
    cache.update("k", "v2")               # set or replace; str values are stored utf-8
    cache.get("k")                        # b"v2", or None
    cache.get("k", name="sessions")       # another cache: [caches.sessions] in the config

Keys are str or bytes (1..250 bytes, str encoded utf-8), values bytes (str encoded utf-8).
``expires`` is in seconds from now; 0 means never. A set beyond a bound of the cache
raises ``CacheFull`` naming the cache and the bound; expired entries are purged first.
Outside a tree (a script) ``$SIGSUP_CONFIG`` names the tree, as for locks and spool.
"""

from __future__ import annotations

import builtins
import math
from typing import Any

from .shared import Caches, Handle, caches, check_name
from .table import MAX_KEY, CacheFull

__all__ = ["CacheFull", "clear", "delete", "exists", "get", "incr", "keys", "number", "set",
           "stats", "update"]


def _key(key: Any) -> bytes:
    if isinstance(key, str):
        k = key.encode("utf-8", "surrogateescape")
    elif isinstance(key, (bytes, bytearray, memoryview)):
        k = bytes(key)
    else:
        raise TypeError(f"a cache key is str or bytes, not {type(key).__name__}")
    if not 1 <= len(k) <= MAX_KEY:
        raise ValueError(f"a cache key is 1..{MAX_KEY} bytes, got {len(k)}")
    return k


def _value(value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"a cache value is bytes or str, not {type(value).__name__}")


def _expiry(expires: Any, now: float) -> float:
    if isinstance(expires, bool) or not isinstance(expires, (int, float)) \
            or not math.isfinite(expires) or expires < 0:
        raise ValueError(f"expires is seconds from now (0: never), got {expires!r}")
    return now + expires if expires else 0.0


def _handle(cs: Caches, name: str | None) -> Handle:
    h = cs.handles.get("default" if name is None else name)   # fast: a cache open here
    return h if h is not None else cs.get(check_name(name))


def get(key: str | bytes, name: str | None = None) -> bytes | None:
    """The value of ``key``, or None (absent or expired)."""
    k = key.encode("utf-8", "surrogateescape") if type(key) is str and 0 < len(key) <= 62 \
        else _key(key)   # up to 62 characters, utf-8 needs at most 248 bytes
    cs = caches()
    h = _handle(cs, name)
    t = h.acquire()
    try:
        return t.get(k, cs.clock())
    finally:
        h.release()


def _put(key: Any, value: Any, expires: Any, name: str | None, replace: bool) -> bool:
    k, v = _key(key), _value(value)
    cs = caches()
    h = _handle(cs, name)
    now = cs.clock()
    at = _expiry(expires, now) if expires else 0.0
    t = h.acquire()
    try:
        return t.put(k, v, at, now, replace=replace)
    finally:
        h.release()


def set(key: str | bytes, value: bytes | str, expires: float = 0,  # noqa: A001
        name: str | None = None) -> bool:
    """Store ``value`` if ``key`` is not there; False (nothing changed) if it is."""
    return _put(key, value, expires, name, replace=False)


def update(key: str | bytes, value: bytes | str, expires: float = 0,
           name: str | None = None) -> bool:
    """Store ``value`` under ``key``, replacing what was there. True."""
    return _put(key, value, expires, name, replace=True)


def delete(key: str | bytes, name: str | None = None) -> bool:
    """Remove ``key``; False if it was not there."""
    k = _key(key)
    cs = caches()
    with cs.get(check_name(name)).locked() as t:
        return t.delete(k, cs.clock())


def exists(key: str | bytes, name: str | None = None) -> bool:
    k = _key(key)
    cs = caches()
    with cs.get(check_name(name)).locked() as t:
        return t.exists(k, cs.clock())


def clear(name: str | None = None) -> int:
    """Remove every entry; how many there were."""
    with caches().get(check_name(name)).locked() as t:
        return t.clear()


def keys(name: str | None = None) -> builtins.list[str]:
    """The keys (not expired), as str (bytes that are not utf-8 kept by surrogateescape)."""
    cs = caches()
    with cs.get(check_name(name)).locked() as t:
        raw = t.keys(cs.clock())
    return [k.decode("utf-8", "surrogateescape") for k in raw]


def stats(name: str | None = None) -> dict[str, int]:
    """items, bytes, bounds and counters (hits, misses, full refusals...) of one cache."""
    with caches().get(check_name(name)).locked() as t:
        return t.stats()


def incr(key: str | bytes, delta: int = 1, expires: float = 0, name: str | None = None,
         op: str = "inc") -> int:
    """Add ``delta`` to the 64-bit number under ``key`` (0 if absent) in one step, shared
    by every process: a counter with no lost update. ``op`` may also be "dec", "mul" or
    "div" (uWSGI's cache_dec, cache_mul, cache_div). The new value."""
    if isinstance(delta, bool) or not isinstance(delta, int):
        raise TypeError(f"a cache number changes by an int, not {type(delta).__name__}")
    k = _key(key)
    cs = caches()
    h = _handle(cs, name)
    now = cs.clock()
    at = _expiry(expires, now) if expires else 0.0
    t = h.acquire()
    try:
        return t.number(k, op, delta, at, now)
    finally:
        h.release()


def number(key: str | bytes, name: str | None = None) -> int | None:
    """The number ``incr`` keeps under ``key``, or None."""
    v = get(key, name)
    if v is None:
        return None
    if len(v) != 8:
        raise ValueError(f"the value of {key!r} is {len(v)} bytes, not an 8-byte number")
    return int.from_bytes(v, "little", signed=True)
