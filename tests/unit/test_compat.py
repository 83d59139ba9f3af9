"""sigsup/compat: the uwsgi module's pure mappings."""

from __future__ import annotations

import pytest

import sigsup
from sigsup.compat import localfns, missing, options, spooling
from sigsup.compat import uwsgi as uw


def test_reload_delegates_to_sigsup_reload(monkeypatch):
    calls = []
    monkeypatch.setattr(sigsup, "reload", lambda: calls.append(1) or "done", raising=False)
    assert uw.reload(17) == "done" and calls == [1]


def test_refusal_of_function_objects():
    assert localfns.refusal("master", 0, "mule1") is None
    assert localfns.refusal("worker", 2, "workers") is None
    assert localfns.refusal("worker", 2, "") is None
    assert localfns.refusal("worker", 2, "worker2") is None
    assert "worker2" in localfns.refusal("worker", 2, "mule1")
    assert localfns.refusal("worker", 2, "worker1") is not None
    assert localfns.refusal("mule", 1, "mule1") is None
    assert localfns.refusal("mule", 1, "spooler") is not None


def test_trampoline_runs_this_process_copy_or_says_why():
    path = localfns.keep("unit_t", lambda n: n * 2, "test")
    fn = getattr(localfns, path.split(":")[1])
    assert fn(21) == 42
    with pytest.raises(LookupError, match="registered in another process"):
        localfns.fn_nobody(1)


def test_spool_dict_split_and_bytes_round_trip():
    opts, args = spooling.split({b"k": b"\xff\x00v", "s": "str", b"at": b"12.5",
                                 "priority": "3", b"body": b"B"})
    assert opts == {"at": 12.5, "priority": -3, "body": b"B"}
    assert spooling.decode_value(args["k"]) == b"\xff\x00v"
    assert spooling.decode_value(args["s"]) == b"str"
    with pytest.raises(TypeError, match="bytes or str"):
        spooling.split({b"k": object()})
    with pytest.raises(ValueError, match="priority"):
        spooling.split({b"priority": b"high"})


def test_locks_by_number():
    assert uw.lock_name() == "default" and uw.lock_name(3) == "uwsgi-3"
    with pytest.raises(ValueError):
        uw.lock_name(-1)
    with pytest.raises(TypeError):
        uw.lock_name("1")


def test_options_as_bytes():
    assert options.as_bytes(["a", 2, True]) == [b"a", b"2", b"true"]


def test_missing_names_raise_attribute_error_pointing_at_the_docs():
    for name in ("websocket_send", "rpc", "no_such_thing"):
        with pytest.raises(AttributeError, match="migrating-from-uwsgi"):
            getattr(uw, name)
    assert not hasattr(uw, "route")
    assert "cache_get" in missing.CACHE


def test_signal_number_refused_not_wrapped():
    with pytest.raises(ValueError):
        uw.register_signal(256, "", "x:y")


def test_options_table_in_the_config(tmp_path):
    from sigsup.config import ConfigError
    from sigsup.config.loader import parse_config
    cfg = parse_config('[options]\ngreeting = "hi"\nlevels = [1, 2]\nflag = true\n',
                       tmp_path / "t.toml", env={})
    assert dict(cfg.options) == {"greeting": "hi", "levels": (1, 2), "flag": True}
    opt = options.opt(cfg)
    assert (opt["greeting"], opt["levels"], opt["flag"]) == (b"hi", [b"1", b"2"], b"true")
    assert opt["processes"] == b"1"
    with pytest.raises(ConfigError, match=r"options\.nested"):
        parse_config("[options.nested]\na = 1\n", tmp_path / "t.toml", env={})
