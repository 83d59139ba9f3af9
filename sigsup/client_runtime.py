"""The runtime the in-process API talks through (``current``), and the one of a process
outside the tree: a client of the master's control socket (``$SIGSUP_SOCKET``).

This module imports ``context``; ``context`` never imports it.
"""

from __future__ import annotations

import os
from typing import Any

from sigsup import context
from sigsup.context import Identity, Runtime
from sigsup.errors import CommandFailed, NotInSigsup


def current() -> Runtime:
    """This process's runtime: the one installed (the master's, a child's), else a client of
    the master at ``$SIGSUP_SOCKET``, connected now and installed for the next calls."""
    rt = context.current_or_none()
    if rt is None:
        path = os.environ.get("SIGSUP_SOCKET")
        if not path:
            raise NotInSigsup(
                "not inside a sigsup process: run this code under 'sigsup start', or set "
                "SIGSUP_SOCKET to a master's control socket")
        rt = ClientRuntime(path)
        context.install(rt)
    return rt


class ClientRuntime:
    def __init__(self, socket_path: str, timeout: float = 10.0) -> None:
        # imported here: ``import sigsup`` does not pay for the socket client in a process
        # that never connects as one
        from sigsup.protocol.control import request
        self._request = request
        self.path = socket_path
        self.timeout = timeout
        reply = self.call("ping")
        self.identity = Identity("client", 0, "client", int(reply.get("pid", 0)))

    def call(self, cmd: str, **args: Any) -> dict[str, Any]:
        reply = self._request(self.path, {"cmd": cmd, **args}, self.timeout)
        if not reply.get("ok"):
            raise CommandFailed(str(reply.get("error", "the master refused")), reply)
        return reply

    def raise_signal(self, signum: int) -> dict[str, Any]:
        reply = self._request(self.path, {"cmd": "raise", "signum": signum}, self.timeout)
        if "result" not in reply:
            raise CommandFailed(str(reply.get("error", "the master refused")))
        return reply["result"]
