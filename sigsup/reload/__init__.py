"""Reload: ``sigsup reload``, SIGHUP and ``sigsup.reload()``.

    modules.py   which modules are the application's, taken out of sys.modules and put back
    restarts.py  the graceful restart of the tree's processes, all at once or one at a time
    master.py    the master's feature: the ``reload`` command, its events and status

The diff of two configs is the config package's (sigsup/config/diff.py); the master applies
a config through its port (``MasterPort.apply_config``, sigsup/master/reconfig.py).
"""
