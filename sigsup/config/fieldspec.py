"""How a schema field is read from TOML: the metadata of the dataclass fields in
:mod:`sigsup.config.schema`, and the views of it the loader works from.

A field declared with :func:`setting` says which TOML key holds it (its own name unless
``key`` says otherwise; none for a field the loader fills in itself, such as a spooler's
name), how the value is checked (``conv``, a pure function of :mod:`sigsup.config.convert`,
called with ``options``), the problem to report when a key with no default is missing, and
a line of documentation. The dataclass default is the default of the key: each one is
written once, in the schema.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["Setting", "Spec", "setting", "specs", "toml_keys"]

_META = "sigsup.config"


@dataclass(frozen=True)
class Setting:
    """The metadata of one schema field (``dataclasses.field(metadata=...)``)."""

    doc: str
    key: str | None  # the TOML key ("": the field's name), None: not read from a key
    conv: Callable[..., Any] | None = None  # None: the section's builder reads it
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))  # of conv
    required: str | None = None  # the problem reported when the key is missing
    relative: bool = False  # a path: conv gets base= (the config file's directory)
    imported: bool = False  # an import path, resolved by check_imports
    keys: tuple[str, ...] = ()  # the keys of a field read from several (crons' uWSGI fields)


def setting(doc: str, *, key: str | None = "", conv: Callable[..., Any] | None = None,
            default: Any = MISSING, default_factory: Any = MISSING,
            required: str | None = None, relative: bool = False, imported: bool = False,
            keys: tuple[str, ...] = (), **options: Any) -> Any:
    """A dataclass field read from TOML. ``key=""`` (the default) means the field's own
    name; ``options`` are passed to ``conv``."""
    meta = Setting(doc=doc, key=key, conv=conv, options=MappingProxyType(options),
                   required=required, relative=relative, imported=imported, keys=keys)
    return dataclasses.field(default=default, default_factory=default_factory,
                             metadata={_META: meta})


@dataclass(frozen=True)
class Spec:
    """A schema field with its setting: what the loader needs to read it."""

    name: str  # the field's
    setting: Setting
    field: dataclasses.Field

    @property
    def key(self) -> str:
        """The TOML key (a field read from several keys, or none, has no key)."""
        assert self.setting.key is not None, self.name
        return self.setting.key

    @property
    def has_default(self) -> bool:
        return self.field.default is not MISSING or self.field.default_factory is not MISSING

    def default(self) -> Any:
        if self.field.default_factory is not MISSING:
            return self.field.default_factory()
        assert self.field.default is not MISSING, f"{self.name} has no default"
        return self.field.default


def specs(cls: type) -> dict[str, Spec]:
    """The fields of the dataclass ``cls`` by name, in declaration order."""
    out = {}
    for f in dataclasses.fields(cls):
        s: Setting = f.metadata[_META]
        out[f.name] = Spec(f.name, dataclasses.replace(s, key=f.name) if s.key == "" else s, f)
    return out


def toml_keys(cls: type) -> tuple[str, ...]:
    """The keys a table of ``cls`` takes, in declaration order; the keys of fields read
    from several keys (the alternative form, such as crons' uWSGI fields) come last."""
    single = [s.setting.key for s in specs(cls).values() if s.setting.key is not None]
    several = [k for s in specs(cls).values() for k in s.setting.keys]
    return (*single, *several)
