"""Calls the master makes at a monotonic instant (``MasterPort.call_at``): a heap."""

from __future__ import annotations

import heapq
from collections.abc import Callable

from sigsup.master.port import Scheduled


class Calls:
    def __init__(self) -> None:
        self._heap: list[Scheduled] = []

    def __bool__(self) -> bool:
        return bool(self._heap)

    def at(self, when: float, fn: Callable[[], None]) -> Scheduled:
        item = Scheduled(when, fn)
        heapq.heappush(self._heap, item)
        return item

    def next_at(self) -> float | None:
        while self._heap and self._heap[0].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0].when if self._heap else None

    def run_due(self, now: float) -> None:
        heap = self._heap
        while heap and heap[0].when <= now:
            item = heapq.heappop(heap)
            if not item.cancelled:
                item.fn()
