"""Mule messages: ``mule_msg``, ``farm_msg``, ``mule_get_msg``, ``in_farm``.

A message is ``bytes`` or ``str`` of at most ``MAX_MESSAGE`` bytes (a str counts its UTF-8
bytes); the receiver gets the same type back. It travels sender -> master -> mule and waits
in the master's bounded queues (see sigsup/mules/master.py); a refusal (full queue, no such
mule or farm, every mule of the target failed, the master stopping) raises
``MessageRefused`` in the sender.

A ``@sigsup.decorators.mulefunc`` call travels the same way; a mule runs it only if its
function is in ``context.process().mulefuncs`` there (its module imported in that mule),
never by importing what a message names. The mule's side is child.py.
"""

from __future__ import annotations

from typing import Any

from sigsup import client_runtime, context
from sigsup.errors import CommandFailed, NotInSigsup, SigsupError
from sigsup.mules.payload import MAX_MESSAGE, encode_payload

__all__ = ["MAX_MESSAGE", "MessageRefused", "farm_msg", "in_farm", "mule_get_msg", "mule_msg"]


class MessageRefused(SigsupError):
    """The master did not accept a mule message: full queue, unknown mule or farm, no
    mule able to receive it, or the master is stopping. Nothing was queued."""


def _check_target(target: Any) -> None:
    if target is None or isinstance(target, str):
        return
    if isinstance(target, bool) or not isinstance(target, int) or target < 0:
        raise TypeError(f"a message target is None (any mule), a mule id (1..N) or a farm "
                        f"name, not {target!r}")


def send(target: Any, **fields: Any) -> int:
    _check_target(target)
    try:
        reply = client_runtime.current().call("mule-msg", target=target, **fields)
    except CommandFailed as exc:
        raise MessageRefused(str(exc)) from None
    return int(reply.get("id", 0))


def mule_msg(msg: bytes | str, target: int | str | None = None) -> int:
    """Send ``msg`` to a mule: ``target`` None = any mule, N = mule N, "NAME" = any mule of
    farm NAME. Returns the message id once the master has queued or sent it; raises
    MessageRefused when it did not (never a silent drop)."""
    return send(target, kind="msg", **encode_payload(msg))


def farm_msg(farm: str, msg: bytes | str) -> int:
    """Send ``msg`` to one mule of farm ``farm`` (the first that can take it)."""
    if not isinstance(farm, str):
        raise TypeError(f"a farm is named by a string, not {farm!r}")
    return mule_msg(msg, farm)


def mule_get_msg(timeout: float | None = None, signals: bool = True,
                 farms: bool = True) -> bytes | str | None:
    """In a mule: wait for a message (for this mule, any mule, or, with ``farms``, one of
    its farms) and return it; None when ``timeout`` seconds pass first.

    While waiting, signals for this mule are handled (their handlers run) unless
    ``signals=False``, and ``@mulefunc`` calls are run.
    """
    rt = context.current_or_none()
    if rt is None or getattr(rt, "channel", None) is None or rt.identity.kind != "mule":
        raise NotInSigsup("mule_get_msg works only inside a mule")
    from sigsup.mules.child import get_msg
    return get_msg(rt, timeout, signals, farms)


def in_farm(name: str | None = None) -> bool:
    """True in a mule of farm ``name`` (of any farm when ``name`` is None)."""
    rt = context.current_or_none()
    if rt is None or rt.identity.kind != "mule":
        return False
    farms = rt.identity.farms
    return bool(farms) if name is None else name in farms
