"""The agent's resources as a client sees them: create, list, show, delete and actions.

:meth:`Resources.apply` is the one way an object enters this site's desired state: it takes
typed intent (:class:`atoll.resources.Desired`: kind, meta with id, name and project id, the
spec, its origin and the hub revision it was based on) and records who owns what with it.
The local API calls it with ``origin="site"`` (``create_*`` parse a request body into
intent with a new site id); the sync inbox comes in through
:class:`~.hub_intent.HubIntent`, which creates through the same path. Delivering the same
intent again (same id, origin and hub revision) is a no-op, so at-least-once delivery has an
exactly-once effect.

Every check that can fail runs before anything is written, and what is written for one
intent goes in one SQLite transaction, so a bad spec (unknown flavor, missing image,
duplicate name, exhausted subnet, ...) fails with a clear error and leaves nothing
half-made. The reconciler does the work afterwards; :attr:`kick` wakes it.

**Operation records.** Every local change (create, delete, an action) writes a
site-authored operation record (``sync/PROTOCOL.md``) into the outbox in the same
transaction as the desired-object write: intent is journaled before the act, and the hub
hears of everything the site did, also while it was cut off (:mod:`.operations`).

**Hub intent** (update, delete, holds behind unacked local changes, a snapshot's sweep) is
:mod:`.hub_intent`'s.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
from collections.abc import Callable, Collection
from dataclasses import dataclass

from atoll import ids
from atoll.errors import Conflict, InvalidInput, NotFound, Problem
from atoll.ids import Origin
from atoll.jsonbody import JSON
from atoll.resources import Desired, Kind, Meta, Model, SubnetSpec
from atoll.site_agent import specs, views
from atoll.site_agent.capacity import Claim, HostCapacity, check_fits
from atoll.site_agent.catalog import ImageCatalog
from atoll.site_agent.drivers.network.errors import NetworkError
from atoll.site_agent.drivers.network.ipam import SubnetIpam
from atoll.site_agent.errors import BadSpec, DuplicateName
from atoll.site_agent.operations import desired_wire_blocking, record
from atoll.site_agent.store import DesiredObject, LocalStore, NewObject
from atoll.site_agent.store.queues import Operation

log = logging.getLogger(__name__)

GiB = 1024**3


@dataclass(frozen=True)
class Owner:
    """Who an object's spec comes from, as the store records it, and the operation record
    a local create writes with it."""

    origin: Origin = "site"
    hub_revision: int | None = None
    project_id: str | None = None
    operation: Operation | None = None

    @property
    def operations(self) -> tuple[Operation, ...]:
        return () if self.operation is None else (self.operation,)

    def row(self, kind: str, obj_id: str, name: str | None, spec: JSON) -> NewObject:
        return NewObject(kind, obj_id, name, spec, self.origin, self.hub_revision, self.project_id)


DEFAULT_FLAVORS = (
    ("tiny", 1, 128),
    ("small", 1, 512),
    ("medium", 2, 2048),
)


def new_mac() -> str:
    """A locally administered unicast MAC (fa:16:3e is OpenStack's; we use fa:16:3f)."""
    return "fa:16:3f:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(3))


class Resources:
    def __init__(
        self,
        store: LocalStore,
        images: ImageCatalog,
        default_restart: str = "on-failure",
        kick: Callable[[], None] = lambda: None,
        physical_networks: Collection[str] | None = None,
        capacity: HostCapacity | None = None,  # None: servers are not checked against the host
        site_name: str = "site",
    ) -> None:
        self.capacity = capacity
        self.store = store
        self.images = images
        self.default_restart = default_restart
        self.kick = kick
        self.physical_networks = None if physical_networks is None else set(physical_networks)
        self._site_tag = ids.site_tag(site_name)

    def new_id(self) -> str:
        """A site id (see :mod:`atoll.ids`): never equal to any id the hub mints."""
        return ids.site_id(self._site_tag)

    def seed_blocking(self) -> None:
        """Default flavors at first start."""
        if self.store.list_objects("flavor"):
            return
        rows: list[tuple[str, str, str | None, JSON]] = [
            ("flavor", self.new_id(), name, {"name": name, "vcpus": vcpus, "ram_mb": ram})
            for name, vcpus, ram in DEFAULT_FLAVORS
        ]
        self.store.insert_objects([NewObject(*r) for r in rows], [])

    # -- reads -----------------------------------------------------------------------------
    async def list_kind(self, kind: str) -> list[JSON]:
        return await self.store.call(self._list_blocking, kind)

    def _list_blocking(self, kind: str) -> list[JSON]:
        statuses = self.store.statuses(kind)
        leases = self._port_views_blocking() if kind == "server" else {}
        return [
            views.render(obj, statuses.get(obj.id), leases) for obj in self.store.list_objects(kind)
        ]

    async def show(self, kind: str, ref: str) -> JSON:
        return await self.store.call(self._show_blocking, kind, ref)

    def _show_blocking(self, kind: str, ref: str) -> JSON:
        obj = self.store.find_object(kind, ref)
        leases = self._port_views_blocking() if kind == "server" else {}
        return views.render(obj, self.store.get_status(kind, obj.id), leases)

    def _port_views_blocking(self) -> dict[str, JSON]:
        """port id -> {network, mac, ip} for server views."""
        out: dict[str, JSON] = {}
        for port in self.store.list_objects("port"):
            out[port.id] = dict(port.spec)
        return out

    # -- servers ---------------------------------------------------------------------------
    # -- the one way in ----------------------------------------------------------------------
    async def apply(self, intent: Desired) -> JSON:
        """Record ``intent`` as desired (see the module docstring); its view as a client sees it.

        An object that exists already is left as it is when the same intent is delivered
        again; other changes to an existing object go through its actions (reboot, attach...)
        or delete and create, for now.
        """
        kind, meta = intent.kind, intent.meta
        current = await self.store.call(self._get_blocking, kind, meta.id)
        if current is not None:
            same = (current.origin, current.hub_revision) == (intent.origin, intent.hub_revision)
            if same and not current.deleting:
                return await self.show(kind, meta.id)
            raise Conflict(
                f"{kind} {meta.id} exists already (from {current.origin}, hub revision "
                f"{current.hub_revision}); change it through its actions, or delete it first"
            )
        return await self._create(intent, local=intent.origin == "site")

    async def _create(self, intent: Desired, *, local: bool) -> JSON:
        """A new object from ``intent``; ``local``: made here, so an operation record goes
        with it (intent from the hub needs none: the hub has it)."""
        kind, meta = intent.kind, intent.meta
        operation = None
        if local:
            operation = record(self.store, "create", kind, meta.id, None, intent.to_wire())
        owner = Owner(intent.origin, intent.hub_revision, meta.project_id, operation)
        spec = {"name": meta.name, **intent.spec.to_wire()}
        if kind == "server":
            made = await self._add_server(meta.id, spec, owner)
        elif kind == "network":
            made = await self._add_network(meta.id, spec, owner)
        elif kind == "subnet":
            made = await self._add_subnet(meta.id, spec, owner)
        elif kind in ("flavor", "volume"):
            made = await self._insert(kind, meta.id, spec["name"], spec, owner=owner)
        else:
            raise InvalidInput(
                f"a {kind} is not made through the site's API", [Problem("kind", kind)]
            )
        log.info(
            "created %s %s (id %s, from %s)", kind, meta.name, meta.id, intent.origin,
            extra={"kind": kind, "id": meta.id, "origin": intent.origin},
        )  # fmt: skip
        return made

    def _get_blocking(self, kind: str, obj_id: str) -> DesiredObject | None:
        try:
            return self.store.get_object(kind, obj_id)
        except NotFound:
            return None

    def _intent(
        self, kind: Kind, name: str | None, spec: Model, obj_id: str | None = None
    ) -> Desired:
        """A request body the API parsed, as intent from this site (a new site id)."""
        meta = Meta(id=obj_id or self.new_id(), name=name)
        return Desired(kind=kind, meta=meta, spec=spec, origin="site")

    # -- servers ---------------------------------------------------------------------------
    async def create_server(self, body: object) -> JSON:
        name, spec = specs.SERVER.parse(body, {"restart_policy": self.default_restart})
        return await self.apply(self._intent("server", name, spec))

    async def _add_server(self, server_id: str, spec: JSON, owner: Owner) -> JSON:
        # the hub's servers may name images the site pulls afterwards (the reconciler waits)
        local = owner.operation is not None
        missing = [
            Problem(f"body.{key}", f"image {spec[key]!r} is not present at this site")
            for key in ("image", "kernel", "ramdisk")
            if local and spec.get(key) and await self.images.find(spec[key]) is None
        ]
        if missing:
            present = ", ".join(i.id for i in await self.images.list_images()) or "none"
            raise BadSpec(f"the server cannot be created (images present: {present})", missing)
        totals, disks = None, {}
        if self.capacity is not None:
            totals = await self.capacity.totals()
            disks = {i.id: i.virtual_size for i in await self.images.list_images()}
        await self.store.call(self._create_server_blocking, server_id, spec, totals, disks, owner)
        self.kick()
        return await self.show("server", server_id)

    def _create_server_blocking(
        self,
        server_id: str,
        spec: JSON,
        totals: Claim | None,
        disks: dict[str, int],
        owner: Owner,
    ) -> None:
        problems: list[Problem] = []
        flavor = self._find_live_blocking("flavor", spec["flavor"])
        if flavor is None:
            names = ", ".join(f.name or f.id for f in self.store.list_objects("flavor"))
            problems.append(
                Problem("body.flavor", f"unknown flavor {spec['flavor']!r} (known: {names})")
            )
        else:
            spec["flavor"] = flavor.name or flavor.id  # a hub flavor may have no name here
            spec["vcpus"], spec["ram_mb"] = flavor.spec["vcpus"], flavor.spec["ram_mb"]
        self._check_name_free_blocking("server", spec["name"])
        volumes = self._resolve_volumes_blocking(spec, problems)
        ports, leases = self._plan_ports_blocking(server_id, spec, problems)
        if problems:
            raise BadSpec("the server cannot be created", problems)
        if totals is not None:
            self._check_fits_blocking(spec, totals, disks)
        rows = [owner.row("server", server_id, spec["name"], spec)]
        rows += [owner.row("port", p["id"], None, p) for p in ports]
        self.store.insert_objects(rows, leases, operations=owner.operations)
        if volumes:
            self.store.update_specs(
                [("volume", v.id, {**v.spec, "server": server_id}) for v in volumes]
            )

    def _check_fits_blocking(self, spec: JSON, totals: Claim, disks: dict[str, int]) -> None:
        """What the site's servers and volumes hold, plus this server, within ``totals``
        (``disks``: image id -> virtual size, the size of a root disk made on it)."""
        what = f"server {spec['name']!r} (flavor {spec['flavor']})"
        check_fits(what, _server_claim(spec, disks), self._used_blocking(disks), totals)

    def _used_blocking(self, disks: dict[str, int]) -> Claim:
        """What the site's servers and volumes (not those being deleted) hold."""
        used = Claim()
        for server in self.store.list_objects("server", include_deleting=False):
            used += _server_claim(server.spec, disks)
        for volume in self.store.list_objects("volume", include_deleting=False):
            used += Claim(disk_bytes=volume.spec["size_gb"] * GiB)
        return used

    async def usage(self) -> tuple[Claim, Claim] | None:
        """The host's allocatable totals and what is used of them, as the API checks a new
        server against them (what the site reports to the hub); None when not checked."""
        if self.capacity is None:
            return None
        totals = await self.capacity.totals()
        disks = {i.id: i.virtual_size for i in await self.images.list_images()}
        return totals, await self.store.call(self._used_blocking, disks)

    def _find_live_blocking(self, kind: str, ref: str) -> DesiredObject | None:
        try:
            obj = self.store.find_object(kind, ref)
        except NotFound:
            return None
        return None if obj.deleting else obj

    def _check_name_free_blocking(self, kind: str, name: str | None) -> None:
        if name is None:
            return
        for obj in self.store.list_objects(kind, include_deleting=False):
            if obj.name == name:
                raise DuplicateName(
                    f"a {kind} named {name!r} already exists ({obj.id}); pick another name"
                )

    def _resolve_volumes_blocking(self, spec: JSON, problems: list[Problem]) -> list[DesiredObject]:
        found = []
        for i, ref in enumerate(spec["volumes"]):
            vol = self._find_live_blocking("volume", ref)
            if vol is None:
                problems.append(Problem(f"body.volumes[{i}]", f"volume {ref!r} does not exist"))
            elif vol.spec.get("server"):
                problems.append(
                    Problem(
                        f"body.volumes[{i}]", f"volume {ref!r} is attached to {vol.spec['server']}"
                    )
                )
            else:
                found.append(vol)
        spec["volumes"] = [v.id for v in found]
        return found

    def _plan_ports_blocking(
        self, server_id: str, spec: JSON, problems: list[Problem]
    ) -> tuple[list[JSON], list[tuple[str, str, str]]]:
        ports: list[JSON] = []
        leases: list[tuple[str, str, str]] = []
        for i, nic in enumerate(spec.pop("nics")):
            where = f"body.nics[{i}]"
            network = self._find_live_blocking("network", nic["network"])
            if network is None:
                problems.append(
                    Problem(f"{where}.network", f"network {nic['network']!r} does not exist")
                )
                continue
            subnet = self._pick_subnet_blocking(network, nic.get("fixed_ip"))
            port: JSON = {
                "id": self.new_id(),
                "server": server_id,
                "network": network.id,
                "index": i,
                "mac": new_mac(),
                "subnet": None,
                "ip": None,
                "vnic_type": nic.get("vnic_type", "normal"),
            }
            if subnet is not None:
                ipam = SubnetIpam(
                    specs.subnet_spec(subnet.id, subnet.typed(SubnetSpec)),
                    self.store.leases(subnet.id),
                )
                for sub_id, address, owner in leases:
                    if sub_id == subnet.id:
                        ipam.allocate(owner, address)
                try:
                    address = ipam.allocate(port["id"], nic.get("fixed_ip"))
                except NetworkError as exc:
                    problems.append(Problem(f"{where}", exc.message))
                    continue
                port["subnet"], port["ip"] = subnet.id, address
                leases.append((subnet.id, address, port["id"]))
            elif nic.get("fixed_ip"):
                problems.append(Problem(f"{where}.fixed_ip", "no subnet of the network holds it"))
            ports.append(port)
        spec["ports"] = [p["id"] for p in ports]
        return ports, leases

    def _pick_subnet_blocking(
        self, network: DesiredObject, fixed_ip: str | None
    ) -> DesiredObject | None:
        subnets = [
            s
            for s in self.store.list_objects("subnet", include_deleting=False)
            if s.spec["network"] == network.id
        ]
        if fixed_ip is None:
            return subnets[0] if subnets else None
        addr = ipaddress.ip_address(fixed_ip)
        for s in subnets:
            if addr in ipaddress.ip_network(s.spec["cidr"]):
                return s
        return None

    async def delete(self, kind: str, ref: str) -> None:
        obj_id = await self.store.call(self._delete_blocking, kind, ref)
        log.info("deleting %s %s", kind, obj_id, extra={"kind": kind, "id": obj_id})
        self.kick()

    def _delete_blocking(self, kind: str, ref: str, *, local: bool = True) -> str:
        obj = self.store.find_object(kind, ref)
        keys = [(kind, obj.id)]
        if kind == "server":
            keys += [("port", p) for p in obj.spec.get("ports", [])]
        elif kind == "network":
            self._refuse_if_used_blocking(obj)
            keys += [
                ("subnet", s.id)
                for s in self.store.list_objects("subnet")
                if s.spec["network"] == obj.id
            ]
        elif kind == "subnet":
            if self.store.leases(obj.id):
                raise Conflict(
                    f"subnet {ref} still has addresses in use; delete those servers first"
                )
        elif kind == "volume" and obj.spec.get("server"):
            raise Conflict(
                f"volume {ref} is attached to server {obj.spec['server']}; detach it first"
            )
        operations: tuple[Operation, ...] = ()
        if local:
            desired = desired_wire_blocking(self.store, obj)
            operations = (record(self.store, "delete", kind, obj.id, obj.hub_revision, desired),)
        self.store.mark_all_deleting(keys, operations)
        return obj.id

    def _refuse_if_used_blocking(self, network: DesiredObject) -> None:
        users = [p for p in self.store.list_objects("port") if p.spec["network"] == network.id]
        if users:
            servers = sorted({p.spec["server"] for p in users})
            raise Conflict(
                f"network {network.name} is used by servers {', '.join(servers)}; delete them first"
            )

    async def server_action(self, ref: str, action: str, body: JSON) -> JSON:
        obj = await self.store.call(self.store.find_object, "server", ref)
        if obj.deleting:
            raise Conflict(f"server {ref} is being deleted")
        spec = dict(obj.spec)
        if action in ("start", "stop"):
            spec["power"] = "running" if action == "start" else "stopped"
        elif action == "reboot":
            spec["reboots"] = spec.get("reboots", 0) + 1
            spec["reboot_hard"] = bool(body.get("hard", False))
        elif action == "rebuild":
            image_ref = body.get("image", spec.get("image"))
            if image_ref is not None:
                image = await self.images.find(str(image_ref))
                if image is None:
                    raise BadSpec(
                        "the server cannot be rebuilt",
                        [Problem("body.image", f"image {image_ref!r} is not present")],
                    )
                spec["image"] = image.id
            spec["rebuilds"] = spec.get("rebuilds", 0) + 1
        else:
            raise InvalidInput(
                f"unknown server action {action!r}; known: start, stop, reboot, rebuild"
            )
        await self.store.call(self._act_blocking, obj, action, [("server", obj.id, spec)])
        self.kick()
        return await self.show("server", obj.id)

    def _act_blocking(
        self, obj: DesiredObject, action: str, changes: list[tuple[str, str, JSON]]
    ) -> None:
        """Write an action's spec changes with one operation record per object changed."""
        records = []
        for kind, obj_id, spec in changes:
            changed = obj if (kind, obj_id) == (obj.kind, obj.id) else None
            changed = changed or self.store.get_object(kind, obj_id)
            desired = desired_wire_blocking(self.store, changed, spec)
            records.append(
                record(self.store, "action", kind, obj_id, changed.hub_revision, desired, action)
            )
        self.store.update_specs(changes, operations=tuple(records))

    # -- networks, subnets, flavors ----------------------------------------------------------
    async def create_network(self, body: object) -> JSON:
        network_id = self.new_id()
        name, spec = specs.NETWORK.parse(body)
        problems = specs.network_problems(network_id, name, spec)
        if problems:
            raise InvalidInput("the network is not valid", problems)
        return await self.apply(self._intent("network", name, spec, network_id))

    async def _add_network(self, network_id: str, spec: JSON, owner: Owner) -> JSON:
        physnet = spec.get("physical_network")
        if physnet and self.physical_networks is not None and physnet not in self.physical_networks:
            known = ", ".join(sorted(self.physical_networks)) or "none configured"
            raise BadSpec(
                "the network cannot be created",
                [
                    Problem(
                        "body.physical_network",
                        f"{physnet!r} is not a physical network of this site (known: {known})",
                    )
                ],
            )
        return await self._insert("network", network_id, spec["name"], spec, owner=owner)

    async def create_subnet(self, body: object) -> JSON:
        name, spec = specs.SUBNET.parse(body, specs.subnet_defaults(body))
        return await self.apply(self._intent("subnet", name, spec))

    async def _add_subnet(self, subnet_id: str, spec: JSON, owner: Owner) -> JSON:
        network_ref = spec["network"]

        def on_its_network() -> None:  # in the insert's transaction: no race with another
            network = self._find_live_blocking("network", network_ref)
            if network is None:
                raise BadSpec(
                    "the subnet cannot be created",
                    [Problem("body.network", f"network {network_ref!r} does not exist")],
                )
            spec["network"] = network.id
            self._check_no_overlap_blocking(network, spec["cidr"])

        return await self._insert(
            "subnet", subnet_id, spec["name"], spec, check=on_its_network, owner=owner
        )

    def _check_no_overlap_blocking(self, network: DesiredObject, cidr: str) -> None:
        """Two subnets of one network must not share an address (which would get which?)."""
        mine = ipaddress.ip_network(cidr)
        for other in self.store.list_objects("subnet", include_deleting=False):
            theirs = ipaddress.ip_network(other.spec["cidr"])
            if other.spec["network"] != network.id or theirs.version != mine.version:
                continue
            if mine.overlaps(theirs):
                raise BadSpec(
                    "the subnet cannot be created",
                    [
                        Problem(
                            "body.cidr",
                            f"{cidr} overlaps subnet {other.id} ({theirs}) of network "
                            f"{network.name or network.id}",
                        )
                    ],
                )

    async def create_flavor(self, body: object) -> JSON:
        name, spec = specs.FLAVOR.parse(body)
        return await self.apply(self._intent("flavor", name, spec))

    async def _insert(
        self,
        kind: str,
        obj_id: str,
        name: str | None,
        spec: JSON,
        check: Callable[[], None] | None = None,
        owner: Owner | None = None,
    ) -> JSON:
        owner = owner or Owner()
        row = owner.row(kind, obj_id, name, spec)

        def checks() -> None:
            if check is not None:
                check()
            self._check_name_free_blocking(kind, name)

        def insert() -> None:
            self.store.insert_objects([row], [], check=checks, operations=owner.operations)

        await self.store.call(insert)
        self.kick()
        return await self.show(kind, obj_id)

    # -- volumes ---------------------------------------------------------------------------
    async def create_volume(self, body: object) -> JSON:
        name, spec = specs.VOLUME.parse(body)
        return await self.apply(self._intent("volume", name, spec))

    async def volume_action(self, ref: str, action: str, body: JSON) -> JSON:
        await self.store.call(self._volume_action_blocking, ref, action, body)
        self.kick()
        return await self.show("volume", ref)

    def _volume_action_blocking(self, ref: str, action: str, body: JSON) -> None:
        vol = self._find_live_blocking("volume", ref)
        if vol is None:
            raise NotFound(f"volume {ref!r} does not exist")
        spec = dict(vol.spec)
        changes: list[tuple[str, str, JSON]] = []
        if action == "attach":
            server = self._find_live_blocking("server", str(body.get("server", "")))
            if server is None:
                raise BadSpec("cannot attach", [Problem("body.server", "no such server")])
            if spec.get("server"):
                raise Conflict(f"volume {ref} is already attached to {spec['server']}")
            spec["server"] = server.id
            changes.append(
                ("server", server.id, {**server.spec, "volumes": [*server.spec["volumes"], vol.id]})
            )
        elif action == "detach":
            if not spec.get("server"):
                raise Conflict(f"volume {ref} is not attached")
            server = self.store.get_object("server", spec["server"])
            rest = [v for v in server.spec["volumes"] if v != vol.id]
            changes.append(("server", server.id, {**server.spec, "volumes": rest}))
            spec["server"] = None
        elif action == "extend":
            size = body.get("size_gb")
            if not isinstance(size, int) or isinstance(size, bool) or size <= spec["size_gb"]:
                raise InvalidInput(
                    "cannot extend",
                    [Problem("body.size_gb", f"must be an integer above {spec['size_gb']}")],
                )
            spec["size_gb"] = size
        elif action == "snapshot":
            default = f"{vol.name}-snap{len(spec.get('snapshots', [])) + 1}"
            spec["snapshots"] = [*spec.get("snapshots", []), specs.snapshot_name(body, default)]
        else:
            raise InvalidInput(
                f"unknown volume action {action!r}; known: attach, detach, extend, snapshot"
            )
        self._act_blocking(vol, action, [("volume", vol.id, spec), *changes])


def _server_claim(server: JSON, disks: dict[str, int]) -> Claim:
    root = disks.get(server.get("image") or "", 0)
    return Claim(server.get("vcpus", 0), server.get("ram_mb", 0), root)
