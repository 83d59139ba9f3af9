"""A module that must never be imported by a spooler or a mule because of what a job or a
message says. Importing it leaves a file behind: ``$E2E_OUT``'s directory / SENTINEL-<pid>."""

import os
from pathlib import Path

_out = os.environ.get("E2E_OUT")
if _out:
    (Path(_out).parent / f"SENTINEL-{os.getpid()}").write_text("imported\n")


def boom(*args, **kwargs):
    if _out:
        (Path(_out).parent / f"SENTINEL-CALLED-{os.getpid()}").write_text("called\n")
    return None
