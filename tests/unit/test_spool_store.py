"""The job store (sigsup/spool/store.py) with a fake clock: atomic writes, claims, the
retry schedule, priority order, dead letters, recovery of claims, work by hand."""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sigsup.spool.errors import SpoolError
from sigsup.spool.job import job_name, parse_name, parse_time
from sigsup.spool.policy import RetryPolicy
from sigsup.spool.store import FAILED, QUEUED, RUNNING, JobStore

from .fakes import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    """The store reads its wall clock (``clock.time``); tests move ``clock.wall``."""
    return FakeClock()


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> JobStore:
    return JobStore(tmp_path / "spool", "default", clock=clock.time, rng=lambda: 1.0)


def names(store: JobStore, state: str) -> list[str]:
    return sorted(os.listdir(store.dirs[state]))


# -- writing ----------------------------------------------------------------------------------


def test_put_writes_one_whole_job_and_nothing_else(store: JobStore, clock: FakeClock) -> None:
    body = bytes(range(256)) * 1000 + b"\n\x00no newline at the end"
    job_id = store.put({"to": "ann", "n": 3, "tags": ["a", "b"], "more": {"x": None}}, body,
                       priority=5)
    (name,) = names(store, QUEUED)
    e = parse_name(name)
    assert e is not None and (e.id, e.priority, e.due, e.attempts) == (job_id, 5, clock.wall, 0)
    assert names(store, "tmp") == [] and names(store, RUNNING) == [] and names(store, FAILED) == []
    job = store.read(QUEUED, e)
    assert job.args == {"to": "ann", "n": 3, "tags": ["a", "b"], "more": {"x": None}}
    assert job.body == body                      # bytes survive exactly
    assert (job.attempt, job.priority, job.spooler, job.history) == (1, 5, "default", [])
    assert oct(store.root.stat().st_mode & 0o777) == "0o700"
    assert oct((store.dirs[QUEUED] / name).stat().st_mode & 0o777) == "0o600"


def test_put_refuses_what_is_not_json_and_leaves_no_file(store: JobStore) -> None:
    with pytest.raises(TypeError, match="JSON values"):
        store.put({"f": object()})
    with pytest.raises(TypeError, match="JSON values"):
        store.put({"nan": float("nan")})
    with pytest.raises(TypeError, match="bytes"):
        store.put({}, body=12)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="priority"):
        store.put({}, priority=1.5)  # type: ignore[arg-type]
    assert not store.root.exists() or names(store, QUEUED) == []


def test_a_crash_before_the_rename_leaves_no_job(store: JobStore, monkeypatch) -> None:
    def boom(src, dst):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "rename", boom)
    with pytest.raises(OSError):
        store.put({"a": 1}, b"body")
    monkeypatch.undo()
    assert names(store, QUEUED) == [] and names(store, "tmp") == []


def test_a_stray_temp_file_is_cleaned_only_when_old(store: JobStore) -> None:
    store.ensure()
    stray = store.dirs["tmp"] / "6600000000000-deadbeef.tmp"
    stray.write_bytes(b'{"v":1')
    assert store.clean_tmp() == 0 and stray.exists()          # a writer may be at work
    old = os.stat(stray).st_mtime - 3600
    os.utime(stray, (old, old))
    assert store.clean_tmp() == 1 and not stray.exists()


def test_ids_sort_by_creation_even_within_one_microsecond(store: JobStore) -> None:
    ids = [store.put({"i": i}) for i in range(50)]       # the fake clock does not move
    assert ids == sorted(ids) and len(set(ids)) == 50


def test_at_accepts_unix_times_iso_and_datetimes(store: JobStore, clock: FakeClock) -> None:
    store.put({}, at=clock.wall + 30)
    store.put({}, at="2030-01-02T03:04:05Z")
    store.put({}, at=datetime(2031, 1, 1, tzinfo=timezone.utc))
    dues = sorted(e.due for e in store.entries(QUEUED))
    assert dues == [clock.wall + 30, parse_time("2030-01-02T03:04:05+00:00"),
                    datetime(2031, 1, 1, tzinfo=timezone.utc).timestamp()]
    with pytest.raises(ValueError, match="ISO 8601"):
        store.put({}, at="next tuesday")


@pytest.mark.parametrize("text,expect", [
    ("1700000000", 1_700_000_000.0), ("1700000000.5", 1_700_000_000.5),
    ("2024-05-01T06:00:00+00:00", 1714543200.0), ("2024-05-01T06:00:00Z", 1714543200.0),
])
def test_parse_time(text: str, expect: float) -> None:
    assert parse_time(text) == expect


def test_names_round_trip() -> None:
    n = job_name("0123456789abc-deadbeef", -7, 12.3456, 4)
    e = parse_name(n)
    assert e is not None and (e.id, e.priority, e.due, e.attempts, e.pid) == (
        "0123456789abc-deadbeef", -7, 12.346, 4, None)
    claimed = parse_name(n + "@4242")
    assert claimed is not None and claimed.pid == 4242
    assert parse_name("junk.job") is None and parse_name(n + ".tmp") is None


# -- order --------------------------------------------------------------------------------------


def test_priority_first_then_fifo_and_future_jobs_wait(store: JobStore, clock: FakeClock) -> None:
    a = store.put({"n": "a"})
    b = store.put({"n": "b"}, priority=10)
    c = store.put({"n": "c"})
    d = store.put({"n": "d"}, priority=10)
    later = store.put({"n": "later"}, priority=99, at=clock.wall + 5)
    low = store.put({"n": "low"}, priority=-3)
    order = []
    while (e := store.next_due(store.entries(QUEUED), clock.wall)) is not None:
        claimed = store.claim(e, 1)
        assert claimed is not None
        order.append(e.id)
        store.complete(claimed)
    assert order == [b, d, a, c, low]
    clock.wall += 5
    assert store.next_due(store.entries(QUEUED), clock.wall).id == later


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(-3, 3), st.integers(0, 3)), min_size=1, max_size=25))
def test_drain_order_is_priority_then_age_among_due(tmp_path_factory, jobs) -> None:
    clock = FakeClock()
    t0 = clock.wall
    store = JobStore(tmp_path_factory.mktemp("s"), "p", clock=clock.time)
    made = [(prio, delay, store.put({}, priority=prio, at=t0 + delay)) for prio, delay in jobs]
    ran: list[str] = []
    expected: list[str] = []
    for step in range(4):       # time advances second by second; each time drain what is due
        clock.wall = t0 + step
        expected += [i for _p, _d, i in sorted(
            ((p, d, i) for p, d, i in made if d <= step and i not in expected),
            key=lambda x: (-x[0], x[2]))]
        while (e := store.next_due(store.entries(QUEUED), clock.wall)) is not None:
            claimed = store.claim(e, 7)
            assert claimed is not None
            ran.append(e.id)
            store.complete(claimed)
    assert ran == expected and len(ran) == len(made)


# -- claims and outcomes ------------------------------------------------------------------


def test_a_job_is_claimed_by_one_process_only(store: JobStore) -> None:
    store.put({})
    (e,) = store.entries(QUEUED)
    first = store.claim(e, 100)
    assert first is not None and first.pid == 100
    assert store.claim(e, 200) is None
    assert names(store, QUEUED) == [] and names(store, RUNNING) == [e.name + "@100"]
    back = store.release(first)
    assert back.name == e.name and names(store, RUNNING) == []


def test_retry_schedule_backoff_cap_then_dead_letter(tmp_path: Path, clock: FakeClock) -> None:
    store = JobStore(tmp_path, "s", clock=clock.time, rng=lambda: 1.0)
    policy = RetryPolicy(max_retries=4, backoff=2.0, backoff_max=5.0)
    store.put({"x": 1}, b"payload")
    waits = []
    for attempt in range(1, 6):
        (e,) = store.entries(QUEUED)
        assert e.attempts == attempt - 1
        assert store.next_due([e], clock.wall) is not None, "due when its backoff ends"
        claimed = store.claim(e, 9)
        job = store.read(RUNNING, claimed)
        assert job.attempt == attempt and job.body == b"payload"
        state, ne = store.attempt_failed(claimed, {"outcome": "error",
                                                   "error": f"Traceback...\nValueError: {attempt}"},
                                         policy)
        if attempt <= 4:
            assert state == QUEUED
            waits.append(ne.due - clock.wall)
            assert store.next_due([ne], clock.wall) is None
            clock.wall = ne.due
        else:
            assert state == FAILED
    assert [round(w, 3) for w in waits] == [2.0, 4.0, 5.0, 5.0]    # doubled, capped
    assert names(store, QUEUED) == [] and names(store, RUNNING) == []
    (f,) = store.entries(FAILED)
    dead = store.read(FAILED, f)
    assert [h["attempt"] for h in dead.history] == [1, 2, 3, 4, 5]
    assert dead.history[-1]["error"].endswith("ValueError: 5") and dead.history[-1]["final"]
    assert dead.body == b"payload" and dead.args == {"x": 1}


def test_jitter_stays_between_half_and_all_of_the_backoff() -> None:
    p = RetryPolicy(max_retries=10, backoff=1.0, backoff_max=100.0)
    assert p.delay(3, lambda: 0.0) == 2.0 and p.delay(3, lambda: 1.0) == 4.0
    assert p.delay(1, lambda: 0.5) == 0.75
    assert p.delay(40, lambda: 1.0) == 100.0
    assert not p.exhausted(10) and p.exhausted(11)
    assert RetryPolicy(max_retries=0).exhausted(1)


def test_history_survives_a_torn_append(store: JobStore) -> None:
    store.put({}, b"body-without-newline")
    (e,) = store.entries(QUEUED)
    claimed = store.claim(e, 3)
    with open(store.path(RUNNING, claimed.name), "ab") as f:
        f.write(b'{"attempt": 1, "outc')        # a crash in the middle of a write
    store.attempt_failed(claimed, {"outcome": "died", "error": "killed"}, RetryPolicy())
    (e2,) = store.entries(QUEUED)
    job = store.read(QUEUED, e2)
    assert job.body == b"body-without-newline"
    assert [h["outcome"] for h in job.history] == ["died"]


# -- recovery -------------------------------------------------------------------------------------


def test_reclaim_counts_an_attempt_only_when_the_handler_had_started(store: JobStore) -> None:
    for i in range(4):
        store.put({"i": i})
    es = sorted(store.entries(QUEUED), key=lambda e: e.id)
    alive = store.claim(es[0], 10)                  # its process still runs
    started = store.claim(es[1], 11)                # died in its handler
    unstarted = store.claim(es[2], 12)              # died between claim and handler
    assert alive and started and unstarted
    policy = RetryPolicy(max_retries=3, backoff=1.0)
    moved = store.reclaim(lambda pid: pid == 10,
                          lambda e: {"outcome": "died", "error": "SIGKILL"} if e.pid == 11 else None,
                          policy)
    assert sorted((e.id, state) for e, state in moved) == sorted(
        [(es[1].id, QUEUED), (es[2].id, "released")])
    assert [e.name for e in store.entries(RUNNING)] == [alive.name]
    by_id = {e.id: e for e in store.entries(QUEUED)}
    assert by_id[es[1].id].attempts == 1 and by_id[es[1].id].due > store.clock()
    assert by_id[es[2].id].attempts == 0 and by_id[es[2].id].name == es[2].name
    assert store.read(QUEUED, by_id[es[1].id]).history[-1]["error"] == "SIGKILL"


def test_reclaim_dead_letters_when_retries_are_used_up(store: JobStore) -> None:
    store.put({})
    (e,) = store.entries(QUEUED)
    store.claim(e, 5)
    moved = store.reclaim(lambda pid: False, lambda e: {"outcome": "died"},
                          RetryPolicy(max_retries=0))
    assert [s for _e, s in moved] == [FAILED] and len(store.entries(FAILED)) == 1


def test_every_job_is_in_exactly_one_place_whatever_the_interleaving(store: JobStore,
                                                                       clock: FakeClock) -> None:
    """Claims, retries, dead letters, reclaims and manual moves of many jobs, in a random but
    fixed order: at every point, each id is in one directory, once."""
    import random
    rnd = random.Random(7)
    ids = {store.put({"i": i}, priority=rnd.randint(-2, 2)) for i in range(40)}
    policy = RetryPolicy(max_retries=2, backoff=0.0001, backoff_max=0.0001)
    for _ in range(400):
        clock.wall += 0.01
        action = rnd.random()
        queued = store.entries(QUEUED)
        running = store.entries(RUNNING)
        if action < 0.4 and queued:
            store.claim(rnd.choice(queued), rnd.choice([1, 2, 3]))
        elif action < 0.6 and running:
            store.attempt_failed(rnd.choice(running), {"outcome": "error"}, policy)
        elif action < 0.7 and running:
            store.reclaim(lambda pid: pid != 2, lambda e: {"outcome": "died"}, policy)
        elif action < 0.8 and store.entries(FAILED):
            store.retry(rnd.choice(store.entries(FAILED)).id)
        elif action < 0.85 and running:
            done = rnd.choice(running)
            store.complete(done)
            ids.discard(done.id)
        seen = [e.id for s in (QUEUED, RUNNING, FAILED) for e in store.entries(s)]
        assert len(seen) == len(set(seen)) and set(seen) == ids


# -- by hand --------------------------------------------------------------------------------------


def test_retry_by_hand_gives_a_failed_job_fresh_retries(store: JobStore, clock: FakeClock) -> None:
    jid = store.put({"k": "v"})
    (e,) = store.entries(QUEUED)
    store.attempt_failed(store.claim(e, 1), {"outcome": "error", "error": "x"},
                         RetryPolicy(max_retries=0))
    before, ne = store.retry(jid[:8])
    assert before == FAILED and (ne.attempts, ne.due) == (0, clock.wall)
    job = store.read(QUEUED, ne)
    assert job.history[-1]["by"] == "sigsup jobs retry" and job.history[0]["error"] == "x"


def test_retry_makes_a_waiting_job_due_now_and_keeps_its_attempts(store: JobStore, clock: FakeClock) -> None:
    jid = store.put({})
    (e,) = store.entries(QUEUED)
    store.attempt_failed(store.claim(e, 1), {"outcome": "error"}, RetryPolicy(backoff=60.0))
    (waiting,) = store.entries(QUEUED)
    assert waiting.due > clock.wall
    before, ne = store.retry(jid)
    assert before == QUEUED and ne.due == clock.wall and ne.attempts == 1


def test_drop_and_the_running_job_that_cannot_be_touched(store: JobStore) -> None:
    a = store.put({})
    b = store.put({})
    (eb,) = [e for e in store.entries(QUEUED) if e.id == b]
    store.claim(eb, 77)
    with pytest.raises(SpoolError, match="running now"):
        store.drop(b)
    with pytest.raises(SpoolError, match="running now"):
        store.retry(b)
    assert store.drop(a)[0] == QUEUED and store.entries(QUEUED) == []
    with pytest.raises(SpoolError, match="no job"):
        store.drop(a)


def test_find_needs_an_unambiguous_prefix(store: JobStore) -> None:
    ids = [store.put({}) for _ in range(3)]
    with pytest.raises(SpoolError, match="matches 3 jobs"):
        store.find(ids[0][:4])
    assert store.find(ids[1])[1].id == ids[1]


def test_counts_come_from_names_alone(store: JobStore, clock: FakeClock) -> None:
    store.put({})
    store.put({}, at=clock.wall + 100)
    jid = store.put({})
    (e,) = [e for e in store.entries(QUEUED) if e.id == jid]
    store.attempt_failed(store.claim(e, 1), {"outcome": "error"}, RetryPolicy(backoff=10.0))
    running = store.put({})
    (e2,) = [x for x in store.entries(QUEUED) if x.id == running]
    store.claim(e2, 2)
    # corrupt the header of one file: counting must not care
    (any_queued,) = [x for x in store.entries(QUEUED) if x.due > clock.wall + 50]
    store.path(QUEUED, any_queued.name).write_bytes(b"garbage")
    assert store.counts() == {"queued": 3, "due": 1, "running": 1, "retrying": 1, "failed": 0}


def test_an_unreadable_header_is_an_error_not_a_crash(store: JobStore) -> None:
    store.put({})
    (e,) = store.entries(QUEUED)
    store.path(QUEUED, e.name).write_bytes(b"not json\n")
    with pytest.raises(SpoolError, match="bad header"):
        store.read(QUEUED, e)
    claimed = store.claim(e, 1)
    store.dead_letter(claimed, {"outcome": "unreadable", "error": "bad header"})
    assert len(store.entries(FAILED)) == 1


def test_header_is_one_json_line(store: JobStore) -> None:
    store.put({"multi": "line\nvalue", "uni": "é"}, b"x")
    (e,) = store.entries(QUEUED)
    first = store.path(QUEUED, e.name).read_bytes().split(b"\n", 1)[0]
    header = json.loads(first)
    assert header["args"] == {"multi": "line\nvalue", "uni": "é"} and header["body_len"] == 1


def test_a_job_is_never_due_before_its_at_and_a_plain_one_is_due_at_once(store, clock) -> None:
    clock.wall = 1_700_000_000.0004
    store.put({}, at=clock.wall + 10.0004)
    store.put({})
    later, now_ = sorted(store.entries(QUEUED), key=lambda e: -e.due)
    assert later.due >= clock.wall + 10.0004 and later.due - (clock.wall + 10.0004) < 0.001
    assert now_.due <= clock.wall
