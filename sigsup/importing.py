"""Handler paths: ``pkg.module:function`` (or ``pkg.module.function``) to a callable and back."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any


class HandlerImportError(ValueError):
    """An import path that does not lead to a callable."""


def split_path(path: str) -> tuple[str, str]:
    if not isinstance(path, str) or not path.strip():
        raise HandlerImportError("a handler is an import path such as 'app.handlers:on_change'")
    path = path.strip()
    if ":" in path:
        module, _, attr = path.partition(":")
    else:
        module, _, attr = path.rpartition(".")
    if not module or not attr:
        raise HandlerImportError(
            f"{path!r} is not an import path: write 'package.module:function'")
    return module, attr


def resolve(path: str) -> Callable[..., Any]:
    """Import ``path`` and return the callable it names; HandlerImportError says what failed."""
    module_name, attr = split_path(path)
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise HandlerImportError(f"cannot import module {module_name!r}: {exc}") from exc
    except Exception as exc:  # the module itself failed while importing
        raise HandlerImportError(
            f"importing {module_name!r} raised {type(exc).__name__}: {exc}") from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise HandlerImportError(
                f"module {module_name!r} has no attribute {attr!r}") from None
    if not callable(obj):
        raise HandlerImportError(f"{path!r} is a {type(obj).__name__}, not a callable")
    return obj


def signature_problem(fn: Callable[..., Any], path: str) -> str | None:
    """Why ``fn`` cannot be a signal handler, or None. A handler is called as
    ``handler(signum)``, or ``handler(signum, payload)`` for the payload form: it must accept
    one positional argument or two. A callable whose signature cannot be read passes."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    for args in ((0,), (0, None)):
        try:
            sig.bind(*args)
        except TypeError:
            continue
        return None
    return (f"{path} takes {sig}, but a handler is called as handler(signum): it must "
            "accept one positional argument (or two: signum, payload)")


def resolve_handler(path: str) -> Callable[..., Any]:
    """``resolve``, and the callable's signature checked as a signal handler's."""
    fn = resolve(path)
    problem = signature_problem(fn, path)
    if problem is not None:
        raise HandlerImportError(problem)
    return fn


def path_of(obj: Any) -> str:
    """The import path of a module-level callable, checked to lead back to the same object."""
    if isinstance(obj, str):
        resolve(obj)
        return obj
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if not callable(obj) or not module or not qualname:
        raise ValueError(f"a handler is an import path or a module-level function, not {obj!r}")
    if "<locals>" in qualname or "<lambda>" in qualname or module == "__main__":
        raise ValueError(
            f"{module}.{qualname} cannot be imported by other processes: define it at module "
            "level in an importable module, or pass its import path as a string")
    path = f"{module}:{qualname}"
    try:
        found = resolve(path)
    except HandlerImportError as exc:
        raise ValueError(f"{path} cannot be imported by other processes: {exc}") from None
    if found is not obj and getattr(found, "__wrapped__", None) is not obj:
        raise ValueError(f"{path} does not import back to the same function")
    return path
