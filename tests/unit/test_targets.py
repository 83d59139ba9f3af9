"""Targets: every documented form parses to the right scope/group/index; binding against the
tree names what exists."""

from __future__ import annotations

import pytest

from sigsup.routing.targets import (
    ACTIVE,
    BROADCAST,
    MULES,
    POOL,
    PROCESS,
    SPOOLERS,
    TARGET_FORMS,
    WORKERS,
    Target,
    TargetError,
    TreeShape,
    bind_target,
    farm_group,
    parse_target,
    resolve_target,
    spooler_group,
)

SHAPE = TreeShape(workers=4, mules=3, farms=("reports", "jobs"), spoolers=("default", "mail"))


@pytest.mark.parametrize(
    ("raw", "scope", "group", "index"),
    [
        ("worker", POOL, WORKERS, 0),
        ("worker0", POOL, WORKERS, 0),
        ("", POOL, WORKERS, 0),
        ("worker1", PROCESS, WORKERS, 1),
        ("worker4", PROCESS, WORKERS, 4),
        ("worker12", PROCESS, WORKERS, 12),
        ("workers", BROADCAST, WORKERS, 0),
        ("active-workers", ACTIVE, WORKERS, 0),
        ("mule", POOL, MULES, 0),
        ("mule0", POOL, MULES, 0),
        ("mule1", PROCESS, MULES, 1),
        ("mule3", PROCESS, MULES, 3),
        ("mules", BROADCAST, MULES, 0),
        ("farm1", POOL, "farm#", 1),
        ("farm2", POOL, "farm#", 2),
        ("farm_reports", POOL, farm_group("reports"), 0),
        ("spooler", POOL, SPOOLERS, 0),
        ("spoolers", BROADCAST, SPOOLERS, 0),
        ("spooler_default", POOL, spooler_group("default"), 0),
        ("spooler_mail", POOL, spooler_group("mail"), 0),
    ],
)
def test_parse_every_form(raw: str, scope: str, group: str, index: int) -> None:
    t = parse_target(raw)
    assert (t.scope, t.group, t.index) == (scope, group, index)


def test_empty_target_means_worker_and_keeps_a_readable_raw() -> None:
    t = parse_target("")
    assert t.raw == "worker"
    assert str(t) == "worker"


def test_raw_is_kept_for_display() -> None:
    assert str(parse_target("farm_reports")) == "farm_reports"
    assert parse_target("worker0").raw == "worker0"


def test_surrounding_whitespace_is_ignored() -> None:
    assert parse_target("  workers ").scope == BROADCAST


def test_group_helpers() -> None:
    assert farm_group("x") == "farm:x"
    assert spooler_group("x") == "spooler:x"


def test_every_documented_form_is_accepted() -> None:
    for form in TARGET_FORMS:
        name = "default" if form.startswith("spooler") else "reports"
        concrete = form.replace("NAME", name).replace("N", "2")
        resolve_target(concrete, SHAPE)  # no TargetError


@pytest.mark.parametrize(
    "raw",
    ["wrker", "worker-1", "workerx", "farm", "farm_", "spooler_", "mule_1", "WORKER", "worker 1",
     "farms", "all", "*", "1"],
)
def test_bad_forms_raise_target_error_listing_the_forms(raw: str) -> None:
    with pytest.raises(TargetError) as info:
        parse_target(raw)
    msg = str(info.value)
    assert repr(raw.strip()) in msg or repr(raw) in msg
    assert "targets are:" in msg
    for form in ("worker", "workerN", "active-workers", "farm_NAME", "spooler_NAME"):
        assert form in msg


def test_bad_form_gets_a_did_you_mean_hint() -> None:
    with pytest.raises(TargetError, match=r"did you mean 'workers'\?"):
        parse_target("wrokers")
    with pytest.raises(TargetError, match=r"did you mean 'active-workers'\?"):
        parse_target("active-worker")


def test_farm0_says_farms_start_at_1() -> None:
    with pytest.raises(TargetError, match="farms are numbered from 1"):
        parse_target("farm0")


@pytest.mark.parametrize("raw", [17, None, 1.5, b"worker", ["worker"]])
def test_non_string_target(raw: object) -> None:
    with pytest.raises(TargetError, match="a target is a string, not"):
        parse_target(raw)  # type: ignore[arg-type]


def test_target_error_is_a_value_error() -> None:
    assert issubclass(TargetError, ValueError)


# -- binding -------------------------------------------------------------------------------


def test_bind_worker_out_of_range_names_the_count() -> None:
    with pytest.raises(TargetError) as info:
        resolve_target("worker9", SHAPE)
    assert str(info.value) == "no worker 9 (workers.count is 4)"


def test_bind_worker_in_range_and_pool_and_broadcast() -> None:
    assert resolve_target("worker4", SHAPE) == Target("worker4", PROCESS, WORKERS, 4)
    assert resolve_target("worker", SHAPE).scope == POOL
    assert resolve_target("workers", SHAPE).scope == BROADCAST
    assert resolve_target("active-workers", SHAPE).scope == ACTIVE


@pytest.mark.parametrize("raw", ["worker", "worker1", "workers", "active-workers", ""])
def test_bind_worker_targets_without_workers(raw: str) -> None:
    with pytest.raises(TargetError, match="needs workers, but workers.count is 0"):
        resolve_target(raw, TreeShape(workers=0, mules=2))


def test_bind_mule_out_of_range_names_the_count() -> None:
    with pytest.raises(TargetError) as info:
        resolve_target("mule4", SHAPE)
    assert str(info.value) == "no mule 4 (mules.count is 3)"


@pytest.mark.parametrize("raw", ["mule", "mule0", "mule1", "mules"])
def test_bind_mule_targets_without_mules(raw: str) -> None:
    with pytest.raises(TargetError, match="needs mules, but mules.count is 0"):
        resolve_target(raw, TreeShape(workers=1))


def test_bind_farm_n_becomes_its_farm_name() -> None:
    t = resolve_target("farm2", SHAPE)
    assert t == Target("farm2", POOL, farm_group("jobs"), 0)
    assert str(t) == "farm2"
    assert resolve_target("farm1", SHAPE).group == farm_group("reports")


def test_bind_farm_index_out_of_range_lists_the_farms() -> None:
    with pytest.raises(TargetError) as info:
        resolve_target("farm3", SHAPE)
    assert str(info.value) == "no farm 3 (2 farms declared: reports, jobs)"


def test_bind_farm_index_with_one_or_no_farm() -> None:
    with pytest.raises(TargetError) as info:
        resolve_target("farm2", TreeShape(workers=1, mules=1, farms=("only",)))
    assert str(info.value) == "no farm 2 (1 farm declared: only)"
    with pytest.raises(TargetError) as info:
        resolve_target("farm1", TreeShape(workers=1, mules=1))
    assert str(info.value) == "no farm 1 (0 farms declared)"


def test_bind_farm_name_unknown_lists_the_farms_with_a_hint() -> None:
    with pytest.raises(TargetError) as info:
        resolve_target("farm_report", SHAPE)
    msg = str(info.value)
    assert "no farm named 'report'" in msg
    assert "did you mean 'reports'?" in msg
    assert "(farms: reports, jobs)" in msg


def test_bind_farm_name_without_farms() -> None:
    with pytest.raises(TargetError, match=r"no farm named 'x' \(farms: none declared\)"):
        resolve_target("farm_x", TreeShape(workers=1))


def test_bind_spooler_targets() -> None:
    assert resolve_target("spooler", SHAPE).group == SPOOLERS
    assert resolve_target("spoolers", SHAPE).scope == BROADCAST
    assert resolve_target("spooler_mail", SHAPE).group == spooler_group("mail")


@pytest.mark.parametrize("raw", ["spooler", "spoolers"])
def test_bind_spooler_without_spoolers(raw: str) -> None:
    with pytest.raises(TargetError, match="needs a spooler, but none is declared"):
        resolve_target(raw, TreeShape(workers=1))


def test_bind_spooler_name_unknown_lists_the_spoolers() -> None:
    with pytest.raises(TargetError) as info:
        resolve_target("spooler_mails", SHAPE)
    msg = str(info.value)
    assert "no spooler named 'mails'" in msg
    assert "did you mean 'mail'?" in msg
    assert "(spoolers: default, mail)" in msg
    with pytest.raises(TargetError, match=r"\(spoolers: none declared\)"):
        resolve_target("spooler_x", TreeShape(workers=1))


def test_bind_is_idempotent_for_bound_targets() -> None:
    for raw in ("worker", "worker2", "workers", "mule1", "farm1", "farm_jobs", "spooler_mail"):
        t = resolve_target(raw, SHAPE)
        assert bind_target(t, SHAPE) == t
