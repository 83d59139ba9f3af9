"""Unit tests: pure layers and the master loop with a fake OS seam (see fakes.py).

A package, so that its test modules do not clash with same-named ones in tests/e2e.
"""
