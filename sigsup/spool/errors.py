"""What the spool raises: ``SpoolError``, and ``SpoolWriteError`` when a job cannot be
written (README.md documents it as importable from sigsup.spool.store, which uses it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sigsup.spool.store import JobStore


class SpoolError(Exception):
    """A job could not be written, found or changed; the message says why."""


class SpoolWriteError(SpoolError, OSError):
    """A job could not be written (a full disk, a quota, permissions): nothing was queued.
    Also an OSError, with the ``errno`` of the cause."""

    @classmethod
    def of(cls, store: JobStore, exc: OSError) -> SpoolWriteError:
        err = cls(f"spooler {store.spooler!r}: job not queued: cannot write it in "
                  f"{store.root}: {exc.strerror or exc}")
        err.errno = exc.errno
        return err
