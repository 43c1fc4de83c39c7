"""Typed, frozen settings: a TOML file, then the environment, then flags.

Each component declares its settings as a frozen dataclass (``HubSettings``,
``SiteAgentSettings``, ...) and loads it once at its entry point with :func:`load`; the
result is passed explicitly to whatever needs it. There is no global config object.

Precedence, lowest first:

1. the dataclass defaults;
2. the ``[section]`` table of the TOML file (``--config F`` or ``ATOLL_CONFIG``);
3. environment variables ``ATOLL_<SECTION>_<FIELD>`` (e.g. ``ATOLL_HUB_PORT=9000``);
4. command-line flags (values that are not ``None``).

Every value is checked against the field's type; wrong ones raise one
:class:`~atoll.errors.ConfigError` naming each, with where it came from (every problem of
every section at once: whoever fixes a config file fixes it in one go).

A component with several groups of settings (the site agent: ``[site_agent]``,
``[compute]``, ``[network]``, ...) declares one frozen dataclass whose fields are the
groups, each named for its section, and loads it with :func:`load_groups`: the same
precedence per section, plus the places where its keys used to live (:class:`Moved`),
still read with one deprecation warning each. :func:`load_groups` also says where every
value came from (``default``, ``file``, ``env``, ``flag``).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from atoll.errors import ConfigError

T = TypeVar("T")

log = logging.getLogger(__name__)

CONFIG_ENV = "ATOLL_CONFIG"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}

Source = Literal["default", "file", "env", "flag"]
# One layer of raw values for one section: key -> (raw value, where it was written).
_Layer = dict[str, tuple[object, str]]


@dataclasses.dataclass(frozen=True)
class Moved:
    """Where a key lives now; the old place is still read, with a deprecation warning."""

    section: str
    key: str


@dataclasses.dataclass(frozen=True)
class Loaded(Generic[T]):
    """Grouped settings and where each value came from (``(section, key) -> source``)."""

    value: T
    sources: Mapping[tuple[str, str], Source]

    def source(self, section: str, key: str) -> Source:
        return self.sources.get((section, key), "default")


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
        if isinstance(value, bool) or (hint is int and isinstance(value, float)):
            raise ConfigError(f"{where}: expected {hint.__name__}, got {value!r}")
        try:
            number = hint(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: expected {hint.__name__}, got {value!r}") from exc
        # no setting counts below zero (ports, sizes, timeouts, ratios, workers)
        if not 0 <= number < math.inf:
            raise ConfigError(f"{where}: expected a number from 0 up, got {value!r}")
        return number
    if hint is Path:
        if not isinstance(value, str | Path):
            raise ConfigError(f"{where}: expected a path, got {value!r}")
        return Path(value).expanduser()
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{where}: settings of type {hint!r} are not supported")


def env_var(section: str, key: str) -> str:
    return f"ATOLL_{section.upper().replace('-', '_')}_{key.upper()}"


def _config_file(config_file: Path | None, env: Mapping[str, str]) -> Path | None:
    if config_file is None and env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV])
    return config_file


def _table(doc: Mapping[str, Any], section: str, config_file: Path) -> dict[str, Any]:
    table = doc.get(section, {})
    if not isinstance(table, dict):
        raise ConfigError(f"{config_file}: [{section}] must be a table")
    return dict(table)


def _raise_any(problems: list[str]) -> None:
    """The problems found while loading, raised together as one :class:`ConfigError`."""
    if len(problems) == 1:
        raise ConfigError(problems[0])
    if problems:
        lines = "".join(f"\n  - {problem}" for problem in problems)
        raise ConfigError(f"{len(problems)} problems in the settings:{lines}")


def _known(
    table: Mapping[str, Any], fields: set[str], section: str, where: Path, problems: list[str]
) -> dict[str, Any]:
    """``table`` without its unknown keys, which go to ``problems`` (all in one line)."""
    unknown = sorted(set(table) - fields)
    if unknown:
        problems.append(
            f"{where}: [{section}] has unknown keys {', '.join(unknown)}; "
            f"known keys are {', '.join(sorted(fields))}"
        )
    return {k: v for k, v in table.items() if k in fields}


def _build(
    cls: type[T], section: str, layers: list[tuple[Source, _Layer]], problems: list[str]
) -> tuple[T | None, dict[str, Source]]:
    """``cls`` from its defaults and ``layers`` (lowest first), and each value's source;
    None (the reasons in ``problems``) when a value is wrong."""
    hints = typing.get_type_hints(cls)
    values: dict[str, object] = {}
    sources: dict[str, Source] = {}
    found = len(problems)
    for source, layer in layers:
        for key, (raw, where) in layer.items():
            if raw is None:
                continue
            if key not in hints:
                problems.append(f"{where} is not a {section} setting")
                continue
            try:
                values[key] = _coerce(raw, hints[key], where)
            except ConfigError as exc:
                problems.append(exc.message)
                continue
            sources[key] = source
    if len(problems) > found:
        return None, sources
    try:
        return cls(**values), sources
    except ConfigError as exc:  # a check of the settings' own (a range, a combination)
        problems.append(exc.message)
        return None, sources


def _file_layer(table: Mapping[str, Any], section: str, config_file: Path | None) -> _Layer:
    return {k: (v, f"{config_file}: [{section}].{k}") for k, v in table.items()}


def _env_layer(section: str, fields: set[str], env: Mapping[str, str]) -> _Layer:
    return {k: (env[v], f"environment {v}") for k in fields if (v := env_var(section, k)) in env}


def _flag_layer(flags: Mapping[str, object] | None) -> _Layer:
    return {k: (v, f"flag --{k.replace('_', '-')}") for k, v in (flags or {}).items()}


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
    fields = {f.name for f in dataclasses.fields(cls)}
    table: dict[str, Any] = {}
    problems: list[str] = []
    config_file = _config_file(config_file, env)
    if config_file is not None:
        table = _table(read_toml(config_file), section, config_file)
        table = _known(table, fields, section, config_file, problems)
    layers: list[tuple[Source, _Layer]] = [
        ("file", _file_layer(table, section, config_file)),
        ("env", _env_layer(section, fields, env)),
        ("flag", _flag_layer(flags)),
    ]
    built = _build(cls, section, layers, problems)[0]
    _raise_any(problems)
    assert built is not None  # no problem: built
    return built


def load_groups(
    cls: type[T],
    *,
    config_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, Mapping[str, object]] | None = None,
    moved: Mapping[tuple[str, str], Moved] | None = None,
) -> Loaded[T]:
    """Build ``cls``, a frozen dataclass of groups (field name = section), like :func:`load`.

    ``flags`` are per section; ``moved`` maps an old ``(section, key)`` to its new place: a
    value found there (file or ``ATOLL_<OLD SECTION>_<OLD KEY>``) is used for the new key,
    unless the new place is set too, with one warning naming the new ``[section] key``.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    env = os.environ if env is None else env
    groups: dict[str, type[Any]] = typing.get_type_hints(cls)
    config_file = _config_file(config_file, env)
    doc = read_toml(config_file) if config_file is not None else {}
    files: dict[str, _Layer] = {}
    envs: dict[str, _Layer] = {}
    problems: list[str] = []
    for section, group in groups.items():
        fields = {f.name for f in dataclasses.fields(group)}
        table = _table(doc, section, config_file) if config_file is not None else {}
        for old_section, old_key in moved or {}:
            if old_section == section:
                table.pop(old_key, None)  # read at its new place below
        if config_file is not None:
            table = _known(table, fields, section, config_file, problems)
        files[section] = _file_layer(table, section, config_file)
        envs[section] = _env_layer(section, fields, env)
    for (old_section, old_key), new in (moved or {}).items():
        _read_moved(doc, config_file, env, old_section, old_key, new, files, envs)
    built: dict[str, object] = {}
    sources: dict[tuple[str, str], Source] = {}
    for section, group in groups.items():
        layers: list[tuple[Source, _Layer]] = [
            ("file", files[section]),
            ("env", envs[section]),
            ("flag", _flag_layer((flags or {}).get(section))),
        ]
        built[section], found = _build(group, section, layers, problems)
        sources.update({(section, key): source for key, source in found.items()})
    _raise_any(problems)
    return Loaded(cls(**built), sources)


def _read_moved(
    doc: Mapping[str, Any],
    config_file: Path | None,
    env: Mapping[str, str],
    old_section: str,
    old_key: str,
    new: Moved,
    files: dict[str, _Layer],
    envs: dict[str, _Layer],
) -> None:
    """A moved key's value from its old place, into its new one unless that is set there."""
    old_table = doc.get(old_section)
    if isinstance(old_table, dict) and old_key in old_table:
        where = f"{config_file}: [{old_section}].{old_key}"
        _warn_moved(where, new)
        now = f"{where} (now [{new.section}].{new.key})"
        files[new.section].setdefault(new.key, (old_table[old_key], now))
    var = env_var(old_section, old_key)
    if var in env:
        _warn_moved(f"environment {var}", new)
        now = f"environment {var} (now {env_var(new.section, new.key)})"
        envs[new.section].setdefault(new.key, (env[var], now))


def _warn_moved(where: str, new: Moved) -> None:
    log.warning("%s is deprecated: it is now [%s] %s", where, new.section, new.key)
