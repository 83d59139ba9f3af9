"""The value checks of ``[[pgnotify]]``: pure functions like those of
:mod:`sigsup.config.convert`, apart so that PostgreSQL's rules stay in one place.

A connection string is read by libpq's own parser (through psycopg, the optional
``postgres`` extra), so what ``sigsup check`` accepts is what the listener can use. A
password is refused in the file: it goes in an environment variable named by
``password_env`` (or libpq's own ``PGPASSWORD`` / ``~/.pgpass``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from .convert import Invalid, describe, string

__all__ = ["CHANNEL_MAX", "PAYLOADS", "conninfo", "env_name", "pg_channel", "psycopg_missing"]

CHANNEL_MAX = 63          # bytes: PostgreSQL's NAMEDATALEN - 1
PAYLOADS: tuple[str, ...] = ("text", "json")
_ENV = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
NO_PASSWORD = ("a password does not belong in the config file: put it in an environment "
               "variable and name it in password_env (or use ~/.pgpass)")


def psycopg_missing() -> str | None:
    """Why [[pgnotify]] cannot be used on this machine, or None when psycopg 3 is there."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return ("[[pgnotify]] needs psycopg 3, which is not installed: "
                "pip install 'sigsup[postgres]' (or 'psycopg[binary]')")
    return None


def pg_channel(v: Any) -> str:
    """A channel name as LISTEN takes it (quoted by the listener: case is kept)."""
    name = string(v)
    if not name:
        raise Invalid("a channel name cannot be empty")
    if "\0" in name:
        raise Invalid("a channel name cannot contain a NUL character")
    size = len(name.encode())
    if size > CHANNEL_MAX:
        raise Invalid(f"a channel name is at most {CHANNEL_MAX} bytes (PostgreSQL cuts longer "
                      f"identifiers); {json.dumps(name)} has {size}")
    return name


def env_name(v: Any) -> str:
    """The name of an environment variable."""
    name = string(v)
    if not _ENV.fullmatch(name):
        raise Invalid(f"{json.dumps(name)} is not an environment variable name "
                      "(letters, digits and '_', not starting with a digit)")
    return name


def conninfo(v: Any) -> str:
    """A libpq connection string (``host=... dbname=...``) or URI (``postgresql://...``),
    checked by libpq's parser, with no password in it."""
    if not isinstance(v, str):
        raise Invalid(f"expected a connection string such as 'postgresql://localhost/app' or "
                      f"'host=localhost dbname=app', got {describe(v)}")
    missing = psycopg_missing()
    if missing:
        raise Invalid(missing)
    from psycopg import Error
    from psycopg.conninfo import conninfo_to_dict
    try:
        params = conninfo_to_dict(v)
    except Error as exc:
        raise Invalid(f"invalid connection string: {str(exc).strip() or type(exc).__name__}"
                      ) from None
    if params.get("password"):
        raise Invalid(NO_PASSWORD)
    return v.strip()
