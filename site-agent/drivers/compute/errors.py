"""Errors of the compute driver, and the one place libvirt errors are translated.

Every error the compute driver raises is a :class:`ComputeError`; the second base says what
a caller can do about it, so the reconciler decides retry and log level from the type::

    ComputeError                                   code               retry?
    ├── InvalidDomainSpec   (InvalidInput)         invalid_domain     no: fix the spec
    ├── DomainNotFound      (NotFound)             domain_not_found   no
    ├── DomainConflict      (Conflict)             domain_conflict    no: name taken, or the
    │                                                                 domain is in a state
    │                                                                 that forbids the action
    ├── ComputeTemporary    (TemporaryError)       compute_temporary  yes, after ``delay``:
    │                                                                 libvirtd unreachable,
    │                                                                 domain busy, timeout
    └── ComputePermanent    (PermanentError)       compute_permanent  no: the hypervisor
                                                                      refused (e.g. QEMU
                                                                      failed to start)

:func:`translate` maps a ``libvirt.libvirtError`` to one of these by libvirt's error code;
drivers raise the result ``from`` the original so the cause stays in the log.
"""

from __future__ import annotations

import libvirt

from atoll.errors import (
    AtollError,
    Conflict,
    InvalidInput,
    NotFound,
    PermanentError,
    TemporaryError,
)


class ComputeError(AtollError):
    """Base of every compute driver error (never raised bare)."""

    code = "compute"


class InvalidDomainSpec(ComputeError, InvalidInput):
    """The server spec cannot become a domain (bad value, missing file)."""

    code = "invalid_domain"


class DomainNotFound(ComputeError, NotFound):
    """No domain of ours carries this server id."""

    code = "domain_not_found"


class DomainConflict(ComputeError, Conflict):
    """The name is taken by a domain that is not ours, or the state forbids the action."""

    code = "domain_conflict"


class ComputeTemporary(ComputeError, TemporaryError):
    """libvirtd is unreachable or busy, or an operation timed out: retry after ``delay``."""

    code = "compute_temporary"


class ComputePermanent(ComputeError, PermanentError):
    """The hypervisor refused; a retry will fail the same way until a person acts."""

    code = "compute_permanent"


_TEMPORARY_CODES = {
    libvirt.VIR_ERR_NO_CONNECT,
    libvirt.VIR_ERR_RPC,
    libvirt.VIR_ERR_OPERATION_TIMEOUT,
    libvirt.VIR_ERR_AGENT_UNRESPONSIVE,
    libvirt.VIR_ERR_SYSTEM_ERROR,
    libvirt.VIR_ERR_AUTH_UNAVAILABLE,
}
_NOT_FOUND_CODES = {libvirt.VIR_ERR_NO_DOMAIN}
_CONFLICT_CODES = {libvirt.VIR_ERR_OPERATION_INVALID, libvirt.VIR_ERR_DOM_EXIST}
_INVALID_CODES = {
    libvirt.VIR_ERR_XML_ERROR,
    libvirt.VIR_ERR_XML_DETAIL,
    libvirt.VIR_ERR_CONFIG_UNSUPPORTED,
    libvirt.VIR_ERR_INVALID_ARG,
}


def translate(exc: libvirt.libvirtError, action: str, server_id: str = "") -> ComputeError:
    """A :class:`ComputeError` for ``exc``, naming the action and the server it was for."""
    code = exc.get_error_code()
    what = exc.get_error_message() or str(exc)
    where = f" server {server_id}" if server_id else ""
    message = f"libvirt could not {action}{where}: {what}"
    if code in _NOT_FOUND_CODES:
        return DomainNotFound(message)
    if code in _CONFLICT_CODES or "already exists" in what:
        return DomainConflict(message)
    if code in _INVALID_CODES:
        return InvalidDomainSpec(message)
    if code in _TEMPORARY_CODES or (
        code == libvirt.VIR_ERR_INTERNAL_ERROR and "connection" in what.lower()
    ):
        return ComputeTemporary(message, delay=2.0)
    return ComputePermanent(message)
