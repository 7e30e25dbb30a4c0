"""Configuration: one `labs.conf` (INI), overridden by environment variables.

Each service declares its options once, as a frozen dataclass whose class
attribute ``section`` names the INI section::

    @dataclass(frozen=True)
    class DatabaseOptions:
        section: ClassVar[str] = "database"
        url: str = option("sqlite:///labs.db", "SQLAlchemy URL of the database")

A value comes from, in order: ``LABS_<SECTION>_<OPTION>`` in the environment,
the file, the default. Values are converted to the field's declared type.
"""

from __future__ import annotations

import configparser
import dataclasses
import os
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar


class ConfigError(ValueError):
    """An option has a value that cannot be used; the message names it."""


class OptionGroup(Protocol):
    section: ClassVar[str]


G = TypeVar("G", bound=OptionGroup)


def option(default: Any, help: str) -> Any:
    """Declare one option: its default and a line of help for `labs config`."""
    if isinstance(default, list | tuple):
        items = list(default)
        return dataclasses.field(default_factory=lambda: list(items), metadata={"help": help})
    return dataclasses.field(default=default, metadata={"help": help})


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _convert(raw: str, kind: Any, where: str) -> Any:
    try:
        if kind is bool:
            lowered = raw.strip().lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError(raw)
        if kind in (int, float):
            return kind(raw)
        if kind == list[str]:
            return [item.strip() for item in raw.split(",") if item.strip()]
        return raw
    except ValueError as exc:
        raise ConfigError(f"{where}: cannot read {raw!r} as {kind}") from exc


class Config:
    """The values of one Labs process: file sections plus the environment."""

    def __init__(
        self,
        sections: Mapping[str, Mapping[str, str]] | None = None,
        environ: Mapping[str, str] | None = None,
        path: Path | None = None,
    ) -> None:
        self._sections = {k.lower(): {o.lower(): v for o, v in s.items()}
                          for k, s in (sections or {}).items()}
        self._environ = dict(os.environ if environ is None else environ)
        self.path = path

    @classmethod
    def load(cls, path: Path | None, environ: Mapping[str, str] | None = None) -> Config:
        parser = configparser.ConfigParser(interpolation=None)
        if path is not None and path.exists():
            parser.read(path, encoding="utf-8")
        sections = {name: dict(parser[name]) for name in parser.sections()}
        return cls(sections, environ, path)

    def group(self, kind: type[G]) -> G:
        """Read every option of one group, typed."""
        section = kind.section
        hints = typing.get_type_hints(kind)
        values: dict[str, Any] = {}
        for field in dataclasses.fields(kind):  # type: ignore[arg-type]
            env_name = f"LABS_{section}_{field.name}".upper()
            raw = self._environ.get(env_name)
            if raw is None:
                raw = self._sections.get(section, {}).get(field.name)
            if raw is not None:
                values[field.name] = _convert(raw, hints[field.name], f"[{section}] {field.name}")
        return kind(**values)

    def with_values(self, section: str, **values: str) -> Config:
        """A copy with some options of one section replaced (used by `labs up`)."""
        sections = {k: dict(v) for k, v in self._sections.items()}
        sections.setdefault(section, {}).update(values)
        return Config(sections, self._environ, self.path)


def describe(kind: type[OptionGroup]) -> list[tuple[str, Any, str]]:
    """(name, default, help) for each option, for documentation and `labs config`."""
    return [(f.name, f.default if f.default_factory is dataclasses.MISSING else f.default_factory(),
             f.metadata.get("help", ""))
            for f in dataclasses.fields(kind)]  # type: ignore[arg-type]
