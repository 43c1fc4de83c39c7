"""``atoll hub init``, ``serve``, ``renew-cert``, ``backup`` and ``restore``."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from atoll.cli import Subparsers
from atoll.settings import load


def register(groups: Subparsers) -> None:
    parser = groups.add_parser("hub", help="run the hub: init a data directory, serve the API")
    cmds = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    init = cmds.add_parser("init", help="create keys, CA, server certificate and the admin")
    init.add_argument("--data-dir", required=True, type=Path)
    init.add_argument(
        "--san",
        action="append",
        default=[],
        metavar="NAME_OR_IP",
        help="another name or address for the hub's certificate (repeatable)",
    )
    init.set_defaults(func=_init)
    serve = cmds.add_parser("serve", help="serve the hub API (HTTPS by default)")
    serve.add_argument("--data-dir", type=Path)
    serve.add_argument(
        "--config", type=Path, help="TOML file with [hub] and [images] tables (or ATOLL_CONFIG)"
    )
    serve.add_argument("--host", help="address to listen on (default 0.0.0.0)")
    serve.add_argument("--port", type=int, help="port (default 8470)")
    serve.add_argument("--store", help="sqlite (default), memory, or etcd://host:port[,...]")
    serve.add_argument(
        "--log-file",
        type=Path,
        help="log to this file, rotated by size ([logging] max_bytes, backup_count)",
    )
    serve.add_argument(
        "--insecure-http",
        action="store_true",
        default=None,
        help="plain HTTP instead of HTTPS; only on a loopback address",
    )
    serve.set_defaults(func=_serve)
    renew = cmds.add_parser(
        "renew-cert", help="issue the hub a new server certificate from its CA (then restart)"
    )
    renew.add_argument("--data-dir", required=True, type=Path)
    renew.add_argument(
        "--san", action="append", default=[], metavar="NAME_OR_IP",
        help="a name or address to add to the ones the certificate has (repeatable)",
    )  # fmt: skip
    renew.add_argument("--days", type=int, default=825, help="how long it lasts (825)")
    renew.set_defaults(func=_renew_cert)
    dump = cmds.add_parser(
        "backup", help="write the data dir (store, CA and keys, files) to FILE (mode 0600)"
    )
    dump.add_argument("file", type=Path, help="the backup to write (a .tar.gz)")
    dump.add_argument("--data-dir", type=Path)
    dump.add_argument("--config", type=Path, help="the hub's TOML file (or ATOLL_CONFIG)")
    dump.add_argument("--store", help="the hub's store, if not the config's")
    dump.set_defaults(func=_backup)
    load_ = cmds.add_parser("restore", help="restore a backup into a new or empty data dir")
    load_.add_argument("file", type=Path, help="a backup from 'atoll hub backup'")
    load_.add_argument("--data-dir", type=Path, required=True, help="new or empty")
    load_.set_defaults(func=_restore)


def _init(args: argparse.Namespace) -> int:
    from atoll.hub import bootstrap

    password = os.environ.get("ATOLL_ADMIN_PASSWORD") or None
    generated = bootstrap.init(args.data_dir, password, args.san)
    layout = bootstrap.DataDir(args.data_dir)
    print(f"initialised hub data directory {args.data_dir}")
    print(f"CA certificate for clients and sites: {layout.ca_cert}")
    if generated:
        print(f"admin password (shown once, store it now): {generated}")
    else:
        print("admin password: from ATOLL_ADMIN_PASSWORD")
    return 0


def _renew_cert(args: argparse.Namespace) -> int:
    from atoll.hub import bootstrap

    cert = bootstrap.renew_server_cert(args.data_dir, args.san, args.days)
    print(f"new server certificate {bootstrap.DataDir(args.data_dir).server_cert}")
    print(f"valid until {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC; restart the hub to serve it")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from atoll.hub import serve
    from atoll.hub.settings import HubSettings
    from atoll.images.settings import ImageSettings
    from atoll.logs import LogSettings, log_to_file

    log_to_file(
        load(LogSettings, "logging", config_file=args.config, flags={"file": args.log_file})
    )
    flags = {
        "data_dir": args.data_dir,
        "host": args.host,
        "port": args.port,
        "store": args.store,
        "insecure_http": args.insecure_http,
    }
    settings = load(HubSettings, "hub", config_file=args.config, flags=flags)
    serve.run(settings, load(ImageSettings, "images", config_file=args.config))
    return 0


def _backup(args: argparse.Namespace) -> int:
    import sys

    from atoll.hub import backup
    from atoll.hub.settings import HubSettings

    flags = {"data_dir": args.data_dir, "store": args.store}
    settings = load(HubSettings, "hub", config_file=args.config, flags=flags)
    summary, warning = backup.back_up(settings, args.file)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"backed up {settings.data_dir}: {summary.files} files, {summary.bytes} bytes")
    print(f"to {args.file} (it holds the hub's private keys: keep it private)")
    return 0


def _restore(args: argparse.Namespace) -> int:
    from atoll.hub import backup

    summary, history = backup.restore(args.file, args.data_dir)
    print(f"restored {summary.files} files ({summary.bytes} bytes) into {args.data_dir}")
    if history is not None:
        print(f"the store starts a new history ({history}): sites resync from a snapshot and "
              "offer again what they made since the backup")  # fmt: skip
    else:
        print(
            "the store is not in this backup (etcd): restore it with 'etcdctl snapshot "
            "restore'; the hub started from this data dir gives it a new history, so sites "
            "resync from a snapshot and offer again what they made since the backup"
        )
    print(f"serve it with: atoll hub serve --data-dir {args.data_dir}")
    return 0
