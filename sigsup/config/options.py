"""``[options]``: the application's own settings, free keys read by handler code (as
``uwsgi.opt`` inside the tree: sigsup/compat/options.py).

A value is a string, a number, a boolean, or an array of those (uWSGI's repeated keys);
nested tables and dates are refused, naming the key.
"""

from __future__ import annotations

import datetime
from typing import Any

from .convert import describe
from .reader import Reader

SCALARS = (str, int, float, bool)


def options(r: Reader, tbl: dict | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in (tbl or {}).items():
        if isinstance(value, list):
            bad = [i for i, v in enumerate(value) if not _scalar(v)]
            for i in bad:
                r.err(("options", key, i), f"an option's array holds strings, numbers or "
                                            f"booleans, not {describe(value[i])}")
            if not bad:
                out[key] = tuple(value)
        elif _scalar(value):
            out[key] = value
        else:
            r.err(("options", key), f"an option is a string, a number, a boolean or an array "
                                    f"of them, not {describe(value)}")
    return out


def _scalar(v: Any) -> bool:
    return isinstance(v, SCALARS) and not isinstance(v, (datetime.date, datetime.time))
