"""The runtime of a process outside the tree: it talks to the master's control socket."""

from __future__ import annotations

from typing import Any

from sigsup.context import Identity
from sigsup.errors import CommandFailed
from sigsup.protocol.control import request


class ClientRuntime:
    def __init__(self, socket_path: str, timeout: float = 10.0) -> None:
        self.path = socket_path
        self.timeout = timeout
        reply = self.call("ping")
        self.identity = Identity("client", 0, "client", int(reply.get("pid", 0)))

    def call(self, cmd: str, **args: Any) -> dict[str, Any]:
        reply = request(self.path, {"cmd": cmd, **args}, self.timeout)
        if not reply.get("ok"):
            raise CommandFailed(str(reply.get("error", "the master refused")))
        return reply

    def raise_signal(self, signum: int) -> dict[str, Any]:
        reply = request(self.path, {"cmd": "raise", "signum": signum}, self.timeout)
        if "result" not in reply:
            raise CommandFailed(str(reply.get("error", "the master refused")))
        return reply["result"]
