"""Hypothesis strategies for TOML documents (the config loader's fuzzing), and a TOML writer.

Three sources of documents:
- ``schema_docs``: sigsup's own sections and keys with values that are sometimes right,
  sometimes nearly right (off by one, out of range, huge, empty, a wrong type), so the
  fuzzing reaches deep into validation instead of stopping at the first unknown key;
- ``random_docs``: arbitrary nested tables and values;
- ``mutated_example``: sigsup.toml.example with lines deleted, duplicated, swapped,
  values replaced, characters inserted, or the text cut short.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timezone
from typing import Any

from hypothesis import strategies as st

# -- writing TOML ------------------------------------------------------------------------------

_BARE = re.compile(r"[A-Za-z0-9_-]+")


def toml_str(s: str) -> str:
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\u{o:04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def toml_key(k: str) -> str:
    return k if _BARE.fullmatch(k) else toml_str(k)


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if v != v:
            return "nan"
        if v in (float("inf"), float("-inf")):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return toml_str(v)
    if isinstance(v, (datetime, date, time)):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{toml_key(k)} = {toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(type(v))


def _is_table_array(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def toml_doc(doc: dict[str, Any], headers: bool = True) -> str:
    """``doc`` as TOML text: tables under [headers] and [[arrays of tables]] when
    ``headers``, else everything as inline values on top-level lines."""
    lines: list[str] = []
    _emit(doc, [], lines, headers)
    return "\n".join(lines) + "\n"


def _emit(d: dict[str, Any], path: list[str], lines: list[str], headers: bool) -> None:
    tables = {k: v for k, v in d.items() if headers and (isinstance(v, dict) or _is_table_array(v))}
    for k, v in d.items():
        if k not in tables:
            lines.append(f"{toml_key(k)} = {toml_value(v)}")
    for k, v in tables.items():
        name = ".".join(toml_key(p) for p in [*path, k])
        if isinstance(v, dict):
            lines.append(f"\n[{name}]")
            _emit(v, [*path, k], lines, headers)
        else:
            for item in v:
                lines.append(f"\n[[{name}]]")
                _emit(item, [*path, k], lines, headers=False)


# -- values ------------------------------------------------------------------------------------

HUGE = st.sampled_from([2 ** 63 - 1, -(2 ** 63), 10 ** 400, -(10 ** 400), 2 ** 64])
ints = st.integers(-3, 300) | st.integers() | HUGE
floats = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(
    [0.0, -0.0, 0.001, 0.01, 1e308, 5e-324, float("inf"), float("nan")])
texts = st.text(max_size=30)
scalars = (ints | floats | st.booleans() | texts
           | st.datetimes(timezones=st.none() | st.just(timezone.utc)).map(
               lambda d: d.replace(microsecond=0))
           | st.dates() | st.times().map(lambda t: t.replace(microsecond=0)))
anything = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(texts, inner, max_size=4), max_leaves=12)


def maybe(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a plausible value, sometimes anything at all."""
    return st.one_of(good, good, good, anything)


nums = maybe(st.integers(-2, 100) | st.floats(-1, 1e6) | floats | HUGE)
small_ints = maybe(st.integers(-2, 70) | HUGE)
names = maybe(st.sampled_from(["demo", "", ".", "..", "a/b", "x" * 200, "ok-name", "é"]) | texts)
long_path = st.integers(90, 5000).map(lambda n: "/tmp/" + "p" * n)
paths = maybe(st.sampled_from(["/tmp", "run/x.sock", "~", "~nosuchuser/x", "/nonexistent/a",
                               "", " ", ".", "/", "/proc/self/root/tmp", "a\x00b", "é/ü"])
              | long_path | texts)
modules = maybe(st.sampled_from(["os", "app.setup", "1bad", "a..b", "", "x.y.z"]) | texts)
handlers = maybe(st.sampled_from(["os:getpid", "app.h:f", "nocolon", ":", "a:", ":b", "a:b:c",
                                  "a.b:c.d", " a:b ", "1a:b", "a:1b"]) | texts)
targets = maybe(st.sampled_from(
    ["worker", "worker0", "worker1", "worker99", "workers", "active-workers", "mule", "mule0",
     "mule2", "mules", "farm1", "farm9", "farm_x", "farm_", "spooler", "spoolers",
     "spooler_default", "spooler_nope", "WORKER", "worker-1", "worker1.5", ""]) | texts)
crons = maybe(st.sampled_from(
    ["* * * * *", "*/5 * * * *", "0 0 6 * * mon-fri", "@daily", "@reboot", "@nope",
     "61 * * * *", "*/0 * * * *", "0 0 31 2 *", "* * * *", "* * * * * * *", "", "   ",
     "0 0 30 2 *", "1-0 * * * *", "L * * * *", "0 0 L * *", "0 0 * * 5L", "0 0 1W * *",
     "H * * * *", "0 0 ? * *", "*/99999999999999999999 * * * *"]) | texts)
zones = maybe(st.sampled_from(["UTC", "Europe/Berlin", "../../etc/passwd", "", "Nope/Zone",
                               "/etc/localtime", "Etc/GMT+14", "A" * 300, "UTC\x00"]) | texts)
events = maybe(st.lists(st.sampled_from(["created", "modified", "deleted", "moved", "x"]),
                        max_size=5))
cron_field = maybe(st.integers(-70, 70))
bools = maybe(st.booleans())


def table(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """A table with any subset of ``fields`` and, sometimes, a key that does not belong."""
    extra = st.dictionaries(st.sampled_from(["quue_size", "cont", "handlr", "x", "supervisor",
                                             "signals", "timers"]) | texts, anything, max_size=1)
    base = st.fixed_dictionaries({}, optional=fields)
    return st.one_of(base, base, st.tuples(base, extra).map(lambda t: {**t[1], **t[0]}))


signal_keys = maybe(st.integers(-1, 300).map(str) | st.sampled_from(
    ["00017", "0", "255", "256", "1" * 5000, "0" * 5000 + "7", "x", "1.5", "+3"]))

supervisor = table({
    "name": names, "socket": paths, "pythonpath": maybe(st.lists(paths, max_size=3)),
    "preload": maybe(st.lists(modules, max_size=3)), "shutdown_timeout": nums,
    "harakiri": nums, "queue_size": small_ints, "window": small_ints, "respawn_delay": nums,
    "respawn_delay_max": nums, "failure_limit": small_ints, "failure_window": nums,
    "failure_cooldown": nums})
workers = table({"count": small_ints, "cheaper": small_ints, "cheaper_idle": nums})
mules = table({"count": small_ints,
               "main": maybe(st.dictionaries(signal_keys.filter(lambda k: isinstance(k, str)),
                                             handlers, max_size=3)),
               "message_handler": handlers})
farms = maybe(st.dictionaries(maybe(st.sampled_from(["f", "reports", "bad name", ""]) | texts)
                              .filter(lambda k: isinstance(k, str)),
                              maybe(st.lists(small_ints, max_size=4)), max_size=3))
spooler = table({"dir": paths, "processes": small_ints, "handler": handlers,
                 "max_retries": small_ints, "retry_backoff": nums, "retry_backoff_max": nums,
                 "harakiri": nums})
spoolers = maybe(st.dictionaries(maybe(st.sampled_from(["default", "mail", "a b", ""]) | texts)
                                 .filter(lambda k: isinstance(k, str)), spooler, max_size=3))
signal_entry = table({"handler": handlers, "target": targets,
                      "on_full": maybe(st.sampled_from(["reject", "coalesce", "merge", "drop"]))})
signals = maybe(st.dictionaries(signal_keys.filter(lambda k: isinstance(k, str)), signal_entry,
                                max_size=5))
timer = table({"signal": small_ints, "seconds": nums, "iterations": small_ints})
cron = table({"signal": small_ints, "schedule": crons, "timezone": zones,
              "iterations": small_ints, "misfire_grace": nums, "minute": cron_field,
              "hour": cron_field, "day": cron_field, "month": cron_field, "weekday": cron_field})
monitor = table({"signal": small_ints, "path": paths, "recursive": bools, "events": events,
                 "debounce": nums, "iterations": small_ints, "wait_for_path": bools})

schema_docs = table({
    "supervisor": maybe(supervisor), "workers": maybe(workers), "mules": maybe(mules),
    "farms": farms, "spoolers": spoolers, "signals": signals,
    "timers": maybe(st.lists(timer, max_size=3)), "rb_timers": maybe(st.lists(timer, max_size=2)),
    "crons": maybe(st.lists(cron, max_size=3)), "monitors": maybe(st.lists(monitor, max_size=2)),
})

random_docs = st.dictionaries(texts, anything, max_size=6)


# -- mutating the example ------------------------------------------------------------------------

@st.composite
def mutated(draw: Any, text: str) -> str:
    lines = text.split("\n")
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["del", "dup", "swap", "value", "key", "char", "cut", "header",
                                   "uncomment"]))
        i = draw(st.integers(0, max(0, len(lines) - 1)))
        if not lines:
            lines = [""]
        if op == "del":
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "value":
            key, sep, _ = lines[i].partition("=")
            if sep:
                lines[i] = f"{key}= {toml_value(draw(anything))}"
        elif op == "key":
            lines.insert(i, f"{toml_key(draw(st.sampled_from(['count', 'signal', 'seconds', 'target', 'dir']) | texts))} = {toml_value(draw(anything))}")
        elif op == "char":
            line = lines[i]
            k = draw(st.integers(0, len(line)))
            lines[i] = line[:k] + draw(st.text(min_size=1, max_size=3)) + line[k:]
        elif op == "cut":
            lines = lines[:i] + [lines[i][:draw(st.integers(0, len(lines[i])))]]
        elif op == "header":
            lines.insert(i, draw(st.sampled_from(["[signals.17]", "[[timers]]", "[workers]",
                                                  "[spoolers.x]", "[mules.main]", "[farms]",
                                                  "[signals]", "[[signals]]", "[supervisor]"])))
        elif op == "uncomment":
            lines[i] = lines[i].lstrip("# ")
    return "\n".join(lines)

