"""The services some tests need (PostgreSQL, Redis on loopback), and what a test does when
one does not answer: skip with the reason on a developer's machine, fail under CI
(``CI=true``: ``.ci/run`` starts them first, so one that is down there is a real failure).

    dsn = need_postgres()     # "host=127.0.0.1 port=5432 dbname=test user=root"
    url = need_redis()        # "redis://127.0.0.1:6379/0"

The addresses can be changed with ``SIGSUP_TEST_PG_DSN`` and ``SIGSUP_TEST_REDIS_URL``.
The check is a TCP connection and one protocol exchange (a libpq connection for PostgreSQL,
PING for Redis) with a short timeout; its result is kept for the test session.
"""

from __future__ import annotations

import functools
import os
import socket
from urllib.parse import urlsplit

import pytest

__all__ = ["need_postgres", "need_redis", "under_ci"]

PG_DSN = "host=127.0.0.1 port=5432 dbname=test user=root connect_timeout=3"
REDIS_URL = "redis://127.0.0.1:6379/0"
TIMEOUT = 3.0


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _unavailable(what: str, why: str) -> None:
    message = f"{what} is not reachable ({why})"
    if under_ci():
        pytest.fail(f"{message}: under CI (CI=true) the services must run (.ci/run starts "
                    "them)", pytrace=False)
    pytest.skip(f"{message}; start it, or set CI=true to make this a failure")


@functools.cache
def _postgres_problem(dsn: str) -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed: pip install 'psycopg[binary]'"
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        return " ".join(str(exc).split()) or type(exc).__name__
    return None


@functools.cache
def _redis_problem(url: str) -> str | None:
    u = urlsplit(url)
    host, port = u.hostname or "127.0.0.1", u.port or 6379
    try:
        with socket.create_connection((host, port), timeout=TIMEOUT) as s:
            s.settimeout(TIMEOUT)
            s.sendall(b"*1\r\n$4\r\nPING\r\n")
            reply = s.recv(64)
    except OSError as exc:
        return f"{host}:{port}: {exc.strerror or exc}"
    if not reply.startswith((b"+PONG", b"-NOAUTH")):
        return f"{host}:{port} answered {reply[:40]!r} to PING"
    return None


def need_postgres() -> str:
    """The test PostgreSQL's connection string (libpq key=value form), or skip (fail under
    CI) with the reason it cannot be reached."""
    dsn = os.environ.get("SIGSUP_TEST_PG_DSN", PG_DSN)
    problem = _postgres_problem(dsn)
    if problem is not None:
        _unavailable(f"PostgreSQL ({dsn})", problem)
    return dsn


def need_redis() -> str:
    """The test Redis's URL, or skip (fail under CI) with the reason it cannot be reached."""
    url = os.environ.get("SIGSUP_TEST_REDIS_URL", REDIS_URL)
    problem = _redis_problem(url)
    if problem is not None:
        _unavailable(f"Redis ({url})", problem)
    return url
