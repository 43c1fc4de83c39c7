"""Errors of the compute driver, and the one place failures below it are translated.

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
                                                                      failed to start), or
                                                                      genisoimage or a file
                                                                      write failed

:func:`translate` is the one place a failure below the driver becomes one of these: a
``libvirt.libvirtError`` by libvirt's error code, a helper tool that failed (genisoimage) or a
file the driver could not write. Drivers raise the result ``from`` the original.

Messages reach people who must not learn the host's layout: a server's status message is
read by site users and, through the hub, by its tenant; an API answer by its caller. So no
message names a host path: :func:`translate` cuts every path in what libvirt, QEMU or a tool
said to its file name (:func:`atoll.host_paths.cut`; the files the action involved are found
even unquoted with a space in them), and the driver's own messages name a file by its name
(a volume by its id). What was cut is kept for the agent's log (:attr:`ComputeError.on_host`,
which the driver logs): the operator needs the path to act.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import libvirt

from atoll import host_paths
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
    on_host = ""  # the message as the host said it, paths and all: for the agent's log only


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


def translate(
    exc: Exception, action: str, server_id: str = "", files: Iterable[Path] = ()
) -> ComputeError:
    """A :class:`ComputeError` for ``exc``, naming the action and the server it was for, and
    no host path (``files``: the host files the action involved).

    - a ``libvirt.libvirtError``: by its error code (see the tree above);
    - a tool that failed (``CalledProcessError``, with its ``stderr``), took too long or
      could not start, or a file that could not be written (``OSError``):
      ``ComputePermanent``.
    """
    doing = f"could not {action}" + (f" server {server_id}" if server_id else "")
    if isinstance(exc, libvirt.libvirtError):
        said = exc.get_error_message() or str(exc)
        doing = f"libvirt {doing}: "
        error = _by_code(exc.get_error_code(), said, doing + host_paths.cut(said, files))
        return _keeping(error, doing + said)
    if isinstance(exc, subprocess.CalledProcessError):
        given = [Path(a) for a in exc.cmd[1:] if isinstance(a, str) and a.startswith("/")]
        tool = _tool(exc.cmd)
        lines = [line.strip().removeprefix(f"{tool}: ") for line in (exc.stderr or "").splitlines()]
        said = "; ".join(line for line in lines if line) or f"exit status {exc.returncode}"
        doing = f"{doing}: {tool} failed: "
        cut = host_paths.cut(said, [*given, *files])
        return _keeping(ComputePermanent(doing + cut), doing + said)
    if isinstance(exc, subprocess.TimeoutExpired):
        return ComputePermanent(f"{doing}: {_tool(exc.cmd)} took longer than {exc.timeout:.0f} s")
    if isinstance(exc, OSError):  # its strerror names no file; the log gets the file too
        error = ComputePermanent(f"{doing}: {exc.strerror or type(exc).__name__}")
        return _keeping(error, f"{doing}: {exc}")
    return ComputePermanent(f"{doing}: {type(exc).__name__}")


def _by_code(code: int | None, said: str, message: str) -> ComputeError:
    if code in _NOT_FOUND_CODES:
        return DomainNotFound(message)
    if code in _CONFLICT_CODES or "already exists" in said:
        return DomainConflict(message)
    if code in _INVALID_CODES:
        return InvalidDomainSpec(message)
    if code in _TEMPORARY_CODES or (
        code == libvirt.VIR_ERR_INTERNAL_ERROR and "connection" in said.lower()
    ):
        return ComputeTemporary(message, delay=2.0)
    return ComputePermanent(message)


def _tool(cmd: Any) -> str:
    """The name of the program a ``subprocess`` error ran (``cmd``: its argv or command line)."""
    argv = list(cmd) if isinstance(cmd, list | tuple) else str(cmd).split()
    return Path(str(argv[0])).name if argv else "a tool"


def _keeping(error: ComputeError, on_host: str) -> ComputeError:
    """``error``, keeping what the host said for the log when its message had to cut it."""
    if on_host != error.message:
        error.on_host = on_host
    return error
