"""The saved login the CLI uses (``atoll login``), and where it lives.

``atoll login`` saves ``{"url", "token", "ca_file", "user", "project", "expires_at"}`` to
``$XDG_CONFIG_HOME/atoll/login.json`` (default ``~/.config/atoll``), mode 0600.
``ATOLL_URL``, ``ATOLL_TOKEN`` and ``ATOLL_CA_FILE`` override what was saved.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from atoll.errors import ConfigError


@dataclass(frozen=True)
class Login:
    url: str
    token: str
    ca_file: str | None = None
    user: str | None = None
    project: str | None = None
    expires_at: str | None = None


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "atoll"


def login_path(env: Mapping[str, str] | None = None) -> Path:
    return config_dir(env) / "login.json"


def save_login(login: Login, env: Mapping[str, str] | None = None) -> Path:
    path = login_path(env)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # O_CREAT's mode is for a new file: one already there keeps its own
    with os.fdopen(fd, "w") as fh:
        json.dump(asdict(login), fh, indent=2)
    return path


def load_login(env: Mapping[str, str] | None = None) -> Login | None:
    path = login_path(env)
    try:
        data = json.loads(path.read_text())
        return Login(**data)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"the saved login {path} is damaged; run 'atoll login' again") from exc
