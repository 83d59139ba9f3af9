"""The colours of the status view (status/render.py and its tables).

Colour carries meaning but never alone: every state is also a word (``busy``, ``FAILED``...),
and numbers that are bad are also non-zero.
"""

from __future__ import annotations

STATE_STYLE = {
    "failed": "bold red", "backoff": "red", "busy": "yellow", "waiting": "cyan",
    "starting": "blue", "stopping": "magenta", "cheaped": "dim", "stopped": "dim",
    "idle": "green", "running": "green",
}
MASTER_STYLE = {"running": "bold green", "starting": "bold blue", "stopping": "bold yellow",
                "stopped": "bold red"}
TITLE = "bold cyan"
HEADER = "bold"
