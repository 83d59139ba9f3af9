"""What ``sigsup check`` warns about in a config that loads: legal, but likely not meant.
Warnings do not refuse the config; each names the sections and keys involved."""

from __future__ import annotations

from sigsup.config.schema import Config


def config_warnings(cfg: Config) -> list[str]:
    return cheaper_timer_warnings(cfg)


def cheaper_timer_warnings(cfg: Config) -> list[str]:
    """A timer whose period is at most ``workers.cheaper_idle`` and whose signal goes to the
    workers ("workers", or "worker": the pool rotates) keeps them awake: none stays idle
    long enough to be cheaped."""
    w = cfg.workers
    if w.cheaper is None or w.cheaper >= w.count:
        return []
    out = []
    for section, timers in (("timers", cfg.timers), ("rb_timers", cfg.rb_timers)):
        for i, t in enumerate(timers):
            if t.seconds > w.cheaper_idle:
                continue
            entry = cfg.signals.get(t.signal)
            if entry is None or entry.target.group != "workers" or entry.target.scope == "process":
                continue   # it reaches no worker, or one named worker
            # "workers" runs on each; "worker" rotates over them (least recently freed first)
            out.append(
                f"[[{section}]] #{i + 1}: signal {t.signal} every {t.seconds:g} s, at most "
                f"workers.cheaper_idle ({w.cheaper_idle:g} s): it keeps every worker awake, "
                "so the cheaper never stops one (raise cheaper_idle above the period, or "
                "lengthen the period)")
    return out
