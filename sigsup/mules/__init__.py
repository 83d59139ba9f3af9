"""Mule messages: the API (api.py), the master's queues (master.py), the mule's side
(child.py)."""
