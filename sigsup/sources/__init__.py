"""Event sources: what raises signals on its own.

    timers.py     periodic deadlines on the monotonic clock (pure)
    cron.py       next fire of a cron schedule in a time zone; DST and misfire rules (pure)
    events.py     the record of each source and its status
    requests.py   checking the fields of add_* requests
    scheduler.py  the master's extension: heaps, tick, commands, the monitor process's frames
    timerfd.py    precise wake-ups for the master (Linux timerfd through ctypes)
    state.py      the last run of each configured cron, across restarts
    filemon.py    the monitor process (watchdog runs threads, so never in the master)
"""
