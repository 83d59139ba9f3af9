"""The layers of the house hold: the import-linter contracts in pyproject.toml all pass.

This is how CI enforces docs/architecture.md: a module that imports upward, a feature that
imports the master's loop, or a cycle between the modules of a package fails this test.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_are_kept() -> None:
    if os.environ.get("CI") != "true":   # under CI a missing linter fails below
        pytest.importorskip("importlinter", reason="import-linter is in the test extra: "
                            "pip install -e '.[test]'")
    run = subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
         "sys.exit(lint_imports_command())"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout, run.stdout
