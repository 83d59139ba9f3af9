"""The tree's shape (build_procs) and the respawn policy (respawn_delay, record_death)."""

from __future__ import annotations

from collections import deque

import pytest

from sigsup.master.tree import build_procs, record_death, respawn_delay
from sigsup.routing.states import ProcState
from sigsup.routing.targets import MULES, SPOOLERS, WORKERS, farm_group, spooler_group

from .fakes import make_config, short_socket_dir


@pytest.fixture
def sock_dir():
    import shutil

    d = short_socket_dir()
    yield d
    shutil.rmtree(d, ignore_errors=True)


FULL = """
[workers]
count = 3

[mules]
count = 4

[mules.main]
3 = "handlers:ticker"

[farms]
reports = [1, 2]
jobs = [2, 4]

[spoolers.default]
dir = "spool/default"
processes = 2

[spoolers.mail]
dir = "spool/mail"
"""


def test_build_procs_names_kinds_and_order(sock_dir) -> None:
    procs = build_procs(make_config(FULL, sock_dir))
    assert [p.name for p in procs] == [
        "spooler:default#1", "spooler:default#2", "spooler:mail#1",
        "worker1", "worker2", "worker3",
        "mule1", "mule2", "mule3", "mule4",
    ]
    assert [p.kind for p in procs] == ["spooler"] * 3 + ["worker"] * 3 + ["mule"] * 4
    assert [p.index for p in procs] == [1, 2, 1, 1, 2, 3, 1, 2, 3, 4]
    assert all(p.state is ProcState.STOPPED and p.pid == 0 and not p.ready for p in procs)


def test_build_procs_groups_with_farms(sock_dir) -> None:
    by_name = {p.name: p for p in build_procs(make_config(FULL, sock_dir))}
    assert by_name["worker2"].groups == (WORKERS,)
    assert by_name["mule1"].groups == (MULES, farm_group("reports"))
    assert by_name["mule2"].groups == (MULES, farm_group("reports"), farm_group("jobs"))
    assert by_name["mule3"].groups == (MULES,)
    assert by_name["mule4"].groups == (MULES, farm_group("jobs"))


def test_build_procs_programs(sock_dir) -> None:
    by_name = {p.name: p for p in build_procs(make_config(FULL, sock_dir))}
    assert by_name["mule3"].program == "handlers:ticker"
    assert [by_name[f"mule{i}"].program for i in (1, 2, 4)] == [None, None, None]
    assert by_name["worker1"].program is None


def test_build_procs_spoolers(sock_dir) -> None:
    procs = [p for p in build_procs(make_config(FULL, sock_dir)) if p.kind == "spooler"]
    assert [(p.spooler, p.groups) for p in procs] == [
        ("default", (SPOOLERS, spooler_group("default"))),
        ("default", (SPOOLERS, spooler_group("default"))),
        ("mail", (SPOOLERS, spooler_group("mail"))),
    ]
    assert [p.display for p in procs] == [p.name for p in procs]


def test_build_procs_defaults_to_one_worker(sock_dir) -> None:
    procs = build_procs(make_config("", sock_dir))
    assert [p.name for p in procs] == ["worker1"]


def test_build_procs_with_no_workers(sock_dir) -> None:
    procs = build_procs(make_config("[workers]\ncount = 0\n[mules]\ncount = 1\n", sock_dir))
    assert [p.name for p in procs] == ["mule1"]


def test_router_pools_follow_the_tree(sock_dir) -> None:
    from sigsup.routing.router import Router
    from sigsup.routing.table import SignalTable

    r = Router(SignalTable(), build_procs(make_config(FULL, sock_dir)), clock=lambda: 0.0)
    members = {g: [p.name for p in pool.members] for g, pool in r.pools.items()}
    assert members[farm_group("reports")] == ["mule1", "mule2"]
    assert members[farm_group("jobs")] == ["mule2", "mule4"]
    assert members[SPOOLERS] == ["spooler:default#1", "spooler:default#2", "spooler:mail#1"]
    assert members[spooler_group("mail")] == ["spooler:mail#1"]
    assert members[WORKERS] == ["worker1", "worker2", "worker3"]


# -- respawn policy ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("deaths", "delay"),
    [(0, 0.1), (1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.6), (8, 12.8), (9, 25.6),
     (10, 30.0), (11, 30.0), (1000, 30.0)],
)
def test_respawn_delay_doubles_and_caps(deaths: int, delay: float) -> None:
    assert respawn_delay(deaths, 0.1, 30.0) == pytest.approx(delay)


def test_respawn_delay_never_exceeds_the_cap_even_for_huge_counts() -> None:
    assert respawn_delay(10**9, 1.0, 5.0) == 5.0
    assert respawn_delay(3, 2.0, 1.0) == 1.0    # cap below the doubled base


def test_record_death_counts_deaths_in_the_window() -> None:
    deaths: deque[float] = deque()
    assert record_death(deaths, 100.0, 10.0) == 1
    assert record_death(deaths, 105.0, 10.0) == 2
    assert record_death(deaths, 110.0, 10.0) == 3     # 100 is exactly 10 s old: still counted
    assert record_death(deaths, 110.5, 10.0) == 3     # now 100 is forgotten
    assert list(deaths) == [105.0, 110.0, 110.5]


def test_record_death_forgets_everything_old() -> None:
    deaths: deque[float] = deque([1.0, 2.0, 3.0])
    assert record_death(deaths, 100.0, 10.0) == 1
    assert list(deaths) == [100.0]
