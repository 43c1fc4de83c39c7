"""VIM access information in LCM requests is write-only: Atoll keeps none of it.

SOL003 (``VimConnectionInfo``, §4.4.1.6) says the sensitive children of ``accessInfo``
(passwords, client secrets, tokens) are not returned. A Tacker-style client sends
``vimConnectionInfo`` with an instantiate or a change_vnfpkg; Atoll's VIMs are its sites,
which the hub reaches over sync with its own certificates, so the hub never uses what the
request says there. It therefore keeps none of the secrets rather than hiding them on the
way out: :func:`without_secrets` is the request body as the op occurrence stores it
(``operationParams``), so every reply, list, notification record and backup holds only
that. Each ``vimConnectionInfo`` entry loses its ``accessInfo`` (all of it: which of its
keys are secret depends on the ``vimType``, and none is needed) and, in its
``interfaceInfo``, every key that names a secret (:func:`atoll.logs.secret_name`, the keys
the log masks).

The hub applies it again to what it shows (op occurrences, instances' ``vimConnectionInfo``),
for records an earlier hub stored, and its start-up migration scrubs those records.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from atoll.logs import secret_name

VIM_CONNECTION_INFO = "vimConnectionInfo"
ACCESS_INFO = "accessInfo"
INTERFACE_INFO = "interfaceInfo"


def without_secrets(body: Any) -> Any:
    """``body`` (a request, or an object holding ``vimConnectionInfo``) without the VIM
    access information; anything else in it is kept as it is. ``body`` is not changed."""
    if not isinstance(body, Mapping) or not isinstance(body.get(VIM_CONNECTION_INFO), Mapping):
        return body
    return {**body, VIM_CONNECTION_INFO: vim_connections(body[VIM_CONNECTION_INFO])}


def vim_connections(info: Mapping[str, Any]) -> dict[str, Any]:
    """A ``vimConnectionInfo`` map (id -> VimConnectionInfo) without its secrets."""
    out: dict[str, Any] = {}
    for vim_id, entry in info.items():
        if not isinstance(entry, Mapping):
            out[vim_id] = entry
            continue
        kept = {k: v for k, v in entry.items() if k != ACCESS_INFO}
        if INTERFACE_INFO in kept:
            kept[INTERFACE_INFO] = _no_secret_keys(kept[INTERFACE_INFO])
        out[vim_id] = kept
    return out


def holds_secrets(body: Any) -> bool:
    """Whether :func:`without_secrets` would take something out of ``body``."""
    return bool(without_secrets(body) != body)


def _no_secret_keys(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {
            k: _no_secret_keys(v)
            for k, v in value.items()
            if not (isinstance(k, str) and secret_name(k))
        }
    if isinstance(value, list):
        return [_no_secret_keys(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_no_secret_keys(v) for v in value)
    return value
