"""Fixtures of the reliability suite: the end-to-end harness's, and the soak switch.

``--soak`` (registered here; give it with ``pytest tests/reliability --soak``) or
``SIGSUP_SOAK=1`` in the environment (works however pytest is started) turns on the long
variants: the 10-minute load soak, more fuzzing examples, longer abuse.
"""

from __future__ import annotations

import os

import pytest

# the e2e harness's fixtures, re-exported (pytest collects fixtures from this namespace)
from e2e.conftest import apps_dir, master_factory, poll  # noqa: F401

from .helpers import SOAK_ENV, soaking


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--soak", action="store_true", default=False,
                     help="reliability suite: run the long variants (10-minute load soak, "
                          "more fuzzing); same as SIGSUP_SOAK=1")


def pytest_configure(config: pytest.Config) -> None:
    # module-level switches (hypothesis settings) read the environment: --soak sets it
    if soaking(config):
        os.environ[SOAK_ENV] = "1"


@pytest.fixture
def soak(request: pytest.FixtureRequest) -> bool:
    """True when the long variants are asked for."""
    return soaking(request.config)
