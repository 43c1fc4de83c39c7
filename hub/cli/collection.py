"""The list / show / delete commands every hub collection has (``/v1/<noun>s/{name}``)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass

from atoll.client import quote
from atoll.hub.cli.connection import client
from atoll.output import emit


@dataclass(frozen=True)
class Collection:
    noun: str  # "flavor": served at /v1/flavors
    columns: Sequence[str]

    @property
    def path(self) -> str:
        return f"/v1/{self.noun}s"

    def list(self, args: argparse.Namespace) -> int:
        emit(client(args).list_all(self.path), args.format, self.columns)
        return 0

    def show(self, args: argparse.Namespace) -> int:
        emit(client(args).get(f"{self.path}/{quote(args.name)}"), args.format)
        return 0

    def delete(self, args: argparse.Namespace) -> int:
        client(args).delete(f"{self.path}/{quote(args.name)}")
        print(f"deleted {self.noun} {args.name}")
        return 0
