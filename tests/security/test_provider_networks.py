"""A project member cannot put a network on a site's physical network (a provider network).

Before: ``POST /v1/sites/{site}/networks`` took ``physical_network`` (and ``segment_type:
vlan``, ``vlan_id``) from any project member. The site wires such a network to its uplink:
the member's servers sat on whatever that VLAN (or the untagged uplink) carries at the site,
and a site carries one network per VLAN id and one flat network per physical network, first
come: a member who asked first for VLAN 100 (seen: ACTIVE) left another tenant's VLAN 100
network at that site in ``ERROR`` ("VLAN 100 ... is already used on this site by network
<the other tenant's id>"), for good. Now a provider network is a system administrator's to
place, naming the project that is to use it (as Neutron's provider attributes are an
admin's); a project member's network is the site's own segment.
"""

from __future__ import annotations

import secrets

from tests.security.daemons import RunningHub

PROVIDER = {"segment_type": "vlan", "physical_network": "phys", "vlan_id": 100}


def test_a_project_member_cannot_claim_a_segment_of_the_sites_uplink(hub: RunningHub) -> None:
    tag = secrets.token_hex(3)
    site, project = f"pn-{tag}", f"pn-a-{tag}"
    hub.ok("POST", "/v1/sites", {"name": site})
    member = hub.tenant(project, f"pn-mallory-{tag}")
    networks = f"/v1/sites/{site}/networks"
    for spec in (PROVIDER, {"segment_type": "flat", "physical_network": "phys"}):
        reply = hub.call("POST", networks, {"name": "squat", "spec": spec}, token=member)
        assert reply.status == 403, reply
        assert "body.spec.physical_network" in reply.message
    assert hub.ok("GET", networks, token=member)["items"] == []
    # the site's own segment is the member's to make; a provider network the admin places
    hub.ok("POST", networks, {"name": "inside", "spec": {"mtu": 9000}}, token=member)
    placed = hub.ok("POST", networks, {"name": "uplink", "project": project, "spec": PROVIDER})
    shown = hub.ok("GET", f"{networks}/{placed['id']}", token=member)
    assert shown["spec"]["vlan_id"] == 100
