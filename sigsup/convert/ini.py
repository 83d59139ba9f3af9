"""A uWSGI ini file -> its options, in order, with uWSGI's substitutions applied.

Pure: text in, options and problems out (the environment is passed in).

- The options are those of one section, ``[uwsgi]`` unless told otherwise; a file with no
  section header at all is read as that section. Other sections are ignored.
- ``key = value``; a line starting with ``#`` or ``;`` is a comment; a key given with no
  ``=`` is a flag (``true``). Keys may repeat (``mule``, ``spooler``, ``timer``...): every
  one is kept, in order. ``_`` in a key reads as ``-`` (``wsgi_file``).
- Substitutions, as uWSGI makes them while it reads the file: ``%(name)`` the last value of
  an option set above (or a placeholder option of any name), ``$(VAR)`` an environment
  variable, ``%d`` the file's directory (with a trailing ``/``), ``%p`` its path, ``%s``
  its name, ``%n`` its name without extension, ``%e`` the extension, ``%c`` the name of
  its directory, ``%%`` a percent sign. Anything else is left as written, with a problem.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["IniOption", "IniResult", "parse_ini"]

_SECTION = re.compile(r"^\[([^\]]+)\]\s*$")
_SUBST = re.compile(r"%\(([A-Za-z0-9_.-]+)\)|\$\(([A-Za-z0-9_]+)\)|%(.)")


@dataclass(frozen=True)
class IniOption:
    key: str
    value: str
    line: int


@dataclass
class IniResult:
    options: list[IniOption] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)     # "line N: ..."
    section_found: bool = True
    referenced: set[str] = field(default_factory=set)   # options named by a %(name)


def parse_ini(text: str, path: Path, env: Mapping[str, str], section: str = "uwsgi",
              ) -> IniResult:
    out = IniResult()
    path = Path(path).absolute()
    magic = {"d": str(path.parent) + "/", "p": str(path), "s": path.name, "n": path.stem,
             "e": path.suffix.lstrip("."), "c": path.parent.name, "%": "%"}
    has_sections = any(_SECTION.match(line.strip()) for line in text.splitlines())
    current = None if has_sections else section
    seen: dict[str, str] = {}
    found = not has_sections
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        m = _SECTION.match(line)
        if m:
            current = m.group(1).strip()
            found = found or current == section
            continue
        if current != section:
            continue
        if "=" in line:
            key, value = (s.strip() for s in line.split("=", 1))
        else:
            key, value = line, "true"
        key = key.replace("_", "-")
        if not key:
            out.problems.append(f"line {n}: no option name before '='")
            continue
        value = _substitute(value, n, seen, magic, env, out.problems, out.referenced)
        seen[key] = value
        out.options.append(IniOption(key, value, n))
    out.section_found = found
    if not found:
        out.problems.append(f"no [{section}] section in the file")
    return out


def _substitute(value: str, line: int, seen: Mapping[str, str], magic: Mapping[str, str],
                env: Mapping[str, str], problems: list[str], referenced: set[str]) -> str:
    def one(m: re.Match[str]) -> str:
        opt, var, ch = m.groups()
        if opt is not None:
            name = opt.replace("_", "-")
            if name in seen:
                referenced.add(name)
                return seen[name]
            problems.append(f"line {line}: %({opt}) names no option set above: left as it is")
            return m.group(0)
        if var is not None:
            if var in env:
                return env[var]
            problems.append(f"line {line}: $({var}) is not set in the environment: "
                            "replaced by nothing")
            return ""
        if ch in magic:
            return magic[ch]
        problems.append(f"line {line}: %{ch} is a uWSGI magic variable this converter does "
                        "not know: left as it is")
        return m.group(0)

    return _SUBST.sub(one, value)
