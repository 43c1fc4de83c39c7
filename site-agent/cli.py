"""CLI groups of the site agent (entry point ``site_agent = "atoll.site_agent.cli:register"``).

- ``atoll site-agent run --data-dir D [--config F] [--port 8471]``: run the agent;
  ``atoll site-agent token --secret S``: exchange the local admin credential for a token;
  ``atoll site-agent join CODE --data-dir D`` (or ``--token T``: the hub found by zeroconf):
  join a hub (whether the agent runs or not; a running agent picks the join up);
  ``atoll site-agent config show [--config F] [-f json]``: the effective settings by
  section, with where each value came from (secrets as ``***``).
- ``atoll server|network|volume ...``: talk to one agent directly (``--site-url URL``, a
  token from ``--token`` or ``ATOLL_SITE_TOKEN``), or to a site through the hub
  (``--site NAME``, the hub connection of ``atoll login``; see :mod:`.cli_target`). Every
  group has the same shape: ``list``, ``show REF``, ``create ...``, ``delete REF`` and the
  resource's actions; list/show/create take ``-f json``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from atoll.cli import Subparsers
from atoll.output import add_format_option, emit
from atoll.printable import escape
from atoll.site_agent.cli_target import DEFAULT_URL, add_target_options, target

COLUMNS = {
    "server": ["id", "name", "status", "flavor", "image", "networks"],
    "network": ["id", "name", "segment_type", "vlan_id", "status"],
    "subnet": ["id", "name", "network", "cidr", "gateway", "status"],
    "volume": ["id", "name", "size_gb", "server", "status"],
}


def register(groups: Subparsers) -> None:
    _agent_group(groups)
    _server_group(groups)
    _network_group(groups)
    _volume_group(groups)


# -- the agent itself ----------------------------------------------------------------------
def _agent_group(groups: Subparsers) -> None:
    parser = groups.add_parser("site-agent", help="run a site agent; get a local token")
    cmds = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    run = cmds.add_parser("run", help="run the agent (works standalone, no hub needed)")
    _settings_options(run, data_dir_required=True)
    run.add_argument(
        "--log-file",
        type=Path,
        help="log to this file, rotated by size ([logging] max_bytes, backup_count)",
    )
    run.set_defaults(func=_run)
    config = cmds.add_parser("config", help="the agent's settings")
    config_cmds = config.add_subparsers(title="commands", metavar="COMMAND", required=True)
    show = config_cmds.add_parser(
        "show", help="print the effective settings by section and where each value came from"
    )
    _settings_options(show, data_dir_required=False)
    add_format_option(show)
    show.set_defaults(func=_config_show)
    join = cmds.add_parser(
        "join", help="join a hub with a join code (or a token, the hub found by zeroconf)"
    )
    join.add_argument("code", nargs="?", help="the join code from 'atoll site token create'")
    join.add_argument(
        "--token",
        dest="join_token",
        help="a join token alone: the hub is found by zeroconf and must prove it knows it",
    )
    join.add_argument(
        "--timeout", type=float, default=5.0, help="seconds to look for hubs (default 5)"
    )
    join.add_argument("--data-dir", type=Path, help="the agent's data dir (default: settings)")
    join.add_argument("--config", type=Path, help="the agent's TOML file (for its data dir)")
    join.set_defaults(func=_join)
    dump = cmds.add_parser(
        "backup", help="write the data dir (store, hub link and keys) to FILE (mode 0600)"
    )
    dump.add_argument("file", type=Path, help="the backup to write (a .tar.gz)")
    dump.add_argument("--data-dir", type=Path, help="the agent's data dir (default: settings)")
    dump.add_argument("--config", type=Path, help="the agent's TOML file")
    dump.add_argument(
        "--with-disks",
        action="store_true",
        help="also the guest disks, image cache and instance files under the data dir",
    )
    dump.set_defaults(func=_backup)
    load_ = cmds.add_parser("restore", help="restore a backup into a new or empty data dir")
    load_.add_argument("file", type=Path, help="a backup from 'atoll site-agent backup'")
    load_.add_argument("--data-dir", type=Path, required=True, help="new or empty")
    load_.set_defaults(func=_restore)
    token = cmds.add_parser("token", help="exchange the local admin credential for a token")
    _client_options(token)
    token.add_argument(
        "--secret",
        default=os.environ.get("ATOLL_SITE_SECRET"),
        help="the credential printed at first start (or ATOLL_SITE_SECRET)",
    )
    token.set_defaults(func=_token)
    _command(cmds, "images", "list the images present at the site", _images, fmt=True)
    add = _command(
        cmds,
        "image-add",
        "upload a file into the agent's image cache (streamed; checked by sha256)",
        _image_add,
        fmt=True,
    )
    add.add_argument("id", help="image id (letters, digits, '.', '_', '-')")
    add.add_argument("file", type=Path, help="the image file (here, where the CLI runs)")
    add.add_argument("--sha256", help="expected checksum (default: computed here)")
    imp = _command(
        cmds,
        "image-import",
        "copy a file from the agent's image_import_dir into its image cache",
        _image_import,
        fmt=True,
    )
    imp.add_argument("id", help="image id (letters, digits, '.', '_', '-')")
    imp.add_argument("name", help="the file's name in the agent's image_import_dir (no path)")
    imp.add_argument("--sha256", required=True, help="the file's expected checksum")


def _images(args: argparse.Namespace) -> int:
    images = _client(args).list_all("/v1/images")
    emit(images, args.format, ["id", "format", "virtual_size", "size"])
    return 0


def _image_add(args: argparse.Namespace) -> int:
    from atoll.errors import NotFound
    from atoll.images.hub_files import file_sha256

    if not args.file.is_file():
        raise NotFound(f"{args.file} is not a file")
    sha = args.sha256 or file_sha256(args.file)
    emit(_client(args).upload_image(args.id, args.file, sha)["image"], args.format)
    return 0


def _image_import(args: argparse.Namespace) -> int:
    body = {"id": args.id, "file": args.name, "sha256": args.sha256}
    emit(_client(args).request_json("POST", "/v1/images", body)["image"], args.format)
    return 0


def _settings_options(parser: argparse.ArgumentParser, *, data_dir_required: bool) -> None:
    parser.add_argument(
        "--data-dir", type=Path, required=data_dir_required, help="where the agent keeps its state"
    )
    parser.add_argument(
        "--config",
        type=Path,
        help="TOML file with [site_agent], [compute], [network], [storage], [telemetry], [hub]",
    )
    parser.add_argument("--port", type=int, help="API and /metrics port (default 8471)")
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--tls-cert-file", type=Path, help="serve HTTPS with this PEM certificate")
    parser.add_argument("--tls-key-file", type=Path, help="... and this PEM private key")
    parser.add_argument(
        "--insecure",
        action="store_true",
        default=None,
        help="serve plain HTTP on a non-loopback --host (tokens cross in clear; warned)",
    )


def _settings_flags(args: argparse.Namespace) -> dict[str, dict[str, object]]:
    names = ("data_dir", "port", "host", "tls_cert_file", "tls_key_file", "insecure")
    return {"site_agent": {name: getattr(args, name) for name in names}}


def _run(args: argparse.Namespace) -> int:
    from atoll.logs import LogSettings, log_to_file
    from atoll.settings import load
    from atoll.site_agent.daemon import serve
    from atoll.site_agent.settings import load_settings

    log_to_file(
        load(LogSettings, "logging", config_file=args.config, flags={"file": args.log_file})
    )
    settings = load_settings(args.config, _settings_flags(args))
    asyncio.run(serve(settings))
    return 0


def _config_show(args: argparse.Namespace) -> int:
    from atoll.site_agent.settings import describe, load_settings_with_sources, render_toml

    described = describe(load_settings_with_sources(args.config, _settings_flags(args)))
    if args.format == "json":
        emit(described, "json")
    else:
        print(render_toml(described), end="")
    return 0


def _backup(args: argparse.Namespace) -> int:
    from atoll.site_agent import backup
    from atoll.site_agent.settings import load_settings

    settings = load_settings(args.config, {"site_agent": {"data_dir": args.data_dir}})
    summary = backup.back_up(settings, args.file, with_disks=args.with_disks)
    data_dir = settings.site_agent.data_dir
    print(f"backed up {data_dir}: {summary.files} files, {summary.bytes} bytes")
    print(f"to {args.file} (it holds the site's private keys: keep it private)")
    return 0


def _restore(args: argparse.Namespace) -> int:
    from atoll.site_agent import backup

    summary = backup.restore(args.file, args.data_dir)
    print(f"restored {summary.files} files ({summary.bytes} bytes) into {args.data_dir}")
    print(f"run it with: atoll site-agent run --data-dir {args.data_dir}")
    return 0


def _join(args: argparse.Namespace) -> int:
    from atoll.errors import InvalidInput, Problem
    from atoll.site_agent.enrollment import join_with
    from atoll.site_agent.settings import load_settings
    from atoll.sync.join import JoinCode

    if bool(args.code) == bool(args.join_token):
        raise InvalidInput(
            "give a join code, or --token", [Problem("CODE/--token", "exactly one of them")]
        )
    code = JoinCode.decode(args.code) if args.code else None
    settings = load_settings(args.config, {"site_agent": {"data_dir": args.data_dir}})
    data_dir = settings.site_agent.data_dir
    link = asyncio.run(join_with(data_dir, code, args.join_token, args.timeout))
    print(f"joined hub {escape(link.url)} as site {escape(link.site_name)} ({link.site_id})")
    print(f"hub link files: {data_dir / 'hub'}")
    return 0


def _token(args: argparse.Namespace) -> int:
    from atoll.errors import InvalidInput, Problem

    if not args.secret:
        raise InvalidInput("a token needs the credential", [Problem("--secret", "missing")])
    print(escape(_client(args).token_for(args.secret)))
    return 0


# -- clients -------------------------------------------------------------------------------
def _client_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--site-url",
        default=os.environ.get("ATOLL_SITE_URL", DEFAULT_URL),
        help="the agent's API (or ATOLL_SITE_URL)",
    )
    parser.add_argument(
        "--site-ca-file",
        default=os.environ.get("ATOLL_SITE_CA_FILE") or None,
        help="CA certificate to verify an https:// agent with (or ATOLL_SITE_CA_FILE)",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("ATOLL_SITE_TOKEN"),
        help="bearer token (or ATOLL_SITE_TOKEN)",
    )


def _client(args: argparse.Namespace) -> Any:
    from atoll.site_agent.client import SiteClient

    return SiteClient(args.site_url, args.token, ca_file=args.site_ca_file)


def _command(
    cmds: Any, name: str, help_: str, fn: Callable[[argparse.Namespace], int], *, fmt: bool = False
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = cmds.add_parser(name, help=help_)
    _client_options(parser)
    if fmt:
        add_format_option(parser)
    parser.set_defaults(func=fn)
    return parser


def _resource_command(
    cmds: Any, name: str, help_: str, fn: Callable[[argparse.Namespace], int], *, fmt: bool = True
) -> argparse.ArgumentParser:
    """A command of the server/network/volume groups: to one agent or through the hub."""
    parser: argparse.ArgumentParser = cmds.add_parser(name, help=help_)
    add_target_options(parser)
    if fmt:
        add_format_option(parser)
    parser.set_defaults(func=fn)
    return parser


def _crud(cmds: Any, kind: str, plural: str) -> None:
    def list_(args: argparse.Namespace) -> int:
        where = target(args)
        emit([where.row(o) for o in where.list(kind)], args.format, COLUMNS[kind])
        return 0

    def show(args: argparse.Namespace) -> int:
        emit(target(args).show(kind, args.ref), args.format)
        return 0

    def delete(args: argparse.Namespace) -> int:
        where = target(args)
        ref = where.show(kind, args.ref)["id"] if args.wait else args.ref  # names can be reused
        where.delete(kind, ref)
        if not args.wait:
            print(f"{kind} {args.ref} is being deleted")
            return 0
        _follow(args, where, kind, ref, gone=True)
        print(f"{kind} {args.ref} is deleted")
        return 0

    _resource_command(cmds, "list", f"list {plural}", list_)
    _resource_command(cmds, "show", f"show one {kind}", show).add_argument("ref", help="id or name")
    remove = _resource_command(cmds, "delete", f"delete a {kind}", delete, fmt=False)
    remove.add_argument("ref", help="id or name")
    _waiting(remove, "until it is gone")


# Statuses an object passes through on its way to where it settles (ACTIVE, AVAILABLE, ...).
TRANSITIONAL = {"PENDING", "BUILDING", "CREATING", "DELETING"}
FAILED = {"ERROR", "CRASHED"}


def _waiting(parser: argparse.ArgumentParser, until: str) -> None:
    parser.add_argument(
        "--wait", action="store_true", help=f"follow it {until} (progress on stderr)"
    )
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds --wait waits at most (600)"
    )


def _follow(args: argparse.Namespace, where: Any, kind: str, ref: str, *, gone: bool) -> Any:
    """Follow ``kind`` ``ref`` until it settles (``gone``: until it no longer exists)."""
    from atoll.waiting import follow

    def describe(row: Any) -> str:
        if row is None:
            return "gone"
        message = row.get("message") or ""
        return f"{row.get('status')}" + (f" ({message})" if message else "")

    def settled(row: Any) -> bool:
        return row is None if gone else row is not None and row["status"] not in TRANSITIONAL

    def read() -> Any:
        return where.row(where.show(kind, ref))

    return follow(read, settled, describe, what=f"{kind} {ref}", timeout=args.timeout)


def _create(
    cmds: Any, kind: str, name: str, spec: Callable[[argparse.Namespace], dict[str, Any]]
) -> argparse.ArgumentParser:
    """``create``: the spec (the typed model's fields) to an agent or to the hub."""

    def create(args: argparse.Namespace) -> int:
        where = target(args)
        made = where.create(kind, args.name, spec(args))
        if not args.wait:
            emit(made, args.format)
            return 0
        settled = _follow(args, where, kind, made["id"], gone=False)
        emit(where.show(kind, made["id"]), args.format)
        return 1 if settled is None or settled["status"] in FAILED else 0

    parser = _resource_command(cmds, name, f"create a {kind}", create)
    parser.add_argument(
        "--project", help="with --site and a system-scoped token: the project that owns it"
    )
    _waiting(parser, "until it is ready (exit 1 if it fails)")
    return parser


def _action(
    cmds: Any, kind: str, action: str, body: Callable[[argparse.Namespace], dict[str, Any]]
) -> argparse.ArgumentParser:
    def act(args: argparse.Namespace) -> int:
        emit(target(args).action(kind, args.ref, action, body(args)), args.format)
        return 0

    parser = _resource_command(cmds, action, f"{action} a {kind}", act)
    parser.add_argument("ref", help="id or name")
    return parser


def _server_group(groups: Subparsers) -> None:
    parser = groups.add_parser(
        "server", help="servers on one site agent (--site-url) or a site through the hub (--site)"
    )
    cmds = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    _crud(cmds, "server", "servers")

    def spec(args: argparse.Namespace) -> dict[str, Any]:
        out: dict[str, Any] = {
            "flavor": args.flavor,
            "nics": [{"network": n} for n in args.network or []],
            "volumes": args.volume or [],
        }
        for key in ("image", "kernel", "ramdisk", "kernel_cmdline", "restart_policy"):
            if getattr(args, key):
                out[key] = getattr(args, key)
        if args.ssh_key:
            out["ssh_keys"] = args.ssh_key
        if args.user_data:
            out["user_data"] = Path(args.user_data).read_text()
        return out

    create = _create(cmds, "server", "create", spec)
    create.add_argument("name")
    create.add_argument("--flavor", required=True)
    create.add_argument("--image", help="disk image id (root disk is an overlay on it)")
    create.add_argument("--kernel", help="kernel image id (direct kernel boot)")
    create.add_argument("--ramdisk", help="ramdisk image id")
    create.add_argument("--kernel-cmdline")
    create.add_argument("--network", action="append", help="network id or name (repeatable)")
    create.add_argument("--volume", action="append", help="volume to attach (repeatable)")
    create.add_argument("--ssh-key", action="append", help="public key text (repeatable)")
    create.add_argument("--user-data", help="file with cloud-init user data")
    create.add_argument(
        "--restart-policy",
        choices=["always", "on-failure", "never"],
        help="default: the agent's default_restart setting",
    )
    for action in ("start", "stop", "reboot", "rebuild"):

        def act_body(args: argparse.Namespace, action: str = action) -> dict[str, Any]:
            if action == "reboot":
                return {"hard": args.hard}
            return {"image": args.image} if action == "rebuild" and args.image else {}

        p = _action(cmds, "server", action, act_body)
        if action == "reboot":
            p.add_argument("--hard", action="store_true")
        if action == "rebuild":
            p.add_argument("--image")

    def console(args: argparse.Namespace) -> int:
        text, truncated = target(args).console(args.ref, args.lines, args.tail)
        print(escape(text.replace("\r\n", "\n"), keep="\n\t"), end="")  # a guest must not
        if truncated:  # drive our terminal
            print("(older lines did not fit in the site's reply: left out)", file=sys.stderr)
        return 0

    p = _resource_command(cmds, "console", "print a server's serial console log", console,
                          fmt=False)  # fmt: skip
    p.add_argument("ref", help="id or name")
    p.add_argument("--lines", type=int, help="the last N lines (through the hub: 100 by "
                   "default, at most 10000)")  # fmt: skip
    p.add_argument("--tail", type=int, help="an agent (--site-url): the last N bytes (65536)")


def _network_group(groups: Subparsers) -> None:
    parser = groups.add_parser(
        "network", help="networks and subnets on one site agent (--site-url) or a site (--site)"
    )
    cmds = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    _crud(cmds, "network", "networks")

    def spec(args: argparse.Namespace) -> dict[str, Any]:
        out: dict[str, Any] = {"segment_type": args.segment_type}
        if args.physical_network:
            out["physical_network"] = args.physical_network
        if args.vlan_id is not None:
            out["vlan_id"] = args.vlan_id
        return out

    p = _create(cmds, "network", "create", spec)
    p.add_argument("name")
    p.add_argument("--segment-type", choices=["flat", "vlan"], default="flat")
    p.add_argument("--physical-network")
    p.add_argument("--vlan-id", type=int)

    def subnet_spec(args: argparse.Namespace) -> dict[str, Any]:
        out: dict[str, Any] = {"network": args.network, "cidr": args.cidr}
        if args.gateway:
            out["gateway"] = args.gateway
        if args.dns:
            out["dns_nameservers"] = args.dns
        return out

    p = _create(cmds, "subnet", "subnet-create", subnet_spec)
    p.add_argument("network", help="network id or name")
    p.add_argument("cidr")
    p.add_argument("--name", help="the subnet's name (optional)")
    p.add_argument("--gateway")
    p.add_argument("--dns", action="append")

    def subnets(args: argparse.Namespace) -> int:
        where = target(args)
        emit([where.row(o) for o in where.list("subnet")], args.format, COLUMNS["subnet"])
        return 0

    _resource_command(cmds, "subnet-list", "list subnets", subnets)


def _volume_group(groups: Subparsers) -> None:
    parser = groups.add_parser(
        "volume", help="volumes on one site agent (--site-url) or a site through the hub (--site)"
    )
    cmds = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    _crud(cmds, "volume", "volumes")
    p = _create(cmds, "volume", "create", lambda a: {"size_gb": a.size_gb})
    p.add_argument("name")
    p.add_argument("--size-gb", type=int, required=True)
    bodies: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
        "attach": lambda a: {"server": a.server},
        "detach": lambda a: {},
        "extend": lambda a: {"size_gb": a.size_gb},
        "snapshot": lambda a: {"name": a.name} if a.name else {},
    }
    for action, body in bodies.items():
        p = _action(cmds, "volume", action, body)
        if action == "attach":
            p.add_argument("server")
        if action == "extend":
            p.add_argument("--size-gb", type=int, required=True)
        if action == "snapshot":
            p.add_argument("--name")
