"""The shared cache: the table's semantics and bounds on a plain buffer with a fake clock
(sigsup/cache/table.py), the API on real shared files, a forked child, the master's
staging, and the [caches.NAME] config (sigsup/cache/, sigsup/config/caches.py)."""

from __future__ import annotations

import os
import random

import pytest

from sigsup import cache, context
from sigsup import treeconfig as conf
from sigsup.cache.master import CacheExtension
from sigsup.cache.shared import Caches, caches
from sigsup.cache.table import Bounds, CacheFull, Table, format_buffer, size_for
from sigsup.config import ConfigError
from tests.unit.fakes import FakeClock, make_config, short_socket_dir


def table(items: int = 4, max_bytes: int = 1000, max_item: int = 100) -> Table:
    b = Bounds(items, max_bytes, max_item)
    buf = bytearray(size_for(b))
    format_buffer(buf, b, 1)
    return Table(buf, "t")


# -- the table ---------------------------------------------------------------------------


def test_set_is_add_only_update_replaces_and_delete() -> None:
    t = table()
    assert t.get(b"k", 0) is None
    assert t.put(b"k", b"v1", 0, 0, replace=False) is True
    assert t.put(b"k", b"v2", 0, 0, replace=False) is False      # like uWSGI's cache_set
    assert t.get(b"k", 0) == b"v1"
    assert t.put(b"k", b"v2", 0, 0, replace=True) is True
    assert t.get(b"k", 0) == b"v2"
    assert t.exists(b"k", 0) and not t.exists(b"x", 0)
    assert t.delete(b"k", 0) is True and t.delete(b"k", 0) is False
    st = t.stats()
    assert (st["items"], st["bytes"], st["hits"], st["misses"], st["replaced"]) == (0, 0, 2, 1, 1)


def test_items_bound_refuses_with_the_cache_and_bound_named() -> None:
    t = table(items=3)
    for i in range(3):
        t.put(b"k%d" % i, b"v", 0, 0, replace=False)
    with pytest.raises(CacheFull, match=r"cache 't' is full: 3 items") as info:
        t.put(b"new", b"v", 0, 0, replace=False)
    assert (info.value.cache, info.value.bound, info.value.limit) == ("t", "items", 3)
    t.put(b"k0", b"replaced", 0, 0, replace=True)   # replacing needs no new slot
    assert t.stats()["full"] == 1 and t.stats()["items"] == 3


def test_byte_bounds() -> None:
    t = table(items=10, max_bytes=20, max_item=8)
    with pytest.raises(CacheFull, match="max_item_bytes") as info:
        t.put(b"k", b"123456789", 0, 0, replace=True)
    assert info.value.bound == "max_item_bytes"
    t.put(b"a", b"12345678", 0, 0, replace=True)       # 9 bytes
    t.put(b"b", b"12345678", 0, 0, replace=True)       # 18
    with pytest.raises(CacheFull, match="max_bytes") as info:
        t.put(b"c", b"12", 0, 0, replace=True)          # 21 > 20
    assert info.value.bound == "max_bytes"
    t.put(b"a", b"1", 0, 0, replace=True)              # shrinking in place: 11
    t.put(b"c", b"12", 0, 0, replace=True)             # now fits: 14
    assert t.stats()["bytes"] == 14 and t.stats()["full"] == 2


def test_expiry_with_a_fake_clock_and_purge_when_full() -> None:
    clock = FakeClock()
    t = table(items=2)
    now = clock.monotonic()
    t.put(b"short", b"v", now + 5, now, replace=False)
    t.put(b"long", b"v", 0, now, replace=False)
    clock.advance(4.9)
    assert t.get(b"short", clock.monotonic()) == b"v"
    clock.advance(0.2)
    assert t.get(b"short", clock.monotonic()) is None
    assert t.stats()["expired"] == 1 and t.stats()["items"] == 1
    now = clock.monotonic()
    t.put(b"e", b"v", now + 1, now, replace=False)
    clock.advance(2)
    # full (2 items), but one has expired: purged, and the set goes through
    assert t.put(b"x", b"v", 0, clock.monotonic(), replace=False) is True
    assert sorted(t.keys(clock.monotonic())) == [b"long", b"x"]
    # an expired key may be set again (set is add-only only for live keys)
    now = clock.monotonic()
    t.put(b"long", b"w", now + 1, now, replace=True)
    clock.advance(1)
    assert t.put(b"long", b"fresh", 0, clock.monotonic(), replace=False) is True


def test_clear_and_keys() -> None:
    t = table(items=8)
    for i in range(5):
        t.put(b"k%d" % i, b"v", 0, 0, replace=False)
    assert sorted(t.keys(0)) == sorted(b"k%d" % i for i in range(5))
    assert t.clear() == 5
    assert t.keys(0) == [] and t.stats()["bytes"] == 0
    for i in range(8):          # every slot is free again
        t.put(b"n%d" % i, b"v", 0, 0, replace=False)


def test_random_operations_match_a_dict() -> None:
    """Many inserts and deletes (deleted marks, index rebuilds) keep the table a dict."""
    rnd = random.Random(7)
    t = table(items=64, max_bytes=10**6, max_item=64)
    model: dict[bytes, bytes] = {}
    for _ in range(20000):
        k = b"key%d" % rnd.randrange(100)
        op = rnd.random()
        if op < 0.45:
            v = bytes(rnd.randrange(256) for _ in range(rnd.randrange(20)))
            if k not in model and len(model) >= 64:
                with pytest.raises(CacheFull):
                    t.put(k, v, 0, 0, replace=True)
            else:
                assert t.put(k, v, 0, 0, replace=True)
                model[k] = v
        elif op < 0.8:
            assert t.delete(k, 0) == (model.pop(k, None) is not None)
        else:
            assert t.get(k, 0) == model.get(k)
    assert sorted(t.keys(0)) == sorted(model)
    assert t.stats()["items"] == len(model)
    assert t.stats()["bytes"] == sum(len(k) + len(v) for k, v in model.items())


# -- the API on shared files ---------------------------------------------------------------


@pytest.fixture()
def tree():
    sock_dir = short_socket_dir()
    cfg = make_config("[workers]\ncount = 1\n[caches.small]\nitems = 2\nmax_bytes = 100\n"
                      "max_item_bytes = 50\n", sock_dir)
    held = conf.current_or_none_held()
    conf.set_config(cfg)
    context.process().states.pop(Caches, None)
    said: list[str] = []
    caches().announce = said.append
    yield sock_dir, said
    context.process().states.pop(Caches, None)
    conf.set_config(held)


def test_api_str_and_bytes_files_and_bounds_from_the_config(tree) -> None:
    sock_dir, said = tree
    assert cache.set("k", "välue") is True
    assert cache.get(b"k") == "välue".encode()
    assert cache.set("k", b"other") is False
    assert cache.update("k", b"other") is True and cache.get("k") == b"other"
    assert cache.keys() == ["k"] and cache.exists("k")
    assert cache.delete("k") and not cache.exists("k")
    d = sock_dir / "m.sock.cache"
    assert (d / "default.cache").exists() and oct(d.stat().st_mode & 0o777) == "0o700"
    assert said and "'default' is not declared" in said[0] and "items = 1000" in said[0]
    cache.set("a", "1", name="small")
    cache.set("b", "2", name="small")
    with pytest.raises(CacheFull, match=r"cache 'small' is full: 2 items"):
        cache.set("c", "3", name="small")
    assert len(said) == 1                 # declared: no line; default: said once
    cache.get("zzz")
    assert len(said) == 1
    assert cache.stats("small")["full"] == 1


def test_api_checks_its_arguments(tree) -> None:
    with pytest.raises(TypeError):
        cache.set("k", 3)
    with pytest.raises(ValueError, match="1..250 bytes"):
        cache.get("")
    with pytest.raises(ValueError, match="1..250 bytes"):
        cache.get("x" * 251)
    with pytest.raises(ValueError, match="expires"):
        cache.set("k", "v", expires=-1)
    with pytest.raises(ValueError, match="cache name"):
        cache.get("k", name="../etc")


def test_api_expiry_uses_the_clock(tree) -> None:
    clock = FakeClock()
    caches().clock = clock.monotonic
    cache.set("k", "v", expires=10)
    clock.advance(9.9)
    assert cache.get("k") == b"v"
    clock.advance(0.1)
    assert cache.get("k") is None and cache.keys() == []


def test_a_forked_child_shares_the_cache_and_its_lock(tree) -> None:
    cache.update("from-parent", "p")
    pid = os.fork()
    if pid == 0:      # pragma: no cover - the child
        ok = cache.get("from-parent") == b"p"
        for i in range(500):
            cache.update("n", str(i))
        cache.update("from-child", "c" if ok else "wrong")
        os._exit(0)
    for _ in range(500):
        cache.get("n")
    _, status = os.waitpid(pid, 0)
    assert status == 0
    assert cache.get("from-child") == b"c" and cache.get("n") == b"499"


def test_the_master_stages_until_it_starts_then_publishes(tree, tmp_path) -> None:
    sock_dir, _said = tree
    d = sock_dir / "m.sock.cache"
    d.mkdir(mode=0o700)
    (d / "stale.cache").write_bytes(b"from an earlier run")

    msgs: list[str] = []

    class Log:
        def info(self, m: str) -> None:
            msgs.append(m)

        warning = info

    class Port:
        config = conf.current_or_none_held()
        log = Log()

    ext = CacheExtension(Port())         # built with the master, before preload
    cache.update("preloaded", "x")       # preload stores something: not in a file yet
    assert not (d / "default.cache").exists()
    assert "'default' is not declared" in msgs[0]     # in the master's log
    ext.start()
    assert not (d / "stale.cache").exists()
    assert (d / "default.cache").exists() and (d / "small.cache").exists()
    assert cache.get("preloaded") == b"x"
    st = ext.status()
    assert st["default"]["items"] == 1 and st["default"]["declared"] is False
    assert st["small"]["declared"] is True and st["small"]["max_items"] == 2
    # another process of the tree sees what preload stored
    pid = os.fork()
    if pid == 0:      # pragma: no cover - the child
        context.process().states.pop(Caches, None)
        os._exit(0 if cache.get("preloaded") == b"x" else 1)
    assert os.waitpid(pid, 0)[1] == 0


# -- [caches.NAME] -----------------------------------------------------------------------


def test_config_caches_are_strictly_validated() -> None:
    d = short_socket_dir()
    cfg = make_config("[caches.default]\nitems = 10\n[caches.s]\nmax_bytes = 4096\n"
                      "max_item_bytes = 1024\n", d)
    assert cfg.caches["default"].items == 10 and cfg.caches["default"].max_item_bytes == 65536
    assert cfg.caches["s"].max_bytes == 4096
    for body, where, what in [
        ("[caches.x]\nitem = 3\n", "caches.x.item", "did you mean 'items'"),
        ("[caches.x]\nitems = 0\n", "caches.x.items", ""),
        ("[caches.x]\nitems = true\n", "caches.x.items", ""),
        ("[caches.x]\nmax_bytes = 10\nmax_item_bytes = 20\n", "caches.x.max_item_bytes",
         "at most max_bytes"),
        ("[caches.x]\nitems = 1000000\nmax_bytes = 99999999999\n"
         "max_item_bytes = 1000000\n", "caches.x.max_item_bytes", "items x max_item_bytes"),
        ('[caches."a/b"]\n', 'caches."a/b"', "cache name"),
        ("[caches]\nx = 3\n", "caches.x", "expected a table"),
    ]:
        with pytest.raises(ConfigError) as info:
            make_config(body, d)
        got = [(p.key, p.message) for p in info.value.problems]
        assert any(where in k and what in m for k, m in got), (body, got)


def test_threads_of_one_process_queue_for_the_cache(tree) -> None:
    import threading

    def work(t: int) -> None:
        for i in range(300):
            cache.update(f"t{t}-{i % 50}", str(i))
            assert cache.get(f"t{t}-{i % 50}") == str(i).encode()

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert len(cache.keys()) == 200
    st = cache.stats()
    assert st["items"] == 200 and st["sets"] == 1200 and st["hits"] == 1200


def test_a_replace_in_a_full_cache_writes_a_spare_slot_then_swaps() -> None:
    """The index moves to a whole new entry; the old slot is freed after (so a process
    killed mid-set leaves the old value or the new, never a mix)."""
    t = table(items=2)
    t.put(b"a", b"old", 0, 0, replace=False)
    t.put(b"b", b"x", 0, 0, replace=False)
    before = [t.index[i] for i in range(t.nindex) if t.index[i] > 0]
    t.put(b"a", b"new", 0, 0, replace=True)
    after = [t.index[i] for i in range(t.nindex) if t.index[i] > 0]
    assert sorted(before) != sorted(after) and len(after) == 2
    assert t.get(b"a", 0) == b"new" and t.get(b"b", 0) == b"x"
    for i in range(50):          # the spare slot keeps coming back
        t.put(b"a", b"%d" % i, 0, 0, replace=True)
    assert t.get(b"a", 0) == b"49" and t.stats()["items"] == 2


def test_incr_is_one_step_across_processes(tree) -> None:
    pid = os.fork()
    if pid == 0:      # pragma: no cover - the child
        for _ in range(1000):
            cache.incr("hits")
        os._exit(0)
    for _ in range(1000):
        cache.incr("hits")
    assert os.waitpid(pid, 0)[1] == 0
    assert cache.number("hits") == 2000
    assert cache.incr("hits", -2000) == 0
    with pytest.raises(TypeError):
        cache.incr("hits", 1.5)
