"""The runtime the in-process API talks through (``current``), and the one of a process
outside the tree: a client of the master's control socket, found by the one rule of
``locate.py`` (``$SIGSUP_SOCKET``, else ``$SIGSUP_CONFIG``, else the one running master).

This module imports ``context``; ``context`` never imports it.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from sigsup import context
from sigsup.context import Identity, Runtime
from sigsup.errors import CommandFailed, NotInSigsup

CONFIG_ENV = "SIGSUP_CONFIG"


def client_name() -> str:
    """How the master names this client in its log: ``pid 123 (post.py)``."""
    argv0 = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"
    return f"pid {os.getpid()} ({argv0})"


def current() -> Runtime:
    """This process's runtime: the one installed (the master's, a child's), else a client of
    the master ``locate.find_socket`` finds, connected now and installed for the next calls.
    NotInSigsup, in one line, when no master can be chosen or none answers."""
    rt = context.current_or_none()
    if rt is None:
        from sigsup.config import ConfigError
        from sigsup.locate import LocateError, find_socket
        from sigsup.protocol.control import NoMaster
        try:
            path = str(find_socket(None, None))
            rt = ClientRuntime(path)
        except LocateError as exc:
            raise NotInSigsup(f"not inside a sigsup process, and {exc}") from None
        except ConfigError as exc:
            raise NotInSigsup(f"not inside a sigsup process, and ${CONFIG_ENV}: {exc}") from None
        except NoMaster as exc:
            raise NotInSigsup(str(exc)) from None
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
        self.name = client_name()
        reply = self.call("ping")
        self.identity = Identity("client", 0, "client", int(reply.get("pid", 0)))

    def call(self, cmd: str, **args: Any) -> dict[str, Any]:
        reply = self._request(self.path, {"cmd": cmd, "client": self.name, **args},
                              self.timeout)
        if not reply.get("ok"):
            raise CommandFailed(str(reply.get("error", "the master refused")), reply)
        return reply

    def raise_signal(self, signum: int) -> dict[str, Any]:
        reply = self._request(self.path, {"cmd": "raise", "signum": signum,
                                          "client": self.name}, self.timeout)
        if "result" not in reply:
            raise CommandFailed(str(reply.get("error", "the master refused")))
        return reply["result"]
