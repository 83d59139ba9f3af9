"""The application's modules in the master, forgotten so that a reload imports them afresh.

Children are forked from the master, so new code reaches them only once the master imports
it again: the preload modules, the handlers, and what they import of the application. The
application's modules are those whose file is under the config's directory or a
``pythonpath`` entry, except sigsup itself and what is installed (the interpreter's
prefixes, site-packages). ``forget`` takes them out of ``sys.modules`` and returns them;
``put_back`` restores them when the new code does not import (the running tree keeps the
old code, and the master the same modules it had).
"""

from __future__ import annotations

import importlib
import site
import sys
from collections.abc import Iterable, MutableMapping
from pathlib import Path
from types import ModuleType

Modules = MutableMapping[str, ModuleType]


def installed_roots() -> tuple[Path, ...]:
    """Where installed code lives: never the application's."""
    roots = {Path(sys.prefix), Path(sys.base_prefix), Path(__file__).resolve().parents[1]}   # sigsup/
    try:
        roots.update(Path(p) for p in site.getsitepackages())
    except AttributeError:   # pragma: no cover - some virtualenvs lack it
        pass
    roots.add(Path(site.getusersitepackages()))
    return tuple(r.resolve() for r in roots)


def _under(path: Path, roots: Iterable[Path]) -> bool:
    return any(path == r or r in path.parents for r in roots)


def app_modules(modules: Modules, roots: Iterable[Path],
                installed: Iterable[Path] = ()) -> list[str]:
    """The names in ``modules`` whose file is under one of ``roots`` and under none of
    ``installed``; sigsup's own modules never."""
    roots = [Path(r).resolve() for r in roots]
    installed = list(installed)
    out = []
    for name, mod in list(modules.items()):
        if name == "sigsup" or name.startswith("sigsup."):
            continue
        file = getattr(mod, "__file__", None)
        if not file:
            continue
        try:
            path = Path(file).resolve()
        except (OSError, RuntimeError):
            continue
        if _under(path, roots) and not _under(path, installed):
            out.append(name)
    return sorted(out)


def forget(roots: Iterable[Path], modules: Modules | None = None) -> dict[str, ModuleType]:
    """Take the application's modules out of ``modules`` (sys.modules); returns them."""
    modules = sys.modules if modules is None else modules
    names = app_modules(modules, roots, installed_roots())
    gone = {name: modules.pop(name) for name in names}
    importlib.invalidate_caches()
    return gone


def put_back(gone: dict[str, ModuleType], roots: Iterable[Path],
             modules: Modules | None = None) -> None:
    """Undo ``forget``: what the failed import left of the application goes, the old
    modules come back."""
    modules = sys.modules if modules is None else modules
    for name in app_modules(modules, roots, installed_roots()):
        modules.pop(name, None)
    modules.update(gone)
