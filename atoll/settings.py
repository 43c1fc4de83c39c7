"""Typed, frozen settings: a TOML file, then the environment, then flags.

Each component declares its settings as a frozen dataclass (``HubSettings``,
``SiteAgentSettings``, ...) and loads it once at its entry point with :func:`load`; the
result is passed explicitly to whatever needs it. There is no global config object.

Precedence, lowest first:

1. the dataclass defaults;
2. the ``[section]`` table of the TOML file (``--config F`` or ``ATOLL_CONFIG``);
3. environment variables ``ATOLL_<SECTION>_<FIELD>`` (e.g. ``ATOLL_HUB_PORT=9000``);
4. command-line flags (values that are not ``None``).

Every value is checked against the field's type; a wrong one raises
:class:`~atoll.errors.ConfigError` naming where it came from.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from atoll.errors import ConfigError

T = TypeVar("T")

CONFIG_ENV = "ATOLL_CONFIG"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def read_toml(path: Path) -> dict[str, Any]:
    """Read a TOML config file, turning every failure into a ConfigError naming the file."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from exc


def _coerce(value: object, hint: Any, where: str) -> object:
    """Turn ``value`` (from TOML, env text or a flag) into ``hint``'s type, or explain why not."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None or value == "":
            return None
        return _coerce(value, args[0], where)
    if origin is typing.Literal:
        allowed = typing.get_args(hint)
        if value not in allowed:
            raise ConfigError(f"{where}: {value!r} is not one of {', '.join(map(str, allowed))}")
        return value
    if origin is tuple:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        inner = typing.get_args(hint)[0]
        return tuple(_coerce(i.strip() if isinstance(i, str) else i, inner, where) for i in items)
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if hint in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        try:
            return hint(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: expected {hint.__name__}, got {value!r}") from exc
    if hint is Path:
        if not isinstance(value, str | Path):
            raise ConfigError(f"{where}: expected a path, got {value!r}")
        return Path(value).expanduser()
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{where}: settings of type {hint!r} are not supported")


def load(
    cls: type[T],
    section: str,
    *,
    config_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, object] | None = None,
) -> T:
    """Build ``cls`` (a frozen dataclass) from defaults, file, environment and flags."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    env = os.environ if env is None else env
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, object] = {}

    if config_file is None and env.get(CONFIG_ENV):
        config_file = Path(env[CONFIG_ENV])
    if config_file is not None:
        table = read_toml(config_file).get(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{config_file}: [{section}] must be a table")
        unknown = sorted(set(table) - fields)
        if unknown:
            raise ConfigError(
                f"{config_file}: [{section}] has unknown keys {', '.join(unknown)}; "
                f"known keys are {', '.join(sorted(fields))}"
            )
        for key, raw in table.items():
            values[key] = _coerce(raw, hints[key], f"{config_file}: [{section}].{key}")

    prefix = f"ATOLL_{section.upper().replace('-', '_')}_"
    for name in fields:
        var = prefix + name.upper()
        if var in env:
            values[name] = _coerce(env[var], hints[name], f"environment {var}")

    for name, raw in (flags or {}).items():
        if raw is None:
            continue
        if name not in fields:
            raise ConfigError(f"flag --{name.replace('_', '-')} is not a {section} setting")
        values[name] = _coerce(raw, hints[name], f"flag --{name.replace('_', '-')}")

    return cls(**values)
