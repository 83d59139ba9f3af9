"""``import sigsup`` inside the master, while it imports ``preload`` modules.

It reaches the master through the same two doors as every other caller: the command table
(master/commands.py) and ``MasterPort.raise_signal``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sigsup.context import Identity
from sigsup.errors import CommandFailed

if TYPE_CHECKING:
    from sigsup.master.commands import Commands
    from sigsup.master.port import MasterPort


class MasterRuntime:
    def __init__(self, master: MasterPort, commands: Commands) -> None:
        self.master = master
        self.commands = commands
        self.identity = Identity("master", 0, "master", master.pid)

    def call(self, cmd: str, **args: Any) -> dict[str, Any]:
        reply = self.commands.execute({"cmd": cmd, **args}, origin="master")
        if not reply.get("ok"):
            raise CommandFailed(str(reply.get("error")), reply)
        return reply

    def raise_signal(self, signum: int) -> dict[str, Any]:
        return self.master.raise_signal(signum, "master").as_dict()
