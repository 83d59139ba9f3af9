"""uWSGI's cache functions, with uWSGI's names and signatures, on ``sigsup.cache``.

``sigsup/compat/uwsgi.py`` imports these names from here. What differs from uWSGI, on
purpose: a set beyond a bound raises ``sigsup.cache.CacheFull`` naming the cache and the
bound (uWSGI returns None and logs); a failed call returns None where uWSGI does, so
``if uwsgi.cache_set(...)`` code reads the same. Keys come back as bytes, like uWSGI's.
Checked against uWSGI 2.0.31 (tests/e2e/test_cache_uwsgi.py runs the same calls under both).
"""

from __future__ import annotations

from sigsup import cache as _cache

__all__ = ["cache_clear", "cache_dec", "cache_del", "cache_div", "cache_exists", "cache_get",
           "cache_inc", "cache_keys", "cache_mul", "cache_num", "cache_set", "cache_update"]


def cache_get(key: str | bytes, cache: str | None = None) -> bytes | None:
    return _cache.get(key, cache)


def cache_set(key: str | bytes, value: bytes | str, expires: float = 0,
              cache: str | None = None) -> bool | None:
    """True if stored; None (uWSGI's failure) if the key exists."""
    return True if _cache.set(key, value, expires, cache) else None


def cache_update(key: str | bytes, value: bytes | str, expires: float = 0,
                 cache: str | None = None) -> bool:
    return _cache.update(key, value, expires, cache)


def cache_del(key: str | bytes, cache: str | None = None) -> bool | None:
    return True if _cache.delete(key, cache) else None


def cache_exists(key: str | bytes, cache: str | None = None) -> bool | None:
    return True if _cache.exists(key, cache) else None


def cache_clear(cache: str | None = None) -> bool:
    _cache.clear(cache)
    return True


def cache_keys(cache: str | None = None) -> list[bytes]:
    return [k.encode("utf-8", "surrogateescape") for k in _cache.keys(cache)]


# uWSGI's numbers in the cache: a signed 64-bit value, changed in one step under the lock
def cache_inc(key: str | bytes, amount: int = 1, expires: float = 0,
              cache: str | None = None) -> bool:
    _cache.incr(key, amount, expires, cache, op="inc")
    return True


def cache_dec(key: str | bytes, amount: int = 1, expires: float = 0,
              cache: str | None = None) -> bool:
    _cache.incr(key, amount, expires, cache, op="dec")
    return True


def cache_mul(key: str | bytes, amount: int = 2, expires: float = 0,
              cache: str | None = None) -> bool:
    _cache.incr(key, amount, expires, cache, op="mul")
    return True


def cache_div(key: str | bytes, amount: int = 2, expires: float = 0,
              cache: str | None = None) -> bool:
    _cache.incr(key, amount, expires, cache, op="div")
    return True


def cache_num(key: str | bytes, cache: str | None = None) -> int:
    """0 for a missing key, as uWSGI answers."""
    n = _cache.number(key, cache)
    return 0 if n is None else n
