"""The one policy table: which roles, in which scope, may call each route. Unlisted = denied.

A token is **system**-scoped (fleet administrators: roles from system role assignments),
**project**-scoped (roles from assignments on that project) or unscoped (no roles; it can
list the caller's projects and be exchanged for a scoped token). A :class:`Rule` names the
system roles and the project roles allowed; the handler then confines a project-scoped
caller to its own project (project isolation), which the route x role x project matrix test
checks. A rule with ``site`` also admits a joined site agent presenting its certificate
(TLS client certificate, no token): exactly what a site reads from the hub (image data,
revocations) and its own image transfer reports; a site caller is confined to its own site.
"""

from __future__ import annotations

from dataclasses import dataclass

from atoll.errors import Forbidden
from atoll.tokens import Claims

ROLES = ("admin", "member", "reader")

ADMIN = frozenset({"admin"})
WRITERS = frozenset({"admin", "member"})
ANYONE = frozenset(ROLES)
NOBODY: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Rule:
    system: frozenset[str] = NOBODY  # system roles allowed
    project: frozenset[str] = NOBODY  # project roles allowed (own project only)
    authenticated: bool = False  # any valid token, even unscoped
    public: bool = False  # no token at all
    site: bool = False  # a site agent by its certificate, without a token, may call it too

    def allows(self, claims: Claims) -> bool:
        if self.public or self.authenticated:
            return True
        allowed = self.system if claims.system else self.project if claims.project else NOBODY
        return bool(allowed.intersection(claims.roles))


PUBLIC = Rule(public=True)
SITE_ONLY = Rule(site=True)
SYSTEM_ADMIN = Rule(system=ADMIN)
SYSTEM_READ = Rule(system=ANYONE)

POLICY: dict[str, Rule] = {
    "openapi.show": PUBLIC,
    "docs.show": PUBLIC,  # renders openapi.show in the browser
    "docs.asset": PUBLIC,
    "health.live": PUBLIC,
    "health.ready": PUBLIC,
    "metrics.show": SYSTEM_READ,  # public when the hub's metrics_auth is false
    "auth.tokens.issue": PUBLIC,
    # the Keystone v3 facade checks X-Auth-Token itself, to answer in Keystone's error shape
    "identity_v3.versions": PUBLIC,
    "identity_v3.version": PUBLIC,
    "identity_v3.tokens.issue": PUBLIC,
    "identity_v3.tokens.validate": PUBLIC,  # one's own tokens, or any with a system token
    "identity_v3.tokens.revoke": PUBLIC,  # one's own tokens, or any as a system admin
    "auth.keys.list": PUBLIC,
    "auth.tokens.show_current": Rule(authenticated=True),
    "auth.tokens.revoke_current": Rule(authenticated=True),
    "auth.password.change": Rule(authenticated=True),  # one's own password only
    "revocations.list": Rule(system=ANYONE, site=True),
    "revocations.create": SYSTEM_ADMIN,
    "projects.list": Rule(authenticated=True),  # filtered to the caller's projects
    "projects.create": SYSTEM_ADMIN,
    "projects.show": Rule(system=ANYONE, project=ANYONE),
    "projects.update": Rule(system=ADMIN, project=ADMIN),
    "projects.delete": SYSTEM_ADMIN,
    "users.list": SYSTEM_READ,
    "users.create": SYSTEM_ADMIN,
    "users.show": Rule(system=ANYONE, project=ANYONE),  # project callers: only themselves
    "users.update": SYSTEM_ADMIN,
    "users.delete": SYSTEM_ADMIN,
    "role_assignments.list": Rule(system=ANYONE, project=ANYONE),
    "role_assignments.create": Rule(system=ADMIN, project=ADMIN),
    "role_assignments.delete": Rule(system=ADMIN, project=ADMIN),
    "application_credentials.list": Rule(project=ANYONE),
    "application_credentials.create": Rule(project=ANYONE),
    "application_credentials.show": Rule(project=ANYONE),
    "application_credentials.delete": Rule(project=ANYONE),
    "flavors.list": Rule(system=ANYONE, project=ANYONE),
    "flavors.show": Rule(system=ANYONE, project=ANYONE),
    "flavors.create": Rule(system=ADMIN, project=WRITERS),  # project: private to it
    "flavors.delete": Rule(system=ADMIN, project=WRITERS),  # project: its own private ones
    "sites.list": Rule(system=ANYONE, project=ANYONE),
    "sites.show": Rule(system=ANYONE, project=ANYONE),
    "sites.create": SYSTEM_ADMIN,
    "sites.update": SYSTEM_ADMIN,
    "sites.delete": SYSTEM_ADMIN,
    "site_events.list": SYSTEM_READ,
    "site_operations.list": SYSTEM_READ,
    "join_tokens.list": SYSTEM_ADMIN,
    "join_tokens.create": SYSTEM_ADMIN,
    "join_tokens.delete": SYSTEM_ADMIN,
    "sync.ca": PUBLIC,  # the join token is the credential (throttled)
    "sync.join": PUBLIC,  # the join token is the credential (throttled)
    "sync.renew": SITE_ONLY,
    "vnfpkgm.api_versions": PUBLIC,  # SOL013 API versions (atoll.hub.api.sol013)
    "vnfpkgm.v1.api_versions": PUBLIC,
    "vnf_packages.list": Rule(system=ANYONE, project=ANYONE),
    "vnf_packages.show": Rule(system=ANYONE, project=ANYONE),
    "vnf_packages.content": Rule(system=ANYONE, project=ANYONE),
    "vnf_packages.vnfd": Rule(system=ANYONE, project=ANYONE),
    "vnf_packages.artifact": Rule(system=ANYONE, project=ANYONE),
    "vnf_packages.create": Rule(project=WRITERS),  # a package belongs to a project
    "vnf_packages.upload": Rule(system=ADMIN, project=WRITERS),
    "vnf_packages.upload_from_uri": Rule(system=ADMIN, project=WRITERS),
    "vnf_packages.update": Rule(system=ADMIN, project=WRITERS),
    "vnf_packages.delete": Rule(system=ADMIN, project=WRITERS),
    # VNF lifecycle (/vnflcm/v2): instances and op occurrences belong to a project
    "vnflcm.api_versions": PUBLIC,
    "vnflcm.v2.api_versions": PUBLIC,
    **{
        f"vnflcm.{name}": Rule(system=ANYONE, project=ANYONE)
        for name in ("instances.list", "instances.show", "op_occs.list", "op_occs.show")
    },
    **{
        f"vnflcm.instances.{action}": Rule(project=WRITERS)
        for action in (
            "create",
            "delete",
            "instantiate",
            "scale",
            "scale_to_level",
            "heal",
            "terminate",
            "change_vnfpkg",
        )
    },
    **{
        f"vnflcm.op_occs.{task}": Rule(system=ADMIN, project=WRITERS)
        for task in ("retry", "rollback", "fail", "cancel")
    },
    "vnflcm.v1.op_occs.cancel": Rule(system=ADMIN, project=WRITERS),  # tackerclient's path
    # images: sites pull by their certificate; people by token
    "images.list": Rule(system=ANYONE, project=ANYONE),
    "images.show": Rule(system=ANYONE, project=ANYONE),
    "images.create": Rule(system=ADMIN, project=WRITERS),
    "images.upload": Rule(system=ADMIN, project=WRITERS),
    "images.delete": Rule(system=ADMIN, project=WRITERS),
    "images.download": Rule(system=ANYONE, project=ANYONE, site=True),
    "images.manifest": Rule(system=ANYONE, project=ANYONE, site=True),
    "images.chunk": Rule(system=ANYONE, project=ANYONE, site=True),
    "images.prestage": Rule(system=ADMIN, project=WRITERS),
    "images.scrub": SYSTEM_ADMIN,  # reads the whole image store
    "image_transfers.list": Rule(system=ANYONE, project=ANYONE),
    "sites.image_transfers.list": Rule(system=ANYONE, site=True),
    "sites.image_transfers.update": Rule(system=WRITERS, site=True),
    # intent placed at sites (project-isolated by project id in the handlers)
    **{
        f"site_{noun}.{action}": Rule(system=ANYONE, project=ANYONE)
        if action in ("list", "show")
        else Rule(system=ADMIN, project=WRITERS)
        for noun in ("servers", "networks", "subnets", "volumes")
        for action in ("list", "show", "create", "delete")
    },
    "site_servers.reboot": Rule(system=ADMIN, project=WRITERS),
    "site_servers.stop": Rule(system=ADMIN, project=WRITERS),
    "site_servers.start": Rule(system=ADMIN, project=WRITERS),
    # a console log may hold what the guest printed (keys, passwords): members, as Nova does
    "site_servers.console": Rule(system=ADMIN, project=WRITERS),
    "metrics.query": Rule(system=ANYONE, project=ANYONE),  # a project: its servers' series
    "alarms.list": Rule(system=ANYONE, project=ANYONE),
    "alarms.show": Rule(system=ANYONE, project=ANYONE),
    "alarms.history": Rule(system=ANYONE, project=ANYONE),
    "alarms.create": Rule(system=ADMIN, project=WRITERS),
    "alarms.delete": Rule(system=ADMIN, project=WRITERS),
    "alarms.acknowledge": Rule(system=ADMIN, project=WRITERS),
    "alarms.silence": Rule(system=ADMIN, project=WRITERS),
    "conflicts.list": Rule(system=ANYONE, project=ANYONE),
    "conflicts.show": Rule(system=ANYONE, project=ANYONE),
    "conflicts.resolve": Rule(system=ADMIN, project=WRITERS),
    # LCM notification subscriptions belong to a project (system scope cannot create one)
    "vnflcm_subscriptions.list": Rule(system=ANYONE, project=ANYONE),
    "vnflcm_subscriptions.show": Rule(system=ANYONE, project=ANYONE),
    "vnflcm_subscriptions.create": Rule(project=WRITERS),
    "vnflcm_subscriptions.delete": Rule(system=ADMIN, project=WRITERS),
    "sync.connect": PUBLIC,  # a site certificate, checked by the handler (401 without)
    # the dashboard (atoll.hub.dashboard): its page and sign-in are public; its data is the
    # API's, under the rules above, plus an overview and a stream anyone with a role may see
    "ui.redirect": PUBLIC,
    "ui.page": PUBLIC,
    "ui.static": PUBLIC,
    "ui.session.create": PUBLIC,  # a password, like auth.tokens.issue (same throttle)
    "ui.session.show": Rule(authenticated=True),
    "ui.session.delete": Rule(authenticated=True),
    "ui.fleet": Rule(system=ANYONE, project=ANYONE),  # what sites.list shows, aggregated
    "ui.events": Rule(system=ANYONE, project=ANYONE),  # filtered to what the caller may see
}


def rule_for(route_name: str | None) -> Rule | None:
    return POLICY.get(route_name or "")


def authorize(route_name: str, claims: Claims) -> None:
    """Raise Forbidden unless the policy table lets ``claims`` call ``route_name``."""
    rule = rule_for(route_name)
    if rule is None or not rule.allows(claims):
        raise Forbidden(f"your token ({describe_scope(claims)}) may not call {route_name}")


def describe_scope(claims: Claims) -> str:
    roles = ", ".join(claims.roles) or "no roles"
    if claims.system:
        return f"system scope, {roles}"
    if claims.project:
        return f"project {claims.project}, {roles}"
    return "unscoped"


def own_project(claims: Claims, project: str | None) -> bool:
    """System callers reach every project; project callers only their own."""
    return claims.system or (claims.project is not None and claims.project == project)
