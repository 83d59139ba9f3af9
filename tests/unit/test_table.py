"""The signal table: 256 entries, registration at run time, counters that outlive entries."""

from __future__ import annotations

import pytest

from sigsup.routing.table import SIGNALS, Counters, SignalTable, check_signum
from sigsup.routing.targets import TreeShape, resolve_target

SHAPE = TreeShape(workers=2, mules=1)


def target(raw: str = "worker"):
    return resolve_target(raw, SHAPE)


@pytest.mark.parametrize("num", [0, 1, 17, 255])
def test_check_signum_accepts_0_to_255(num: int) -> None:
    assert check_signum(num) == num


@pytest.mark.parametrize("num", [256, -1, 1000, 2**40])
def test_check_signum_rejects_out_of_range_without_wrapping(num: int) -> None:
    with pytest.raises(ValueError, match=rf"signal {num} is out of range: signal numbers are 0..255"):
        check_signum(num)


@pytest.mark.parametrize("num", [True, False, "3", 3.0, None, b"\x03"])
def test_check_signum_rejects_non_integers(num: object) -> None:
    with pytest.raises(ValueError, match="a signal number is an integer 0..255, not"):
        check_signum(num)


def test_a_fresh_table_has_256_unregistered_entries() -> None:
    t = SignalTable()
    assert len(t.entries) == SIGNALS == 256
    assert [e.num for e in t.entries] == list(range(256))
    assert not any(e.registered for e in t.entries)
    assert t.registered() == []
    assert t.handlers() == {}
    assert t.seen() == []


def test_register_and_lookup() -> None:
    t = SignalTable()
    e = t.register(17, "pkg.mod:fn", target("workers"), "coalesce", source="config")
    assert t[17] is e
    assert e.registered
    assert (e.handler, str(e.target), e.on_full, e.source) == ("pkg.mod:fn", "workers", "coalesce",
                                                              "config")
    assert t.handlers() == {17: "pkg.mod:fn"}
    assert t.registered() == [e]
    assert e.as_dict()["target"] == "workers"


def test_register_default_source_and_policy() -> None:
    e = SignalTable().register(3, "m:f", target())
    assert (e.on_full, e.source) == ("reject", "runtime")


def test_register_rejects_bad_on_full_and_bad_numbers() -> None:
    t = SignalTable()
    with pytest.raises(ValueError, match="on_full must be one of reject, coalesce, not 'drop'"):
        t.register(1, "m:f", target(), "drop")
    for bad in (256, -1, True, "3"):
        with pytest.raises(ValueError):
            t.register(bad, "m:f", target())  # type: ignore[arg-type]
    assert t.registered() == []


def test_unregister() -> None:
    t = SignalTable()
    t.register(5, "m:f", target())
    assert t.unregister(5) is True
    assert not t[5].registered
    assert t[5].target is None and t[5].handler is None
    assert t.unregister(5) is False     # nothing to remove
    assert t.unregister(6) is False
    with pytest.raises(ValueError):
        t.unregister(256)


def test_counters_survive_reregistration_and_unregistration() -> None:
    t = SignalTable()
    t.register(9, "m:a", target())
    c = t[9].counters
    c.raised, c.handled, c.failed, c.dropped, c.coalesced, c.delivered = 5, 3, 1, 1, 2, 4
    t.register(9, "m:b", target("workers"), "coalesce")
    assert t[9].handler == "m:b"
    assert t[9].counters is c
    t.unregister(9)
    assert t[9].counters is c
    t.register(9, "m:c", target())
    assert t[9].counters.as_dict() == {"raised": 5, "delivered": 4, "handled": 3, "failed": 1,
                                       "dropped": 1, "coalesced": 2, "last_raised": None}


def test_seen_lists_registered_and_raised_numbers() -> None:
    t = SignalTable()
    t.register(20, "m:f", target())
    t[30].counters.raised = 1
    t.register(40, "m:f", target())
    t.unregister(40)
    assert [e.num for e in t.seen()] == [20, 30]


def test_entry_as_dict_for_an_unregistered_number() -> None:
    d = SignalTable()[7].as_dict()
    assert d["num"] == 7 and d["handler"] is None and d["target"] is None
    assert d["source"] == "none"
    assert d["raised"] == 0


def test_counters_default_to_zero() -> None:
    assert Counters().as_dict() == {"raised": 0, "delivered": 0, "handled": 0, "failed": 0,
                                    "dropped": 0, "coalesced": 0, "last_raised": None}
