"""``sigsup convert uwsgi.ini``: a uWSGI ini file -> an equivalent sigsup.toml.

ini.py reads the file (sections, repeated keys, substitutions), mapping.py turns uWSGI's
options into sigsup's tables and lists what it cannot carry over, toml_out.py writes the
text. All three are pure; the command is sigsup/cli_convert.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .ini import parse_ini
from .mapping import convert_options
from .toml_out import render

__all__ = ["Conversion", "convert_ini"]


@dataclass(frozen=True)
class Conversion:
    toml: str
    skipped: list[str]      # options not carried over, each with its reason
    problems: list[str]     # of the ini itself (substitutions, a missing section)
    ok: bool                # False: nothing could be read


def convert_ini(text: str, path: Path, env: Mapping[str, str], section: str = "uwsgi",
                ) -> Conversion:
    ini = parse_ini(text, path, env, section)
    conv = convert_options(ini.options, path, ini.referenced)
    head = [f"sigsup.toml converted by `sigsup convert` from {Path(path).absolute()}"
            + ("" if section == "uwsgi" else f" [{section}]"), ""]
    if conv.notes:
        head += ["Carried over with a difference:"] + [f"  {n}" for n in conv.notes] + [""]
    if conv.skipped:
        head += [f"Not carried over: {len(conv.skipped)} option"
                 f"{'' if len(conv.skipped) == 1 else 's'} (listed with the reasons on "
                 "stderr by sigsup convert)", ""]
    tail = ["# -- to finish by hand --\n" + "\n".join(conv.sketches)] if conv.sketches else []
    return Conversion(render(conv.doc, head, tail), conv.skipped, ini.problems,
                      ini.section_found)
