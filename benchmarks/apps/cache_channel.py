"""The master-channel prototype of the cache, kept for the benchmark only: the values live
in a dict in the master, and a process asks for each get and set with a call frame
(``bench-cache-get`` / ``bench-cache-set``). Run as ``python -m benchmarks.apps.cache_channel
CONFIG``: a ``sigsup start`` whose master has this extension besides the usual features.
It has no bounds and no expiry (each would only add to its cost): it measures the floor of
"asking the master", against the shared-memory cache that sigsup keeps."""

from __future__ import annotations

import sys
from typing import Any

from sigsup.app import FEATURES, build_master
from sigsup.config import load_config
from sigsup.master.log import Log
from sigsup.master.port import Command, Extension


class ChannelCache(Extension):
    name = "bench_channel_cache"

    def __init__(self, master: Any) -> None:
        super().__init__(master)
        self.data: dict[str, str] = {}

    def commands(self) -> dict[str, Command]:
        return {"bench-cache-get": self.get, "bench-cache-set": self.set}

    def get(self, msg: dict[str, Any], origin: str) -> dict[str, Any]:
        return {"ok": True, "value": self.data.get(msg["key"])}

    def set(self, msg: dict[str, Any], origin: str) -> dict[str, Any]:
        self.data[msg["key"]] = msg["value"]
        return {"ok": True}


def main() -> None:
    path = sys.argv[1]
    master = build_master(load_config(path), log=Log(level="warning"),
                          features=(*FEATURES, ChannelCache))
    master.install_runtime()
    load_config(path, check_imports=True)
    sys.exit(master.run())


if __name__ == "__main__":
    main()
