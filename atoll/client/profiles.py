"""Named hub profiles (``clouds.toml``): ``atoll --cloud NAME ...`` or ``ATOLL_CLOUD=NAME``.

The file is ``$XDG_CONFIG_HOME/atoll/clouds.toml`` (default ``~/.config/atoll``), mode 0600,
one table per profile::

    [clouds.lab]
    url = "https://hub.lab:8470"
    ca_file = "/home/me/lab-ca.pem"
    user = "alice"
    project = "demo"
    token = "..."                 # saved by 'atoll login --cloud lab'
    expires_at = "2026-12-01T10:00:00Z"

    [clouds.ci]                   # an application credential instead of a saved token:
    url = "https://hub.ci:8470"   # the CLI gets a token with it when it needs one
    application_credential_id = "..."
    application_credential_secret = "..."   # written by you; atoll never writes a secret

``atoll login --cloud NAME`` saves the token, URL, CA, user and project into the profile and
keeps every other key of the file as it was; a password is never written.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from atoll.client.login import config_dir
from atoll.errors import ConfigError

CLOUD_ENV = "ATOLL_CLOUD"


@dataclass(frozen=True)
class Profile:
    name: str
    url: str | None = None
    ca_file: str | None = None
    user: str | None = None
    project: str | None = None
    token: str | None = None
    expires_at: str | None = None
    application_credential_id: str | None = None
    application_credential_secret: str | None = None
    password: str | None = None  # only if you write one yourself


KEYS = tuple(f.name for f in fields(Profile) if f.name != "name")


def clouds_path(env: Mapping[str, str] | None = None) -> Path:
    return config_dir(env) / "clouds.toml"


def cloud_name(flag: str | None, env: Mapping[str, str] | None = None) -> str | None:
    """The profile a command uses: ``--cloud``, else ``ATOLL_CLOUD``, else none."""
    env = os.environ if env is None else env
    return flag or env.get(CLOUD_ENV) or None


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"the profiles file {path} cannot be read: {exc}") from exc
    clouds = doc.get("clouds", {})
    if not isinstance(clouds, dict) or not all(isinstance(v, dict) for v in clouds.values()):
        raise ConfigError(f"{path}: [clouds.NAME] tables hold the profiles")
    return clouds


def find_profile(name: str, env: Mapping[str, str] | None = None) -> Profile | None:
    """Profile ``name``, or None when the file has none of that name."""
    if name not in _read(clouds_path(env)):
        return None
    return load_profile(name, env)


def load_profile(name: str, env: Mapping[str, str] | None = None) -> Profile:
    path = clouds_path(env)
    clouds = _read(path)
    if name not in clouds:
        known = ", ".join(sorted(clouds)) or "none yet"
        raise ConfigError(
            f"no profile {name!r} in {path} (profiles: {known}); "
            f"create it with 'atoll login --cloud {name} --url URL --user USER'"
        )
    table = clouds[name]
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise ConfigError(
            f"{path}: [clouds.{name}] has unknown keys {', '.join(unknown)}; "
            f"known keys are {', '.join(KEYS)}"
        )
    bad = [k for k, v in table.items() if not isinstance(v, str)]
    if bad:
        raise ConfigError(f"{path}: [clouds.{name}] {', '.join(bad)} must be strings")
    return Profile(name, **table)


def save_profile(profile: Profile, env: Mapping[str, str] | None = None) -> Path:
    """Write ``profile`` into the file (mode 0600), keeping the other profiles, and keeping
    the keys of this one that ``profile`` leaves unset (a secret you wrote stays)."""
    path = clouds_path(env)
    clouds = _read(path)
    merged = dict(clouds.get(profile.name, {}))
    merged.update({k: getattr(profile, k) for k in KEYS if getattr(profile, k) is not None})
    clouds[profile.name] = merged
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(render(clouds))
    return path


def render(clouds: Mapping[str, Mapping[str, Any]]) -> str:
    """The profiles as TOML (JSON string escapes are TOML basic-string escapes)."""
    out = ["# atoll profiles: 'atoll --cloud NAME ...' (see 'atoll login --cloud')"]
    for name, table in clouds.items():
        out += ["", f"[clouds.{json.dumps(name)}]"]
        out += [f"{key} = {json.dumps(str(value))}" for key, value in table.items()]
    return "\n".join(out) + "\n"
