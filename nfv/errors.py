"""Errors of the ``nfv`` component, all rooted in the shared tree of ``atoll.errors``::

    InvalidInput                    (atoll.errors)
    ├── InvalidPackage              a VNF package or its VNFD is wrong; carries every Problem
    ├── InvalidPlanRequest          a flavour, level or scale level a package does not offer,
    │                               or a VDU count past its vdu_profile
    ├── NoPlacement                 no site can take a VNFC (capacity, rules, labels)
    ├── RollbackNotSupported        (422) rollback of an operation that has none
    └── VersionNotSupported         (406) a SOL013 Version header we do not serve

All are 4xx-class: retrying the same input never helps, a person fixes the package or the
request. Every ``Problem.where`` names the file inside the package and the path inside it
(``Definitions/df.yaml:63: topology_template.node_templates.VDU1``), so the vendor or the
operator can act without reading our code.
"""

from __future__ import annotations

from atoll.errors import InvalidInput, Problem


class InvalidPackage(InvalidInput):
    """The package cannot be onboarded; ``problems`` lists everything found, not the first."""


class InvalidPlanRequest(InvalidInput):
    """A plan asked for something the deployment flavour does not offer, or for more (or
    fewer) instances of a VDU than its ``vdu_profile`` allows: each problem names the VDU,
    the count asked for and the bound (the package itself may ask for it: that is only a
    warning at onboarding)."""


class ProblemLog:
    """Collects problems (which refuse the package) and warnings (which do not) while reading.

    One instance per ``load_package`` call; nothing is shared between calls.
    """

    def __init__(self) -> None:
        self.errors: list[Problem] = []
        self.warnings: list[Problem] = []

    def error(self, where: str, what: str) -> None:
        problem = Problem(where, what)
        if problem not in self.errors:
            self.errors.append(problem)

    def warn(self, where: str, what: str) -> None:
        problem = Problem(where, what)
        if problem not in self.warnings:
            self.warnings.append(problem)

    def raise_if_any(self, summary: str) -> None:
        if self.errors:
            raise InvalidPackage(summary, self.errors)


class RollbackNotSupported(InvalidInput):
    """``rollback`` of an operation SOL003 (and Tacker) cannot roll back: heal, scale in,
    scale to level, terminate. Answered 422 before anything changes."""

    code = "rollback_not_supported"
    http_status = 422


class VersionNotSupported(InvalidInput):
    """The SOL013 ``Version`` request header names an API version this one does not serve;
    the message lists those it does."""

    code = "version_not_supported"
    http_status = 406


class NoPlacement(InvalidInput):
    """No site can take a VNFC under the placement asked for (capacity, rules, labels); each
    problem names the VNFC, its VDU and why each candidate site was turned down."""

    code = "no_placement"
