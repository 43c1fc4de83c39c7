"""Whether a daemon may listen without TLS, and the TLS context it listens with otherwise.

The rule both daemons keep: plain HTTP carries bearer tokens and credentials in clear, so it is
served without a word only on a loopback address. Anywhere else it needs TLS, or the operator
must say ``insecure`` out loud, and then every start logs a warning. The SSL context itself
comes from :func:`atoll.certs.server_ssl_context`, the one place contexts are made.
"""

from __future__ import annotations

import ipaddress
import logging
import ssl
from pathlib import Path

from atoll import certs
from atoll.errors import ConfigError

log = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (``127.0.0.0/8``, ``::1``); not ``0.0.0.0``/``::``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_plain_http(host: str, *, insecure: bool, fix: str) -> None:
    """Allow plain HTTP on ``host``: always on loopback; elsewhere only when ``insecure``, with
    a warning. Otherwise a ConfigError saying why and ``fix`` (how to turn TLS on)."""
    if is_loopback(host):
        return
    if not insecure:
        raise ConfigError(
            f"refusing to serve plain HTTP on {host}, which is not a loopback address: "
            f"tokens and credentials would cross the network in clear; {fix}"
        )
    log.warning(
        "serving plain HTTP on %s (insecure): tokens and credentials cross the network in "
        "clear; anyone on the path can read and replay them",
        host,
    )


def server_tls(
    host: str,
    cert_file: Path | None,
    key_file: Path | None,
    *,
    insecure: bool,
    fix: str,
) -> ssl.SSLContext | None:
    """The context to serve HTTPS with when a certificate and key are given; None (plain HTTP)
    when :func:`check_plain_http` allows it."""
    if cert_file is not None or key_file is not None:
        if cert_file is None or key_file is None:
            missing = "tls_cert_file" if cert_file is None else "tls_key_file"
            raise ConfigError(f"HTTPS needs both a certificate and its key: set {missing} too")
        return certs.server_ssl_context(cert_file, key_file)
    check_plain_http(host, insecure=insecure, fix=fix)
    return None
