"""One cache as a fixed-slot hash table in a flat writable buffer (an ``mmap`` shared by
every process of the tree, or a ``bytearray`` in tests).

The caller holds the cache's lock around every call; nothing here locks, opens a file or
reads a clock of its own (``now`` is passed in), so the table is tested with a fake clock.

Layout (little endian, all offsets fixed by the bounds written in the header)::

    header      32 unsigned 64-bit words: magic, bounds, counts, counters (H_* below)
    index       NINDEX int32: 0 empty, -1 deleted, k+1 item slot k (open addressing,
                linear probing on the key's crc32; NINDEX is a power of two >= 2 x items)
    free        ITEMS+1 int32: a stack of the free item slots (FREE_TOP of them)
    slots       ITEMS+1 x SLOT bytes: crc32 u32, key length u16, value length u32 and the
                expiry time f64 (0: never), then the key, then the value

A set writes the entry into a free slot first and then points the index at it with one
aligned 4-byte store (a replaced entry's old slot is freed after): a process killed in the
middle of a set (harakiri, SIGKILL; the kernel drops its lock) leaves the old entry or the new
one, never a mix. One slot more than ``items`` makes that possible when the cache is full.

Bounds: at most ``items`` entries, ``max_bytes`` of keys and values together, a value of at
most ``max_item_bytes``, a key of at most ``MAX_KEY`` bytes. A set that would pass a bound
raises ``CacheFull`` naming the cache and the bound (expired entries are purged first).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["MAX_KEY", "Bounds", "CacheFull", "Table", "size_for"]

MAGIC = int.from_bytes(b"SIGSUPC1", "little")
MAX_KEY = 250
HEADER_WORDS = 32
HEADER = HEADER_WORDS * 8
ITEM = struct.Struct("<IHxxId")   # crc32, key length, value length, expiry (0: never)
ITEM_HEAD = 24

# header words
H_MAGIC, H_OWNER, H_ITEMS, H_MAX_BYTES, H_MAX_ITEM, H_NINDEX, H_SLOT = range(7)
H_COUNT, H_USED, H_TOMBS, H_FREE_TOP = range(7, 11)
H_HITS, H_MISSES, H_SETS, H_REPLACED, H_DELETES, H_FULL, H_EXPIRED, H_CLEARS = range(11, 19)

EMPTY = 0
DELETED = -1


@dataclass(frozen=True)
class Bounds:
    items: int
    max_bytes: int
    max_item_bytes: int


class CacheFull(Exception):
    """A set refused by one of the cache's bounds (``bound``: "items", "max_bytes" or
    "max_item_bytes"; ``limit``: its value)."""

    def __init__(self, cache: str, bound: str, limit: int, message: str) -> None:
        super().__init__(message)
        self.cache = cache
        self.bound = bound
        self.limit = limit


def _nindex(items: int) -> int:
    n = 8
    while n < 2 * items:
        n *= 2
    return n


def _slot_size(max_item_bytes: int) -> int:
    return (ITEM_HEAD + MAX_KEY + max_item_bytes + 7) // 8 * 8


def size_for(b: Bounds) -> int:
    """The bytes of a buffer holding a cache with bounds ``b``."""
    return (HEADER + 4 * (_nindex(b.items) + b.items + 1)
            + (b.items + 1) * _slot_size(b.max_item_bytes))


def format_buffer(buf: Any, b: Bounds, owner: int) -> None:
    """Write an empty table for ``b`` into ``buf`` (at least ``size_for(b)`` bytes, zeroed)."""
    head = memoryview(buf)[:HEADER].cast("Q")
    nindex = _nindex(b.items)
    head[H_ITEMS] = b.items
    head[H_MAX_BYTES] = b.max_bytes
    head[H_MAX_ITEM] = b.max_item_bytes
    head[H_NINDEX] = nindex
    head[H_SLOT] = _slot_size(b.max_item_bytes)
    head[H_OWNER] = owner
    total = b.items + 1
    free = memoryview(buf)[HEADER + 4 * nindex:HEADER + 4 * (nindex + total)].cast("i")
    for i in range(total):
        free[i] = total - 1 - i
    head[H_FREE_TOP] = total
    head.release()
    free.release()
    memoryview(buf)[:HEADER].cast("Q")[H_MAGIC] = MAGIC   # last: the table is whole


class Table:
    """The operations on one formatted buffer. ``name`` is used in messages only."""

    def __init__(self, buf: Any, name: str) -> None:
        self.buf = buf
        self.name = name
        self.head = memoryview(buf)[:HEADER].cast("Q")
        if self.head[H_MAGIC] != MAGIC:
            raise ValueError(f"cache {name!r}: not a sigsup cache (bad magic)")
        h = self.head
        self.items = h[H_ITEMS]
        self.nindex = h[H_NINDEX]
        self.mask = self.nindex - 1
        self.slot = h[H_SLOT]
        self.bounds = Bounds(h[H_ITEMS], h[H_MAX_BYTES], h[H_MAX_ITEM])
        self.index = memoryview(buf)[HEADER:HEADER + 4 * self.nindex].cast("i")
        f0 = HEADER + 4 * self.nindex
        self.free = memoryview(buf)[f0:f0 + 4 * (self.items + 1)].cast("i")
        self.slots0 = f0 + 4 * (self.items + 1)

    @property
    def owner(self) -> int:
        return self.head[H_OWNER]

    # -- lookups -------------------------------------------------------------------------

    def _find(self, key: bytes, crc: int) -> tuple[int, int]:
        """(item slot or -1, index position: of the item, else where to insert it)."""
        buf, index, mask = self.buf, self.index, self.mask
        i = crc & mask
        insert = -1
        klen = len(key)
        for _ in range(self.nindex):
            v = index[i]
            if v == EMPTY:
                return -1, (i if insert < 0 else insert)
            if v == DELETED:
                if insert < 0:
                    insert = i
            else:
                off = self.slots0 + (v - 1) * self.slot
                h, kl, _vl, _exp = ITEM.unpack_from(buf, off)
                if h == crc and kl == klen and buf[off + ITEM_HEAD:off + ITEM_HEAD + kl] == key:
                    return v - 1, i
            i = (i + 1) & mask
        return -1, insert   # pragma: no cover - the index is never full (2 x items)

    def _live(self, key: bytes, now: float) -> tuple[int, int, int]:
        """(slot or -1, index position, crc) of ``key``, an expired entry removed."""
        crc = zlib.crc32(key)
        slot, pos = self._find(key, crc)
        if slot >= 0:
            exp = ITEM.unpack_from(self.buf, self.slots0 + slot * self.slot)[3]
            if exp and exp <= now:
                self._remove(slot, pos)
                self.head[H_EXPIRED] += 1
                slot, pos = self._find(key, crc)
        return slot, pos, crc

    def get(self, key: bytes, now: float) -> bytes | None:
        slot, _pos, _crc = self._live(key, now)
        if slot < 0:
            self.head[H_MISSES] += 1
            return None
        self.head[H_HITS] += 1
        off = self.slots0 + slot * self.slot
        _h, kl, vl, _exp = ITEM.unpack_from(self.buf, off)
        start = off + ITEM_HEAD + kl
        return bytes(self.buf[start:start + vl])

    def exists(self, key: bytes, now: float) -> bool:
        return self._live(key, now)[0] >= 0

    # -- changes -------------------------------------------------------------------------

    def put(self, key: bytes, value: bytes, expires_at: float, now: float, *,
            replace: bool) -> bool:
        """Store ``value`` under ``key`` (expiring at ``expires_at``; 0: never). With
        ``replace`` False an existing key is left alone and False returned."""
        b = self.bounds
        if len(value) > b.max_item_bytes:
            self.head[H_FULL] += 1
            raise CacheFull(self.name, "max_item_bytes", b.max_item_bytes,
                            f"cache {self.name!r}: a value of {len(value)} bytes is over its "
                            f"max_item_bytes ({b.max_item_bytes})")
        slot, pos, crc = self._live(key, now)
        old = 0
        if slot >= 0:
            if not replace:
                return False
            off = self.slots0 + slot * self.slot
            old = len(key) + ITEM.unpack_from(self.buf, off)[2]
        need = len(key) + len(value)
        if slot < 0 and self.head[H_COUNT] >= b.items and self.purge(now):
            slot, pos, crc = self._live(key, now)
        if slot < 0 and self.head[H_COUNT] >= b.items:
            self.head[H_FULL] += 1
            raise CacheFull(self.name, "items", b.items,
                            f"cache {self.name!r} is full: {b.items} items (its items bound); "
                            "delete some, let them expire, or raise [caches."
                            f"{self.name}] items")
        if self.head[H_USED] - old + need > b.max_bytes and self.purge(now):
            slot, pos, crc = self._live(key, now)
            old = 0 if slot < 0 else old
        if self.head[H_USED] - old + need > b.max_bytes:
            self.head[H_FULL] += 1
            raise CacheFull(self.name, "max_bytes", b.max_bytes,
                            f"cache {self.name!r} is full: {self.head[H_USED]} of its "
                            f"max_bytes ({b.max_bytes}) used, {need} more needed; delete "
                            f"some, or raise [caches.{self.name}] max_bytes")
        top = self.head[H_FREE_TOP] - 1
        new = self.free[top]
        self.head[H_FREE_TOP] = top
        off = self.slots0 + new * self.slot
        ITEM.pack_into(self.buf, off, crc, len(key), len(value), expires_at)
        k0 = off + ITEM_HEAD
        self.buf[k0:k0 + len(key)] = key
        self.buf[k0 + len(key):k0 + need] = value
        if slot < 0:
            if self.index[pos] == DELETED:
                self.head[H_TOMBS] -= 1
            self.index[pos] = new + 1          # the entry appears whole
            self.head[H_COUNT] += 1
        else:
            self.index[pos] = new + 1          # the new entry replaces the old whole
            self.free[top] = slot
            self.head[H_FREE_TOP] = top + 1
            self.head[H_REPLACED] += 1
        self.head[H_USED] += need - old
        self.head[H_SETS] += 1
        return True

    def number(self, key: bytes, op: str, operand: int, expires_at: float, now: float) -> int:
        """Apply ``op`` ("inc", "dec", "mul", "div") to the signed 64-bit number stored
        under ``key`` (8 bytes, little endian; a missing key counts as 0) in one step under
        the caller's lock; the new value. A value that is not 8 bytes is a ValueError."""
        cur = self.get(key, now)
        n = 0
        if cur is not None:
            if len(cur) != 8:
                raise ValueError(f"cache {self.name!r}: the value of {key!r} is {len(cur)} "
                                 "bytes, not an 8-byte number (set by cache_inc and friends)")
            n = int.from_bytes(cur, "little", signed=True)
        if op == "inc":
            n += operand
        elif op == "dec":
            n -= operand
        elif op == "mul":
            n *= operand
        elif op == "div":
            q = abs(n) // abs(operand)                         # ZeroDivisionError for 0
            n = q if (n < 0) == (operand < 0) else -q          # truncated, as C does
        else:
            raise ValueError(f"unknown operation {op!r}")
        n = (n + 2**63) % 2**64 - 2**63                       # wraps as int64 does
        self.put(key, n.to_bytes(8, "little", signed=True), expires_at, now, replace=True)
        return n

    def delete(self, key: bytes, now: float) -> bool:
        slot, pos, _crc = self._live(key, now)
        if slot < 0:
            return False
        self._remove(slot, pos)
        self.head[H_DELETES] += 1
        return True

    def clear(self) -> int:
        n = 0
        for slot, pos in list(self._entries()):
            self._remove(slot, pos, rebuild=False)
            n += 1
        self._rebuild()
        self.head[H_CLEARS] += 1
        return n

    def purge(self, now: float) -> int:
        """Remove every expired entry; how many."""
        n = 0
        for slot, pos in list(self._entries()):
            exp = ITEM.unpack_from(self.buf, self.slots0 + slot * self.slot)[3]
            if exp and exp <= now:
                self._remove(slot, pos, rebuild=False)
                n += 1
        if n:
            self.head[H_EXPIRED] += n
            self._maybe_rebuild()
        return n

    def keys(self, now: float) -> list[bytes]:
        self.purge(now)
        out = []
        for slot, _pos in self._entries():
            off = self.slots0 + slot * self.slot
            kl = ITEM.unpack_from(self.buf, off)[1]
            out.append(bytes(self.buf[off + ITEM_HEAD:off + ITEM_HEAD + kl]))
        return out

    def items_now(self, now: float) -> list[tuple[bytes, bytes, float]]:
        """(key, value, expiry) of every live entry."""
        self.purge(now)
        out = []
        for slot, _pos in self._entries():
            off = self.slots0 + slot * self.slot
            _h, kl, vl, exp = ITEM.unpack_from(self.buf, off)
            k0 = off + ITEM_HEAD
            out.append((bytes(self.buf[k0:k0 + kl]), bytes(self.buf[k0 + kl:k0 + kl + vl]), exp))
        return out

    def stats(self) -> dict[str, int]:
        h = self.head
        return {"items": h[H_COUNT], "bytes": h[H_USED], "max_items": h[H_ITEMS],
                "max_bytes": h[H_MAX_BYTES], "max_item_bytes": h[H_MAX_ITEM],
                "hits": h[H_HITS], "misses": h[H_MISSES], "sets": h[H_SETS],
                "replaced": h[H_REPLACED], "deletes": h[H_DELETES], "expired": h[H_EXPIRED],
                "full": h[H_FULL], "clears": h[H_CLEARS]}

    # -- internals -----------------------------------------------------------------------

    def _entries(self) -> Iterator[tuple[int, int]]:
        index = self.index
        for pos in range(self.nindex):
            v = index[pos]
            if v > 0:
                yield v - 1, pos

    def _remove(self, slot: int, pos: int, *, rebuild: bool = True) -> None:
        off = self.slots0 + slot * self.slot
        _h, kl, vl, _exp = ITEM.unpack_from(self.buf, off)
        self.index[pos] = DELETED
        self.head[H_TOMBS] += 1
        top = self.head[H_FREE_TOP]
        self.free[top] = slot
        self.head[H_FREE_TOP] = top + 1
        self.head[H_COUNT] -= 1
        self.head[H_USED] -= kl + vl
        if rebuild:
            self._maybe_rebuild()

    def _maybe_rebuild(self) -> None:
        if self.head[H_TOMBS] > self.nindex // 4:
            self._rebuild()

    def _rebuild(self) -> None:
        """Rehash the live entries into a fresh index (no deleted marks left)."""
        live = [slot for slot, _pos in self._entries()]
        index, mask = self.index, self.mask
        for pos in range(self.nindex):
            index[pos] = EMPTY
        for slot in live:
            crc = ITEM.unpack_from(self.buf, self.slots0 + slot * self.slot)[0]
            i = crc & mask
            while index[i] != EMPTY:
                i = (i + 1) & mask
            index[i] = slot + 1
        self.head[H_TOMBS] = 0
