"""uWSGI's side of tests/e2e/test_cache_uwsgi.py: a mule script."""

import uwsgi
from cache_probe import _idle, probe

_idle(probe(uwsgi))
