"""Small uWSGI apps for benchmarks/uwsgi_bench.py (imported by uWSGI, never by sigsup)."""
