"""Security: who may talk to the master, where its socket lives, and what a job may make a
spooler (or a message a mule) do.

- a client of another uid is refused, even when the socket file lets it connect;
- the socket is 0600 and its directory 0700, by default and for a configured path in a
  fresh directory; a socket directory another user prepared is not used;
- a job file or a job's arguments never make the spooler import or run anything that is
  not configured (a sentinel module leaves a file if anything imports it); a crafted or
  damaged job file is dead-lettered, it does not crash the spooler again and again.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import time
import uuid
from pathlib import Path

import pytest
from harness import read_records, wait_for
from trees import workers

from sigsup.protocol.control import Decoder, encode

from .helpers import sup

NOBODY = 65534

TREE = workers(1, {7: "worker"})

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: the test switches "
                               "to another uid (nobody) for the client")


def as_nobody(sock_path: Path, request: dict) -> dict:
    """Connect to ``sock_path`` from a forked child running as nobody; send ``request``.
    Returns {"connect": errno name or "ok", "replies": [...], "closed": bool}."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:                           # the child: drop to nobody, then try
        code = 0
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            out: dict = {"connect": "ok", "replies": [], "closed": False}
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(5)
            try:
                s.connect(str(sock_path))
            except OSError as exc:
                out["connect"] = type(exc).__name__
            else:
                try:
                    s.sendall(encode(request))
                except OSError as exc:
                    out["send"] = type(exc).__name__
                dec = Decoder()
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline:
                    try:
                        chunk = s.recv(65536)
                    except TimeoutError:
                        break
                    except OSError:
                        out["closed"] = True
                        break
                    if not chunk:
                        out["closed"] = True
                        break
                    out["replies"].extend(dec.feed(chunk))
            os.write(w, json.dumps(out).encode())
        except BaseException as exc:  # noqa: BLE001 - report anything to the parent
            os.write(w, json.dumps({"error": repr(exc)}).encode())
            code = 1
        finally:
            os._exit(code)
    os.close(w)
    data = b""
    try:
        while chunk := os.read(r, 65536):
            data += chunk
    finally:
        os.close(r)
        _, status = os.waitpid(pid, 0)
    result = json.loads(data)
    assert "error" not in result, result
    return result


def mode(p: Path) -> int:
    return stat.S_IMODE(p.lstat().st_mode)


@pytest.fixture
def shared_dir():
    """A fresh directory under /tmp that nobody may traverse (0711), removed afterwards."""
    d = Path("/tmp") / f"sigsup-rel-{uuid.uuid4().hex[:10]}"
    d.mkdir(mode=0o711)
    os.chmod(d, 0o711)
    try:
        yield d
    finally:
        for p in sorted(d.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if p.is_dir() and not p.is_symlink():
                p.rmdir()
            else:
                p.unlink(missing_ok=True)
        d.rmdir()


# -- the peer's uid -----------------------------------------------------------------------------

@root_only
def test_a_client_of_another_uid_is_refused(master_factory, shared_dir):
    """nobody cannot reach the socket (0600 in a 0700 directory); and when the file modes
    are opened up by hand, the master still refuses it by its uid (SO_PEERCRED) and runs
    none of what it asked."""
    sock_dir = shared_dir / "run"
    m = master_factory(TREE, sup=sup(socket=str(sock_dir / "m.sock")))
    assert mode(sock_dir) == 0o700 and mode(m.sock) == 0o600
    got = as_nobody(m.sock, {"cmd": "raise", "signum": 7})
    assert got["connect"] == "PermissionError", got

    os.chmod(sock_dir, 0o755)
    os.chmod(m.sock, 0o666)
    try:
        for req in ({"cmd": "raise", "signum": 7}, {"cmd": "stop"},
                    {"cmd": "register", "signum": 9, "handler": "sentinel_mod:boom"}):
            got = as_nobody(m.sock, req)
            assert got["connect"] == "ok", got
            assert got["closed"], got
            assert len(got["replies"]) == 1 and got["replies"][0]["ok"] is False, got
            assert f"uid {NOBODY}" in got["replies"][0]["error"], got
    finally:
        os.chmod(m.sock, 0o600)
        os.chmod(sock_dir, 0o700)
    st = m.status()
    assert st["master"]["state"] == "running"
    assert st["master"]["raised"] == 0, "a refused client's raise was carried out"
    assert not any(s["num"] == 9 for s in st["signals"])
    assert m.request({"cmd": "ping"})["ok"]        # its own uid still gets in


# -- modes of the socket and its directory -------------------------------------------------------

def test_default_socket_directory_is_0700_and_socket_0600(master_factory, tmp_path):
    """No `socket` in the config: $XDG_RUNTIME_DIR/sigsup/NAME.sock, the directory made
    0700 (whatever the umask), the socket 0600."""
    xdg = tmp_path / "xdg"
    xdg.mkdir(mode=0o755)
    m = master_factory(TREE, sup=sup(), env={"XDG_RUNTIME_DIR": str(xdg)}, start=False)
    _drop_socket_setting(m, xdg / "sigsup" / "e2e.sock")
    old = os.umask(0)
    try:
        m.start()
    finally:
        os.umask(old)
    assert (xdg / "sigsup").is_dir()
    assert mode(xdg / "sigsup") == 0o700, oct(mode(xdg / "sigsup"))
    assert mode(m.sock) == 0o600, oct(mode(m.sock))
    assert m.status()["master"]["socket"] == str(m.sock)


def test_configured_socket_in_a_fresh_directory(master_factory, shared_dir):
    sock = shared_dir / "a" / "b" / "m.sock"
    old = os.umask(0)
    try:
        master_factory(TREE, sup=sup(socket=str(sock)))
    finally:
        os.umask(old)
    assert mode(sock.parent) == 0o700, oct(mode(sock.parent))
    assert mode(sock) == 0o600, oct(mode(sock))
    # the lock files and cron state the master keeps next to its socket are its own too
    for p in sock.parent.iterdir():
        assert p.lstat().st_uid == os.geteuid(), p
        assert mode(p) & 0o077 == 0, (p, oct(mode(p)))


@root_only
@pytest.mark.parametrize("prepared", ["other-owner", "world-writable"])
def test_a_socket_directory_another_user_prepared_is_not_used(master_factory, tmp_path,
                                                              prepared):
    """Someone made $XDG_RUNTIME_DIR/sigsup before the master (the /tmp/sigsup-UID attack:
    who owns or can write the directory can swap the socket for their own): the master
    does not put its socket there."""
    xdg = tmp_path / "xdg"
    xdg.mkdir(mode=0o755)
    d = xdg / "sigsup"
    d.mkdir()
    if prepared == "other-owner":
        os.chown(d, NOBODY, NOBODY)
        os.chmod(d, 0o700)
    else:
        os.chmod(d, 0o777)
    m = master_factory(TREE, sup=sup(), env={"XDG_RUNTIME_DIR": str(xdg)}, start=False)
    _drop_socket_setting(m, d / "e2e.sock")
    m.start(wait=False)
    code = m.wait_exit(20)
    assert code != 0, "the master ran with its socket in a directory it does not control"
    assert not (d / "e2e.sock").exists()
    assert str(d) in m.log(), m.log()[-2000:]


def _drop_socket_setting(m, sock: Path) -> None:
    lines = m.cfg.read_text().splitlines(keepends=True)
    m.cfg.write_text("".join(x for x in lines if not x.startswith("socket = ")))
    m.sock = sock


# -- what a job may make a spooler do ------------------------------------------------------------

SPOOL_TREE = """
[workers]
count = 1

[mules]
count = 1

[spoolers.default]
dir = "spool"
handler = "spool_jobs:run"
max_retries = 0
"""


def _job_file(spool: Path, header: dict | bytes, body: bytes = b"", prio: int = 0,
              due_ms: int | None = None, history: bytes = b"") -> str:
    """Write a job file by hand (as an attacker with write access to jobs/ would)."""
    job_id = f"{int(time.time() * 1e6):013x}-{os.urandom(4).hex()}"
    if isinstance(header, dict):
        header = json.dumps({"v": 1, "id": job_id, "body_len": len(body), **header}).encode()
    due = int(time.time() * 1000) - 1000 if due_ms is None else due_ms
    name = f"{job_id}_p{prio}_d{due}_a0.job"
    tmp = spool / "tmp" / (name + ".tmp")
    tmp.write_bytes(header + b"\n" + body + history)
    os.rename(tmp, spool / "jobs" / name)
    return job_id


def test_a_job_cannot_make_the_spooler_import_anything(master_factory):
    """Jobs that name a module in every field a job has (task, args, spooler, id...), and
    job files with broken headers: the sentinel module is never imported; each job either
    runs the configured handler or is dead-lettered; the spooler process never dies."""
    m = master_factory(SPOOL_TREE, sup=sup())
    spool = m.dir / "spool"
    wait_for(lambda: (spool / "jobs").is_dir(), 10, "the spool directory")
    evil = "sentinel_mod:boom"
    by_task = _job_file(spool, {"task": evil, "args": {}})
    by_task_mod = _job_file(spool, {"task": "sentinel_mod", "args": {}})
    by_args = _job_file(spool, {"args": {"handler": evil, "task": evil, "fn": evil,
                                         "module": "sentinel_mod", "__import__": "sentinel_mod",
                                         "do": "ok"}})
    by_spooler = _job_file(spool, {"spooler": "sentinel_mod", "args": {"do": "ok"}})
    bad = {
        "priority": _job_file(spool, {"priority": "sentinel_mod", "args": {}}),
        "created": _job_file(spool, {"created": "sentinel_mod", "args": {}}),
        "created-list": _job_file(spool, {"created": [], "args": {}}),
        "args-list": _job_file(spool, {"args": ["sentinel_mod"]}),
        "not-json": _job_file(spool, b"{sentinel_mod"),
        "huge-body": _job_file(spool, {"body_len": 10 ** 12, "args": {}}),
        "negative-body": _job_file(spool, {"body_len": -5, "args": {}}),
        "nested": _job_file(spool, b'{"body_len": 0, "args": ' + b"[" * 50_000 + b"]" * 50_000
                            + b"}"),
    }
    # damaged history and a due time no calendar holds: `sigsup jobs` still lists them
    far = _job_file(spool, {"args": {}}, due_ms=10 ** 30)
    odd_history = _job_file(spool, {"args": {}}, prio=-5, due_ms=int(time.time() * 1000) + 3_600_000,
                            history=b'{"error": 5}\n{"error": ["x"]}\n[1]\n' + b"[" * 50_000 + b"\n")
    for args in (["jobs"], ["jobs", "--json"], ["jobs", "default", "--limit", "1000"]):
        r = m.cli(*args, "-c", str(m.cfg), socket=False)
        assert r.returncode == 0, (args, r.stderr[-3000:])
        assert far[:13] in r.stdout and odd_history[:13] in r.stdout, (args, r.stdout[-2000:])
    for job in (far, odd_history):
        r = m.cli("jobs", "drop", job, "-c", str(m.cfg), socket=False)
        assert r.returncode == 0, r.stderr
    # the CLI and the API take the same arguments from a user: they are data too
    r = m.cli("spool", "default", f"task={evil}", "do=ok", f"handler={evil}", "-c", str(m.cfg),
              socket=False)
    assert r.returncode == 0, r.stderr
    by_cli = r.stdout.strip()
    good = _job_file(spool, {"args": {"do": "ok", "n": 1}})

    everything = {by_task, by_task_mod, by_args, by_spooler, by_cli, good, *bad.values()}

    def settled():
        left = [p.name for d in ("jobs", "running", "tmp") for p in (spool / d).iterdir()]
        return not left
    wait_for(settled, 30, "every job to run or be dead-lettered")
    failed = {p.name.split("_")[0] for p in (spool / "failed").iterdir()}
    ran = {x["id"] for x in read_records(m.out) if x.get("ev") == "end"}
    assert ran | failed == everything, (everything - ran - failed)
    assert {good, by_args, by_spooler, by_cli} <= ran
    assert {by_task, by_task_mod} <= failed
    assert set(bad.values()) <= failed | ran, bad
    sentinels = list(m.dir.glob("SENTINEL*"))
    assert not sentinels, f"a job made a process import sentinel_mod: {sentinels}"
    st = m.status()
    sp = m.proc_status("spooler:default#1", st)
    assert sp["respawns"] == 0 and sp["state"] == "running", sp
    # a mule is told to call a function by a message: it runs only @mulefunc functions
    r = m.request({"cmd": "mule-msg", "kind": "call", "fn": evil, "args": [], "kwargs": {}})
    assert r["ok"], r
    m.wait_log("not a @mulefunc function", timeout=10)
    assert not list(m.dir.glob("SENTINEL*"))
    assert m.proc_status("mule1")["respawns"] == 0

