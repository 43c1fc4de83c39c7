"""``atoll vnf instance ...`` and ``atoll vnf op ...``: VNF lifecycle at the hub (SOL003 v2).

``instance create|list|show|delete`` manage VNF instances of the logged-in project;
``instance instantiate|scale|heal|terminate`` start an operation and print its op
occurrence id (``--wait``: follow it until it ends or needs a decision, print it, exit 1
unless COMPLETED). ``op list|show|retry|rollback|fail|cancel`` read and decide op
occurrences (``cancel``: GRACEFUL unless ``--forceful``; ``--wait`` follows it until the
engine has stopped it, FAILED_TEMP or ROLLED_BACK).
Every request carries ``Version: 2.0.0``; only the atoll core (``atoll.client``) is used.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from atoll.client import HubClient, quote
from atoll.client.connection import add_connection_options, client
from atoll.errors import InvalidInput, NotFound, Problem
from atoll.output import add_format_option, emit
from atoll.waiting import follow

INSTANCES = "/vnflcm/v2/vnf_instances"
OCCS = "/vnflcm/v2/vnf_lcm_op_occs"
VERSION = {"Version": "2.0.0"}
INSTANCE_COLUMNS = ["id", "vnfInstanceName", "vnfdId", "instantiationState"]
OCC_COLUMNS = ["id", "operation", "operationState", "vnfInstanceId", "stateEnteredTime"]
WAIT_UNTIL = ("COMPLETED", "FAILED", "ROLLED_BACK", "FAILED_TEMP")
if TYPE_CHECKING:
    Cmds = argparse._SubParsersAction[argparse.ArgumentParser]


def add_commands(nouns: Cmds) -> None:
    """Add ``instance`` and ``op`` to ``atoll vnf``."""
    instance = nouns.add_parser("instance", help="VNF instances (SOL003 vnflcm v2)")
    _instance_commands(instance.add_subparsers(title="commands", metavar="COMMAND", required=True))
    op = nouns.add_parser("op", help="VNF lifecycle operation occurrences")
    _op_commands(op.add_subparsers(title="commands", metavar="COMMAND", required=True))


def _finish(cmd: argparse.ArgumentParser, func: Any, *, fmt: bool = True) -> None:
    cmd.set_defaults(func=func)
    add_connection_options(cmd)
    if fmt:
        add_format_option(cmd)


def _with_id(cmds: Cmds, name: str, func: Any, text: str, fmt: bool = True) -> Any:
    cmd = cmds.add_parser(name, help=text)
    cmd.add_argument("id", help="the id")
    _finish(cmd, func, fmt=fmt)
    return cmd


def _waiting(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--wait", action="store_true", help="follow the operation until it ends")
    cmd.add_argument("--timeout", type=float, default=1800, help="seconds --wait waits at most")


def _instance_commands(cmds: Cmds) -> None:
    create = cmds.add_parser("create", help="create a VNF instance from a VNFD id")
    create.add_argument("vnfd_id", help="the vnfdId of an onboarded, enabled package")
    create.add_argument("--name", help="the instance's name")
    create.add_argument("--description")
    _finish(create, _create)
    _finish(cmds.add_parser("list", help="list your project's VNF instances"), _list_instances)
    _with_id(cmds, "show", _show_instance, "show a VNF instance (with its instantiated info)")
    _with_id(cmds, "delete", _delete_instance, "delete a NOT_INSTANTIATED instance", fmt=False)
    inst = _with_id(cmds, "instantiate", _instantiate, "instantiate on sites")
    inst.add_argument("--flavour", required=True, help="the deployment flavour id")
    inst.add_argument("--level", help="the instantiation level id")
    inst.add_argument("--site", action="append", default=[], help="a candidate site (repeat)")
    inst.add_argument("--vdu-site", action="append", default=[], metavar="VDU=SITE",
                      help="put the VDU's next instance at SITE (repeat, in order)")  # fmt: skip
    inst.add_argument("--label", action="append", default=[], metavar="KEY=VALUE",
                      help="candidate sites carry this label")  # fmt: skip
    inst.add_argument("--region", help="candidate sites are in this region")
    inst.add_argument("--ext-link", action="append", default=[], metavar="CP=NETWORK[@SITE]",
                      help="connect an external CP to a site network (at SITE)")  # fmt: skip
    inst.add_argument("--max-parallel", type=int, help="sites worked at once")
    inst.add_argument("--stop-on-failure", action="store_true", help="one failed site stops it")
    _waiting(inst)
    scale = _with_id(cmds, "scale", _scale, "scale out (or --in) by steps of an aspect")
    scale.add_argument("--aspect", required=True)
    scale.add_argument("--steps", type=int, default=1)
    scale.add_argument("--in", dest="scale_in", action="store_true", help="scale in")
    _waiting(scale)
    heal = _with_id(cmds, "heal", _heal, "rebuild VNFCs (all, or --vnfc ones)")
    heal.add_argument("--vnfc", action="append", help="a VNFC id (repeat); default: all")
    heal.add_argument("--cause")
    _waiting(heal)
    term = _with_id(cmds, "terminate", _terminate, "terminate (FORCEFUL unless --graceful)")
    term.add_argument("--graceful", type=int, metavar="SECONDS",
                      help="stop the servers, wait up to SECONDS, then remove them")  # fmt: skip
    _waiting(term)


def _op_commands(cmds: Cmds) -> None:
    listing = cmds.add_parser("list", help="list operation occurrences")
    listing.add_argument("--instance", help="only this instance's")
    _finish(listing, _list_occs)
    _with_id(cmds, "show", _show_occ, "show an operation occurrence with each site's progress")
    for name, text in (("retry", "run a FAILED_TEMP operation again"),
                       ("rollback", "undo a FAILED_TEMP operation at every site"),
                       ("fail", "give a FAILED_TEMP operation up (FAILED)")):  # fmt: skip
        cmd = _with_id(cmds, name, _occ_task, text)
        cmd.set_defaults(task=name)
        if name != "fail":
            _waiting(cmd)
    cancel = _with_id(cmds, "cancel", _cancel, "stop a STARTING, PROCESSING or ROLLING_BACK "
                      "operation (GRACEFUL: the sites in flight finish first)")  # fmt: skip
    cancel.add_argument("--forceful", action="store_true", help="stop at once (FORCEFUL)")
    _waiting(cancel)


# -- calls -----------------------------------------------------------------------------------
def _call(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    hub: HubClient = client(args)
    return hub.request(method, path, body, headers=VERSION)


def _pairs(entries: list[str], flag: str) -> dict[str, str]:
    bad = [e for e in entries if "=" not in e or e.startswith("=") or e.endswith("=")]
    if bad:
        raise InvalidInput(f"{flag} takes KEY=VALUE", [Problem(f"{flag} {e}", "no =") for e in bad])
    return dict(e.split("=", 1) for e in entries)


def _started(
    args: argparse.Namespace, reply: Any, ok: tuple[str, ...] = ("COMPLETED", "ROLLED_BACK")
) -> int:
    op_id = reply.headers.get("Location", "").rsplit("/", 1)[-1]
    if not getattr(args, "wait", False):
        emit({"operation": op_id}, args.format)
        return 0
    occ = follow(
        lambda: _call(args, "GET", f"{OCCS}/{quote(op_id)}").data,
        lambda o: o is None or o["operationState"] in WAIT_UNTIL,
        lambda o: "gone" if o is None else str(o["operationState"]),
        what=f"operation {op_id}",
        timeout=args.timeout,
        hint=f"follow it with 'atoll vnf op show {op_id}'",
    )
    if occ is None:
        raise NotFound(f"operation {op_id} is gone")
    _print_occ(occ, args.format)
    return 0 if occ["operationState"] in ok else 1


def _task(args: argparse.Namespace, task: str, body: dict[str, Any]) -> int:
    reply = _call(args, "POST", f"{INSTANCES}/{quote(args.id)}/{task}", body)
    return _started(args, reply)


def _create(args: argparse.Namespace) -> int:
    body = {"vnfdId": args.vnfd_id}
    if args.name:
        body["vnfInstanceName"] = args.name
    if args.description:
        body["vnfInstanceDescription"] = args.description
    _print_instance(_call(args, "POST", INSTANCES, body).data, args.format)
    return 0


def _list_instances(args: argparse.Namespace) -> int:
    items = _call(args, "GET", INSTANCES).data
    rows = items if args.format == "json" else [{k: i.get(k) for k in INSTANCE_COLUMNS}
                                                 for i in items]  # fmt: skip
    emit(rows, args.format, INSTANCE_COLUMNS)
    return 0


def _show_instance(args: argparse.Namespace) -> int:
    path = f"{INSTANCES}/{quote(args.id)}?all_fields"
    instance = _call(args, "GET", path).data
    sites: dict[str, str] = {}
    if args.format not in ("json", "yaml") and _vnfcs(instance):
        sites = {s["id"]: s["name"] for s in client(args).list_all("/v1/sites")}
    _print_instance(instance, args.format, sites)
    return 0


def _vnfcs(instance: dict[str, Any]) -> list[dict[str, Any]]:
    vnfcs: list[dict[str, Any]] = (instance.get("instantiatedVnfInfo") or {}).get(
        "vnfcResourceInfo", []
    )
    return vnfcs


def _site(vnfc: dict[str, Any], sites: dict[str, str]) -> str:
    """The name of a VNFC's site (its id when the hub no longer lists it)."""
    site_id = str(vnfc["computeResource"].get("vimConnectionId"))
    return sites.get(site_id, site_id)


def _print_instance(
    instance: dict[str, Any], fmt: str, sites: dict[str, str] | None = None
) -> None:
    """json and yaml: the whole instance; table, csv and value: its summary (``-c`` picks),
    each VNFC at its site's name (from ``sites``, by id: as ``site list`` names them)."""
    if fmt in ("json", "yaml"):
        emit(instance, fmt)
        return
    sites = sites or {}
    row = {k: instance.get(k) for k in (*INSTANCE_COLUMNS, "vnfProductName", "vnfSoftwareVersion")}
    info = instance.get("instantiatedVnfInfo") or {}
    row["flavour"] = info.get("flavourId")
    row["scale"] = ", ".join(
        f"{s['aspectId']}={s['scaleLevel']}" for s in info.get("scaleStatus", [])
    )
    row["vnfcs"] = ", ".join(f"{v['id']}@{_site(v, sites)}" for v in _vnfcs(instance))
    emit(row, fmt)


def _delete_instance(args: argparse.Namespace) -> int:
    _call(args, "DELETE", f"{INSTANCES}/{quote(args.id)}")
    print(f"deleted VNF instance {args.id}")
    return 0


def _instantiate(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"flavourId": args.flavour}
    if args.level:
        body["instantiationLevelId"] = args.level
    placement: dict[str, Any] = {}
    if args.site:
        placement["sites"] = args.site
    vdu_sites: dict[str, list[str]] = {}
    for vdu, site in _pairs(args.vdu_site, "--vdu-site").items():
        vdu_sites.setdefault(vdu, []).append(site)
    if vdu_sites:
        placement["vduSites"] = vdu_sites
    if args.label:
        placement["labels"] = _pairs(args.label, "--label")
    if args.region:
        placement["region"] = args.region
    params: dict[str, Any] = {}
    if placement:
        params["placement"] = placement
    if args.max_parallel is not None:
        params["maxParallel"] = args.max_parallel
    if args.stop_on_failure:
        params["stopOnFailure"] = True
    if params:
        body["additionalParams"] = params
    links = []
    for n, (cp, target) in enumerate(_pairs(args.ext_link, "--ext-link").items()):
        network, _, site = target.partition("@")
        link: dict[str, Any] = {"id": f"ext{n}", "resourceId": network, "extCps": [{"cpdId": cp}]}
        if site:
            link["vimConnectionId"] = site
        links.append(link)
    if links:
        body["extVirtualLinks"] = links
    return _task(args, "instantiate", body)


def _scale(args: argparse.Namespace) -> int:
    body = {"type": "SCALE_IN" if args.scale_in else "SCALE_OUT", "aspectId": args.aspect,
            "numberOfSteps": args.steps}  # fmt: skip
    return _task(args, "scale", body)


def _heal(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {}
    if args.vnfc:
        body["vnfcInstanceId"] = args.vnfc
    if args.cause:
        body["cause"] = args.cause
    return _task(args, "heal", body)


def _terminate(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"terminationType": "FORCEFUL"}
    if args.graceful is not None:
        body = {"terminationType": "GRACEFUL", "gracefulTerminationTimeout": args.graceful}
    return _task(args, "terminate", body)


def _list_occs(args: argparse.Namespace) -> int:
    path = OCCS
    if args.instance:
        path += "?filter=" + quote(f"(eq,vnfInstanceId,{args.instance})")
    items = _call(args, "GET", path).data
    rows = items if args.format == "json" else [{k: i.get(k) for k in OCC_COLUMNS}
                                                 for i in items]  # fmt: skip
    emit(rows, args.format, OCC_COLUMNS)
    return 0


def _show_occ(args: argparse.Namespace) -> int:
    _print_occ(_call(args, "GET", f"{OCCS}/{quote(args.id)}").data, args.format)
    return 0


def _print_occ(occ: dict[str, Any], fmt: str) -> None:
    """json and yaml: the whole op occurrence; table, csv and value: its summary."""
    if fmt in ("json", "yaml"):
        emit(occ, fmt)
        return
    row = {k: occ.get(k) for k in OCC_COLUMNS}
    if occ.get("error"):
        row["error"] = occ["error"].get("detail")
    for site in occ.get("sites", []):
        row[f"site {site['siteName']}"] = f"{site['state']} {site.get('message', '')}".strip()
    emit(row, fmt)


def _occ_task(args: argparse.Namespace) -> int:
    reply = _call(args, "POST", f"{OCCS}/{quote(args.id)}/{args.task}")
    if args.task == "fail":
        _print_occ(reply.data, args.format)
        return 0
    return _started(args, reply)


def _cancel(args: argparse.Namespace) -> int:
    body = {"cancelMode": "FORCEFUL" if args.forceful else "GRACEFUL"}
    reply = _call(args, "POST", f"{OCCS}/{quote(args.id)}/cancel", body)
    return _started(args, reply, ok=("FAILED_TEMP", "ROLLED_BACK"))
