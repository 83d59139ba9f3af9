"""The config loader on hostile input: only ConfigError, never another exception.

Hypothesis drives three sources (tests/reliability/tomlgen.py): documents shaped like
sigsup's schema with good, nearly good and wrong values; arbitrary TOML documents; and
mutations of sigsup.toml.example. Whatever comes in, ``parse_config`` returns a Config or
raises ConfigError, whose problems can all be printed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sigsup.config import Config, ConfigError, format_problems, parse_config

from . import tomlgen
from .helpers import soaking

EXAMPLE = Path(__file__).resolve().parents[2] / "sigsup.toml.example"
SOAK = soaking()


def fuzz(ci: int) -> settings:
    """``ci`` examples, always the same ones (derandomized: CI never flakes); 20 times as
    many, fresh each run, when soaking."""
    return settings(max_examples=20 * ci if SOAK else ci, deadline=None, derandomize=not SOAK,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


def load(text: str, path: Path) -> Config | None:
    """parse_config, with every way out that is not a ConfigError reported as a failure."""
    try:
        config = parse_config(text, path, env={})
    except ConfigError as err:
        assert err.problems, "a ConfigError with no problem in it"
        for p in err.problems:
            assert isinstance(p.message, str) and p.message, p
            assert p.line is None or (isinstance(p.line, int) and p.line >= 1), p
        assert str(err)
        assert format_problems(err)
        return None
    assert isinstance(config, Config)
    return config


@pytest.fixture(scope="module")
def cfg_path(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzzcfg") / "fuzz.toml"


def test_the_example_loads(cfg_path):
    assert load(EXAMPLE.read_text(), EXAMPLE) is not None


@fuzz(150)
@given(doc=tomlgen.schema_docs, headers=st.booleans())
@example(doc={"signals": {"1" * 5000: {"handler": "a:b"}}}, headers=True)
@example(doc={"mules": {"count": 1, "main": {"0" * 5000 + "1": "a:b"}}}, headers=True)
@example(doc={"supervisor": {"shutdown_timeout": 10 ** 400}}, headers=True)
@example(doc={"workers": {"cheaper_idle": -(10 ** 400)}}, headers=True)
@example(doc={"monitors": [{"signal": 1, "path": "/tmp/" + "p" * 5000}],
              "signals": {"1": {"handler": "a:b"}}}, headers=True)
@example(doc={"monitors": [{"signal": 1, "path": "/" + "d/" * 3000}]}, headers=True)
@example(doc={"crons": [{"signal": 1, "schedule": "*/99999999999999999999 * * * *"}]},
         headers=True)
@example(doc={"crons": [{"signal": 1, "timezone": "A" * 300, "schedule": "@daily"}]},
         headers=False)
@example(doc={"crons": [{"signal": 1, "timezone": "UTC\x00", "schedule": "@daily"}]},
         headers=False)
def test_schema_shaped_documents(cfg_path, doc, headers):
    load(tomlgen.toml_doc(doc, headers), cfg_path)


@fuzz(150)
@given(doc=tomlgen.random_docs, headers=st.booleans())
def test_arbitrary_documents(cfg_path, doc, headers):
    load(tomlgen.toml_doc(doc, headers), cfg_path)


@fuzz(300)
@given(text=tomlgen.mutated(EXAMPLE.read_text()))
def test_mutations_of_the_example(text):
    load(text, EXAMPLE)


@fuzz(300)
@given(text=st.text(max_size=300) | st.binary(max_size=300).map(
    lambda b: b.decode("latin-1")))
@example(text="[workers]\ncount = " + "1" * 5000)              # int() refuses 4300+ digits
@example(text="[workers]\ncount = 0x" + "f" * 5000)           # tomllib reads it, str() cannot
@example(text="workers = " + "[" * 5000 + "]" * 5000)          # deeper than the recursion limit
@example(text="workers = " + "{a=" * 3000 + "1" + "}" * 3000)
@example(text="[signals." + "9" * 5000 + "]\nhandler = 'a:b'")
def test_arbitrary_text(cfg_path, text):
    load(text, cfg_path)
