"""Post a message to the chat room: python examples/chat/post.py "hello"."""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

if "SIGSUP_SOCKET" not in os.environ:       # the master started from ./sigsup.toml
    from sigsup.locate import find_socket
    os.environ["SIGSUP_SOCKET"] = str(find_socket(None, str(HERE / "sigsup.toml")))

import chat  # noqa: E402

chat.post(" ".join(sys.argv[1:]) or "hello")
print("posted")
