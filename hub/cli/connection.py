"""How every client command finds the hub: the shared core's options
(:mod:`atoll.client.connection`), kept under this name for the hub's CLI groups."""

from atoll.client.connection import add_connection_options, client

__all__ = ["add_connection_options", "client"]
