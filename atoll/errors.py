"""The error tree shared by every component.

Components raise these (or subclasses of them) and translate library errors at their
boundary with ``raise ... from exc``. The type says whether retrying can help, so callers
(the reconciler, the sync session, the API layer) decide retry, log level and HTTP status in
one place::

    AtollError                      code            http  retry?
    ├── ConfigError                 bad_config      -     no: fix the file, env or flag
    ├── InvalidInput                invalid_input   400   no: carries a list of Problems
    │   ├── InvalidId               invalid_input   400   not an id (see atoll.ids)
    │   ├── MethodNotAllowed        method_not_allowed 405 the path takes other methods
    │   ├── NotAcceptable           not_acceptable  406   no reply type the Accept header takes
    │   ├── PayloadTooLarge         too_large       413
    │   ├── RequestTimeout          request_timeout 408   the body did not arrive in time
    │   └── UnsupportedMediaType    unsupported_media_type 415 a body of a type not taken
    ├── Unauthenticated             unauthenticated 401   no: log in again
    ├── Forbidden                   forbidden       403   no
    │   └── OverLimit               over_limit      403   not until one is deleted
    ├── NotFound                    not_found       404   no
    ├── Conflict                    conflict        409   maybe: re-read, then retry
    │   └── StaleRevision           stale_revision  409   re-read, then retry
    ├── TooManyRequests             too_many_requests 429 yes, after ``retry_after`` seconds
    ├── InternalError               internal        500   no: a bug of ours, see the log
    └── DependencyError             dependency      503   by subclass:
        ├── TemporaryError          temporary       503   yes, after ``delay`` seconds
        │   └── TooSlow             too_slow        503   it answered, but slowly: back off
        └── PermanentError          permanent       500   no: needs a person

``DependencyError`` is for things outside our code failing: libvirtd, OVS, etcd, qemu-img,
the network. Component-specific errors (``ComputeError``, ``StoreError``, ...) derive from
``TemporaryError`` or ``PermanentError`` so the retry decision stays in the type.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with some input: where it is, and what is wrong there.

    ``where`` is a path a person can follow, e.g. ``Definitions/x.yaml:
    topology_template.node_templates.VDU1`` or ``body.vcpus``.
    """

    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}" if self.where else self.what


class AtollError(Exception):
    """Base of every error Atoll raises on purpose."""

    code = "error"
    http_status = 500
    retryable = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(AtollError):
    """A setting is wrong: the message names the source (file, env var or flag) and key."""

    code = "bad_config"


class InvalidInput(AtollError):
    """Input a person or a client sent is wrong. Several problems are reported together."""

    code = "invalid_input"
    http_status = 400

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        self.problems = list(problems or [])
        if self.problems and message:
            full = message + "\n" + "\n".join(f"  - {p}" for p in self.problems)
        else:
            full = message
        super().__init__(full)
        self.summary = message


class InvalidId(InvalidInput):
    """Text that should be an id (see :mod:`atoll.ids`) is not one; names the field."""

    def __init__(self, field: str, value: object) -> None:
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        super().__init__(
            f"{field} is not an id",
            [Problem(field, f"{shown} is not an id (32 lowercase hex digits)")],
        )
        self.field = field


class PayloadTooLarge(InvalidInput):
    code = "too_large"
    http_status = 413


class RequestTimeout(InvalidInput):
    """A request's body did not arrive in the time the daemon gives it."""

    code = "request_timeout"
    http_status = 408


class Unauthenticated(AtollError):
    code = "unauthenticated"
    http_status = 401


class Forbidden(AtollError):
    code = "forbidden"
    http_status = 403


class OverLimit(Forbidden):
    """The project holds as many of these (or bytes of them) as it may
    (:mod:`atoll.hub.identity.limits`)."""

    code = "over_limit"


class NotFound(AtollError):
    code = "not_found"
    http_status = 404


class Conflict(AtollError):
    code = "conflict"
    http_status = 409


class StaleRevision(Conflict):
    """A compare-and-swap lost: the object changed since the caller read it."""

    code = "stale_revision"
    retryable = True


class TooManyRequests(AtollError):
    """The caller must slow down (failed logins from its address, a full password pool, or
    as many streams or uploads open at once as it may have); the API answers 429 with
    ``Retry-After: retry_after``."""

    code = "too_many_requests"
    http_status = 429
    retryable = True

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)


class DependencyError(AtollError):
    """Something outside our code failed (a daemon, a host tool, the network)."""

    code = "dependency"
    http_status = 503


class TemporaryError(DependencyError):
    """Retrying may help, after ``delay`` seconds."""

    code = "temporary"
    retryable = True

    def __init__(self, message: str, delay: float = 1.0) -> None:
        super().__init__(message)
        self.delay = delay


class TooSlow(TemporaryError):
    """Something outside answered (what it was asked is done) but took ``seconds``, at
    least the ``limit`` it is allowed: it is degraded, and its caller backs off from it as
    from a failure, so that its slowness delays only its own work (a tenant's callback that
    answers just under its timeout, say)."""

    code = "too_slow"

    def __init__(self, what: str, seconds: float, limit: float) -> None:
        super().__init__(f"{what} took {seconds:.1f} s to answer ({limit:g} s or more is slow)")
        self.seconds = seconds
        self.limit = limit


class PermanentError(DependencyError):
    """Retrying will not help; a person has to act."""

    code = "permanent"
    http_status = 500


class MethodNotAllowed(InvalidInput):
    """The path exists; the method does not."""

    code = "method_not_allowed"
    http_status = 405


class NotAcceptable(InvalidInput):
    """The caller accepts no media type this resource can answer in."""

    code = "not_acceptable"
    http_status = 406


class UnsupportedMediaType(InvalidInput):
    """The request body's Content-Type is not one the route takes; the message names them."""

    code = "unsupported_media_type"
    http_status = 415


class InternalError(AtollError):
    """A bug of ours: the client gets this, the log gets the traceback."""

    code = "internal"
