"""uWSGI's Python modules inside a sigsup tree: ``import uwsgi``, ``import uwsgidecorators``.

``install()`` puts them in ``sys.modules`` under those names. A master calls it when it
starts (``sigsup start``/``check``, before the preload modules are imported), so the
master while it imports them, and every child it forks, has them. Nothing installs them
at ``import sigsup``: outside a tree ``import uwsgi`` raises ImportError (libraries that
probe for uWSGI with ``try: import uwsgi`` keep their other path), and a real ``uwsgi``
package in the same environment is found as usual.
"""

from __future__ import annotations

import importlib
import sys

MODULES = {"uwsgi": "sigsup.compat.uwsgi", "uwsgidecorators": "sigsup.compat.uwsgidecorators"}


def install() -> None:
    """Make ``import uwsgi`` and ``import uwsgidecorators`` give sigsup's modules here."""
    for name, real in MODULES.items():
        module = importlib.import_module(real)
        sys.modules[name] = module
    from sigsup import context
    from sigsup.compat.uwsgi import Started
    context.process().state(Started)        # uwsgi.started_on: now, the master's start


def installed() -> bool:
    return all(sys.modules.get(n) is sys.modules.get(r) is not None for n, r in MODULES.items())


def uninstall() -> None:
    """Remove them from ``sys.modules`` (tests)."""
    for name, real in MODULES.items():
        if sys.modules.get(name) is sys.modules.get(real):
            sys.modules.pop(name, None)
