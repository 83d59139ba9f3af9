"""uWSGI's cache_* functions on sigsup.cache (sigsup/compat/uwsgi_cache.py): uWSGI's
names, signatures and return values (None for a failure), bytes keys."""

from __future__ import annotations

import inspect

import pytest

from sigsup.cache import CacheFull
from sigsup.compat import uwsgi_cache as u
from tests.unit.test_cache import tree  # noqa: F401 - the fixture


def test_signatures_are_uwsgis() -> None:
    sig = {n: list(inspect.signature(getattr(u, n)).parameters) for n in u.__all__}
    assert sig == {
        "cache_get": ["key", "cache"], "cache_set": ["key", "value", "expires", "cache"],
        "cache_update": ["key", "value", "expires", "cache"], "cache_del": ["key", "cache"],
        "cache_exists": ["key", "cache"], "cache_clear": ["cache"], "cache_keys": ["cache"],
        **{f"cache_{op}": ["key", "amount", "expires", "cache"]
           for op in ("inc", "dec", "mul", "div")},
        "cache_num": ["key", "cache"],
    }


def test_numbers(tree) -> None:  # noqa: F811
    assert u.cache_num("n") == 0            # uWSGI's answer for a missing key
    assert u.cache_inc("n") is True and u.cache_num("n") == 1
    u.cache_inc("n", 9)
    u.cache_mul("n")
    assert u.cache_num("n") == 20
    u.cache_div("n", 3)
    assert u.cache_num("n") == 6
    u.cache_dec("n", 10)
    assert u.cache_num("n") == -4
    u.cache_div("n", 3)
    assert u.cache_num("n") == -1           # truncated toward zero, as C does
    assert len(u.cache_get("n")) == 8
    u.cache_set("s", "text")
    with pytest.raises(ValueError, match="not an 8-byte number"):
        u.cache_inc("s")
    with pytest.raises(ZeroDivisionError):
        u.cache_div("n", 0)


def test_the_functions_map_onto_the_cache(tree) -> None:  # noqa: F811
    assert u.cache_get("k") is None
    assert u.cache_set("k", "v") is True
    assert u.cache_set("k", "w") is None            # exists: uWSGI's failure value
    assert u.cache_get("k") == b"v"
    assert u.cache_update("k", b"w") is True and u.cache_get("k") == b"w"
    assert u.cache_exists("k") is True and u.cache_exists("nope") is None
    assert u.cache_keys() == [b"k"]
    assert u.cache_del("k") is True and u.cache_del("k") is None
    u.cache_set("a", "1", 0, "small")
    u.cache_set("b", "2", 0, "small")
    assert sorted(u.cache_keys("small")) == [b"a", b"b"]
    with pytest.raises(CacheFull, match="'small' is full"):
        u.cache_set("c", "3", 0, "small")
    assert u.cache_clear("small") is True and u.cache_keys("small") == []
