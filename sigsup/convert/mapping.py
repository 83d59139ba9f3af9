"""uWSGI options -> the tables of a sigsup config, and what could not be carried over.

Pure: the options of convert/ini.py in, a ``Converted`` out: ``doc`` (the sections, keyed
as sigsup's schema keys them; rendered by convert/toml_out.py), ``skipped`` (every option
not carried over, with the reason: printed on stderr, never dropped silently) and ``notes``
(options carried over with a difference, written as comments at the top of the output).

Relative paths are resolved against ``chdir`` when the file sets one, else against the
ini file's directory, and written absolute: the output works wherever it is saved.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sigsup.config.caches import CACHE_NAME
from sigsup.config.schema import CACHE_SPAN_MAX, CacheConfig

from .ini import IniOption

__all__ = ["Converted", "convert_options"]

PRELOAD_MODULE = ("module", "import", "pyimport", "py-import", "python-import",
                  "shared-import", "shared-pyimport", "shared-py-import",
                  "shared-python-import", "spooler-import", "spooler-python-import",
                  "spooler-pyimport")
PRELOAD_FILE = ("wsgi-file", "file")
TRUE = ("", "1", "true", "yes", "on", "y", "t")

_NO_REQUESTS = ("sigsup serves no requests (sockets, HTTP, routing, workers' threads): "
                "serve the app with a WSGI server and keep sigsup for signals, mules and "
                "spoolers")
REASONS: dict[str, str] = {
    **dict.fromkeys(("http", "https", "http-socket", "https-socket", "socket", "uwsgi-socket",
                     "shared-socket", "fastcgi-socket", "protocol", "http-to", "static-map",
                     "static-map2", "check-static", "route", "route-run", "route-host",
                     "route-uri", "buffer-size", "post-buffering", "threads", "callable",
                     "mount", "manage-script-name", "offload-threads", "listen",
                     "http-keepalive", "http-timeout", "socket-timeout", "add-header",
                     "wsgi-disable-file-wrapper", "chmod-socket", "chown-socket",
                     "stats-http", "harakiri-verbose", "wsgi", "app", "async",
                     "ugreen", "gevent", "http-websockets"), _NO_REQUESTS),
    **dict.fromkeys(("plugin", "plugins", "plugins-dir", "need-plugin", "need-plugins"),
                    "sigsup runs Python only: there are no plugins to load"),
    **dict.fromkeys(("virtualenv", "venv", "home", "pyhome"),
                    "run sigsup from that environment (VENV/bin/sigsup start ...)"),
    "env": "set it in sigsup's environment: every process of the tree inherits it",
    **dict.fromkeys(("uid", "gid", "cap", "emperor", "vassal"),
                    "start sigsup as that user, under your service manager: it changes no "
                    "identity itself"),
    **dict.fromkeys(("daemonize", "daemonize2", "logto", "logto2", "logger", "log-format",
                     "log-date", "log-maxsize", "log-backupname", "log-reopen",
                     "log-master", "req-logger", "disable-logging", "logfile-chown"),
                    "sigsup logs to its stdout and stderr (--log-format json for lines a "
                    "collector reads): redirect them, or run it under systemd"),
    **dict.fromkeys(("pidfile", "pidfile2", "safe-pidfile", "safe-pidfile2"),
                    "sigsup writes no pid file: `sigsup status --json` gives the master's pid"),
    "vacuum": "sigsup removes its own control socket when it stops",
    "die-on-term": "sigsup already stops (gracefully) on SIGTERM",
    **dict.fromkeys(("lazy-apps", "lazy"),
                    "sigsup imports preload in the master before fork; put per-process set-up "
                    "in a @postfork function"),
    **dict.fromkeys(("stats", "stats-server", "memory-report"),
                    "`sigsup status --json` shows every process, queue and counter"),
    **dict.fromkeys(("max-requests", "max-requests-delta", "reload-on-rss", "reload-on-as",
                     "evil-reload-on-rss", "max-worker-lifetime", "reload-mercy",
                     "worker-reload-mercy", "mule-reload-mercy", "min-worker-lifetime"),
                    "sigsup does not recycle processes on a count, a size or an age"),
    "enable-threads": "threads always work in sigsup's processes: nothing to enable",
    **dict.fromkeys(("thunder-lock", "single-interpreter", "strict", "optimize",
                     "py-tracebacker", "need-app", "no-orphans",
                     "auto-procname", "procname", "procname-prefix", "procname-prefix-spaced",
                     "procname-master", "hook-accepting1", "close-on-exec"),
                    "no meaning in sigsup (every process is supervised by its master; "
                    "process titles come with the `title` extra)"),
    **dict.fromkeys(("ini", "include", "inherit", "for", "endfor", "if-env", "if-exists",
                     "if-file", "if-dir", "if-opt", "endif", "xml", "yaml", "json"),
                    "includes and logic blocks are not followed: convert that file too, or "
                    "inline it"),
    **dict.fromkeys(("touch-reload", "touch-chain-reload", "touch-workers-reload", "fs-reload",
                     "fs-brutal-reload", "py-autoreload", "python-autoreload",
                     "touch-logreopen"),
                    "sigsup has no reload-on-touch option: a [[monitors]] entry whose handler "
                    "calls the reload does it"),
    **dict.fromkeys(("spooler-frequency", "spooler-max-tasks", "spooler-chdir",
                     "spooler-quiet", "spooler-ordered", "spooler-cheap", "spooler-signal-as-task"),
                    "sigsup's spoolers are woken when a job is written, keep `at` to the "
                    "second and always run by priority: this has no equivalent"),
    **dict.fromkeys(("mule-harakiri", "mule-msg-size", "mule-msg-recv-size"),
                    "sigsup's [supervisor] harakiri covers mules too; mule messages wait in the "
                    "master (bounded by queue_size), not in socket buffers"),
    **dict.fromkeys(("cheaper-algo", "cheaper-initial", "cheaper-step", "cheaper-overload",
                     "cheaper-busyness-max", "cheaper-busyness-min", "idle"),
                    "sigsup's cheaper keeps `cheaper` workers running and stops an extra "
                    "worker idle for cheaper_idle seconds: no algorithm to choose"),
    **dict.fromkeys(("cron-harakiri", "legion-cron", "unique-legion-cron", "legion"),
                    "no legions and no command crons in sigsup"),
    **dict.fromkeys(("fs-signal",), "use touch-signal's equivalent: a [[monitors]] entry"),
}


@dataclass
class Converted:
    doc: dict[str, Any] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)   # "line N: key = value: why"
    notes: list[str] = field(default_factory=list)     # carried over, with a difference
    sketches: list[str] = field(default_factory=list)  # commented TOML for the user to finish


def convert_options(options: list[IniOption], ini_path: Path,
                    placeholders: frozenset[str] | set[str] = frozenset()) -> Converted:
    """``placeholders``: the options that ``%(name)`` substitutions used."""
    return _Converter(options, Path(ini_path).absolute(), placeholders).run()


class _Converter:
    def __init__(self, options: list[IniOption], ini_path: Path,
                 placeholders: frozenset[str] | set[str]) -> None:
        self.options = options
        self.placeholders = placeholders
        self.base = ini_path.parent
        for o in options:            # uWSGI reads paths after chdir: so do we, wherever it is
            if o.key == "chdir":
                self.base = self._path(o.value)
        self.out = Converted()
        self.sup: dict[str, Any] = {}
        self.pythonpath: list[str] = []
        self.preload: list[str] = []
        self.workers: dict[str, Any] = {}
        self.mule_count = 0
        self.programs: dict[str, str] = {}
        self.farms: dict[str, list[int]] = {}
        self.spoolers: dict[str, dict[str, Any]] = {}
        self.spooler_all: dict[str, Any] = {}
        self.caches: dict[str, dict[str, Any]] = {}
        self.events: dict[str, list[dict[str, Any]]] = {"timers": [], "rb_timers": [],
                                                        "crons": [], "monitors": []}

    # -- the pass ------------------------------------------------------------------------

    def run(self) -> Converted:
        table: dict[str, Callable[[IniOption], None]] = {
            **dict.fromkeys(PRELOAD_MODULE, self.module),
            **dict.fromkeys(PRELOAD_FILE, self.file),
            **dict.fromkeys(("pythonpath", "python-path", "pp"), self.path_entry),
            "chdir": self.chdir,
            **dict.fromkeys(("processes", "workers", "p"), self.processes),
            "cheaper": self.cheaper,
            "master": self.master,
            "mules": self.mules,
            "mule": self.mule,
            "farm": self.farm,
            "spooler": self.spooler,
            "spooler-processes": self.spooler_setting("processes", 1),
            "spooler-harakiri": self.spooler_setting("harakiri", 0),
            **dict.fromkeys(("timer", "signal-timer"), self.timer("timers")),
            **dict.fromkeys(("rbtimer", "signal-rbtimer"), self.timer("rb_timers")),
            "cron": self.cron,
            "unique-cron": self.cron,
            "cron2": self.cron2,
            "touch-signal": self.touch_signal,
            "harakiri": self.harakiri,
            "cache2": self.cache2,
            "cache": self.cache1,
            "cache-blocksize": self.cache1,
        }
        for o in self.options:
            fn = table.get(o.key)
            if fn is None and o.key in self.placeholders and o.key not in REASONS:
                self.note(o, "a placeholder: its value was substituted where %("
                             f"{o.key}) is used")
            elif fn is None:
                self.skip(o, REASONS.get(o.key, "not an option sigsup has (sigsup is the "
                                                "signal framework: master, workers, mules, "
                                                "spoolers, timers, crons, monitors, caches)"))
            else:
                fn(o)
        self.finish()
        return self.out

    def skip(self, o: IniOption, why: str) -> None:
        shown = o.value if len(o.value) <= 60 else o.value[:57] + "..."
        self.out.skipped.append(f"line {o.line}: {o.key} = {shown}: {why}")

    def note(self, o: IniOption, text: str) -> None:
        self.out.notes.append(f"{o.key} (line {o.line}): {text}")

    def _path(self, value: str) -> Path:
        return Path(os.path.normpath(self.base / os.path.expanduser(value)))

    def _int(self, o: IniOption, value: str, lo: int = 0, hi: int | None = None,
             ) -> int | None:
        try:
            n = int(value.strip())
        except ValueError:
            self.skip(o, f"{value!r} is not a whole number")
            return None
        if n < lo or (hi is not None and n > hi):
            self.skip(o, f"{n} is out of range ({lo}..{hi if hi is not None else ''})")
            return None
        return n

    def _number(self, o: IniOption, value: str, lo: float = 0.0) -> float | int | None:
        try:
            x = float(value)
        except ValueError:
            self.skip(o, f"{value!r} is not a number")
            return None
        if not x >= lo or x != x or x in (float("inf"),):
            self.skip(o, f"{value!r} is out of range (at least {lo})")
            return None
        return int(x) if x.is_integer() else x

    # -- code and paths ------------------------------------------------------------------

    def module(self, o: IniOption) -> None:
        value = o.value.strip()
        if value.endswith(".py") or "/" in value:
            self.file(o)
            return
        mod = value.split(":", 1)[0].strip()
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", mod):
            self.skip(o, f"{mod!r} is not a module name")
            return
        if ":" in value and o.key == "module":
            self.note(o, f"{value}: the module is imported in the master before fork (for its "
                         "signal registrations); sigsup does not serve its WSGI callable")
        if o.key.startswith("spooler-"):
            self.note(o, f"{mod}: imported by preload, in the master, so in every process "
                         "(uWSGI imports it in spoolers only)")
        if mod not in self.preload:
            self.preload.append(mod)

    def file(self, o: IniOption) -> None:
        p = self._path(o.value.strip())
        if p.suffix != ".py":
            self.skip(o, "only a Python file (.py) can be imported")
            return
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", p.stem):
            self.skip(o, f"{p.name}: the file's name cannot be imported as a module")
            return
        d = str(p.parent)
        if d not in self.pythonpath:
            self.pythonpath.append(d)
        if p.stem not in self.preload:
            self.preload.append(p.stem)
        self.note(o, f"{p} is imported as module {p.stem!r} ({d} added to pythonpath)"
                  + ("; sigsup does not serve its WSGI app" if o.key != "file" else ""))

    def path_entry(self, o: IniOption) -> None:
        d = str(self._path(o.value.strip()))
        if d not in self.pythonpath:
            self.pythonpath.append(d)

    def chdir(self, o: IniOption) -> None:
        self.note(o, f"sigsup has no working-directory option: relative paths were resolved "
                     f"against {self.base}; start sigsup from there if the code relies on "
                     "its working directory")

    # -- processes -----------------------------------------------------------------------

    def processes(self, o: IniOption) -> None:
        n = self._int(o, o.value, 0)
        if n is not None:
            self.workers["count"] = n

    def cheaper(self, o: IniOption) -> None:
        n = self._int(o, o.value, 0)
        if n is not None:
            self.workers["cheaper"] = n

    def master(self, o: IniOption) -> None:
        if o.value.strip().lower() not in TRUE:
            self.note(o, "sigsup always runs a master: master = false cannot be carried over")

    def harakiri(self, o: IniOption) -> None:
        n = self._number(o, o.value)
        if n is not None:
            self.sup["harakiri"] = n
            self.note(o, "uWSGI's harakiri limits a request; sigsup's limits each signal "
                         "handler (workers, mules) the same way")

    def mules(self, o: IniOption) -> None:
        n = self._int(o, o.value, 0)
        if n is not None:
            self.mule_count += n

    def mule(self, o: IniOption) -> None:
        value = o.value.strip()
        self.mule_count += 1
        if value.lower() in TRUE:
            return
        if ":" in value and not value.endswith(".py"):
            self.programs[str(self.mule_count)] = value
            return
        self.skip(o, f"mule{self.mule_count} runs a script in uWSGI; a sigsup mule runs a "
                     "callable: wrap the script's loop in a function and set [mules.main] "
                     f"{self.mule_count} = \"module:function\" (mule{self.mule_count} is a plain "
                     "mule meanwhile)")

    def farm(self, o: IniOption) -> None:
        name, sep, ids = o.value.partition(":")
        name = name.strip()
        if not sep or not re.fullmatch(r"[A-Za-z0-9_-]+", name):
            self.skip(o, "expected NAME:ID,ID... with a name of letters, digits, '_' and '-'")
            return
        out: list[int] = []
        for part in ids.split(","):
            n = self._int(o, part, 1)
            if n is None:
                return
            out.append(n)
        self.farms[name] = out

    def spooler(self, o: IniOption) -> None:
        d = self._path(o.value.strip())
        base = re.sub(r"[^A-Za-z0-9_-]", "_", d.name) or "spool"
        name, i = base, 2
        while name in self.spoolers:
            name, i = f"{base}{i}", i + 1
        self.spoolers[name] = {"dir": str(d)}

    def spooler_setting(self, key: str, lo: int) -> Callable[[IniOption], None]:
        def set_it(o: IniOption) -> None:
            n = self._int(o, o.value, lo)
            if n is not None:
                self.spooler_all[key] = n
        return set_it

    # -- event sources -------------------------------------------------------------------

    def _signum(self, o: IniOption, value: str) -> int | None:
        return self._int(o, value, 0, 255)

    def timer(self, kind: str) -> Callable[[IniOption], None]:
        def add(o: IniOption) -> None:
            parts = o.value.split()
            if len(parts) != 2:
                self.skip(o, "expected SIGNAL SECONDS")
                return
            sig, secs = self._signum(o, parts[0]), self._number(o, parts[1], 1)
            if sig is not None and secs is not None:
                self.events[kind].append({"signal": sig, "seconds": secs})
        return add

    def touch_signal(self, o: IniOption) -> None:
        parts = o.value.rsplit(None, 1)
        if len(parts) != 2:
            self.skip(o, "expected FILE SIGNAL")
            return
        sig = self._signum(o, parts[1])
        if sig is None:
            return
        self.events["monitors"].append({
            "signal": sig, "path": str(self._path(parts[0])),
            "events": ["created", "modified"], "wait_for_path": True})
        self.note(o, "a file monitor (inotify, at once) instead of uWSGI's mtime poll (~1 s)")

    def cron(self, o: IniOption) -> None:
        parts = o.value.split(None, 5)
        if len(parts) < 6:
            self.skip(o, "expected MINUTE HOUR DAY MONTH WEEKDAY COMMAND")
            return
        fields = dict(zip(("minute", "hour", "day", "month", "weekday"), parts[:5],
                          strict=False))
        self._command_cron(o, fields, parts[5])

    def cron2(self, o: IniOption) -> None:
        spec, _, cmd = o.value.strip().partition(" ")
        fields: dict[str, str] = {}
        for kv in spec.split(","):
            k, _, v = kv.partition("=")
            k = {"week": "weekday"}.get(k.strip(), k.strip())
            if k in ("minute", "hour", "day", "month", "weekday"):
                fields[k] = v.strip()
        self._command_cron(o, fields, cmd.strip())

    def _command_cron(self, o: IniOption, fields: dict[str, str], cmd: str) -> None:
        values = []
        for k in ("minute", "hour", "day", "month", "weekday"):
            n = self._int(o, fields.get(k, "-1"), -1000)
            if n is None:
                return
            values.append(f"{k} = {n}")
        unique = (" A uWSGI unique cron skips a run while the last still runs: a sigsup "
                  "handler's process runs one signal at a time, so a slow run delays the "
                  "next instead.") if o.key == "unique-cron" else ""
        self.skip(o, "a command cron: sigsup's crons raise a signal, they run no shell "
                     "command. The output has a commented [[crons]] entry to finish: a "
                     f"signal whose handler runs the command (subprocess.run).{unique}")
        self.out.sketches.append(
            f"# from line {o.line}: {o.key} = {o.value}\n# [[crons]]\n# signal = N"
            "                 # a free signal; [signals.N] handler runs: " + cmd + "\n"
            + "".join(f"# {v}\n" for v in values))

    # -- caches --------------------------------------------------------------------------

    def cache2(self, o: IniOption) -> None:
        kv: dict[str, str] = {}
        for part in o.value.split(","):
            k, _, v = part.partition("=")
            kv[k.strip()] = v.strip()
        name = kv.pop("name", "")
        if not CACHE_NAME.fullmatch(name):
            self.skip(o, "a cache2 needs name=NAME (letters, digits, '_', '.', '-')")
            return
        d = CacheConfig(name=name)
        items = self._int(o, kv.pop("items", str(d.items)), 1, 1_000_000)
        block = self._int(o, kv.pop("blocksize", "65536"), 1)
        blocks = kv.pop("blocks", None)
        nblocks = self._int(o, blocks, 1) if blocks is not None else items
        if items is None or block is None or nblocks is None:
            return
        total = nblocks * block
        entry = {"items": items, "max_bytes": total, "max_item_bytes": min(block, total)}
        if kv.pop("bitmap", "0") not in ("0", ""):
            entry["max_item_bytes"] = min(total, 64 * 1024**2)
        if entry["max_item_bytes"] > 64 * 1024**2 \
                or items * entry["max_item_bytes"] > CACHE_SPAN_MAX:
            self.skip(o, f"items x item size is {items * entry['max_item_bytes']} bytes: "
                         f"sigsup's caches hold at most {CACHE_SPAN_MAX} (an item at most "
                         "64 MiB); declare a smaller [caches.NAME]")
            return
        for k in kv:
            self.note(o, f"{k}: not carried over (sigsup's caches are in memory, refuse "
                         "when full, and expire entries by their own expiry)")
        self.caches[name] = entry

    def cache1(self, o: IniOption) -> None:
        entry = self.caches.setdefault("default", {})
        if o.key == "cache":
            n = self._int(o, o.value, 1, 1_000_000)
            if n is not None:
                entry["items"] = n
        else:
            n = self._int(o, o.value, 1, 64 * 1024**2)
            if n is not None:
                entry["max_item_bytes"] = n

    # -- the document --------------------------------------------------------------------

    def finish(self) -> None:
        doc = self.out.doc
        if self.pythonpath:
            self.sup["pythonpath"] = self.pythonpath
        if self.preload:
            self.sup["preload"] = self.preload
        sup = {k: self.sup[k] for k in ("pythonpath", "preload", "harakiri") if k in self.sup}
        if sup:
            doc["supervisor"] = sup
        if self.workers:
            if "count" not in self.workers:
                self.workers["count"] = 1
            if self.workers.get("cheaper", 0) > self.workers["count"]:
                self.workers["cheaper"] = self.workers["count"]
            doc["workers"] = {k: self.workers[k] for k in ("count", "cheaper")
                              if k in self.workers}
        if self.mule_count:
            doc["mules"] = {"count": self.mule_count}
        if self.programs:
            doc["mules.main"] = self.programs
        if self.farms:
            doc["farms"] = self.farms
        for name, sp in self.spoolers.items():
            doc.setdefault("spoolers", {})[name] = {**sp, **self.spooler_all}
        for name, c in self.caches.items():
            doc.setdefault("caches", {})[name] = c
        for kind, entries in self.events.items():
            if entries:
                doc[kind] = entries
