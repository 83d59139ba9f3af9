"""Handlers for the load tests: as cheap as a handler can be."""


def noop(num: int) -> None:
    return None
