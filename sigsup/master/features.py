"""The features that plug into the master (see master/extension.py), built from the config."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sigsup.master.loop import Master


def build_extensions(master: Master) -> list[Any]:
    """One object per feature; each reads what it needs from ``master.config``."""
    extensions: list[Any] = []
    from sigsup.status.monitor import StatusMonitor  # raises/s, RSS/CPU, refusals, `events`
    extensions.append(StatusMonitor(master))
    from sigsup.sources.scheduler import Scheduler  # timers, rb_timers, crons, file monitors
    extensions.append(Scheduler(master))
    from sigsup.spool.master import SpoolExtension  # spooler processes, jobs on disk
    extensions.append(SpoolExtension(master))
    from sigsup.mules.master import MessageExtension  # mule_msg / farm_msg queues
    extensions.append(MessageExtension(master))
    from sigsup.decorators import DecoratorsExtension  # @timer & co. met before the master ran
    extensions.append(DecoratorsExtension(master))
    return extensions
