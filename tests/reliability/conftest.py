"""Fixtures of the reliability suite: the soak switch (``master_factory``, ``apps_dir`` and
``poll`` come from tests/conftest.py, shared with the end-to-end suite).

``--soak`` (registered here; give it with ``pytest tests/reliability --soak``) or
``SIGSUP_SOAK=1`` in the environment (works however pytest is started) turns on the long
variants: the 10-minute load soak, more fuzzing examples, longer abuse.
"""

from __future__ import annotations

import os

import pytest

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
