"""``SiteClient``: a blocking client of one agent's local API, for the CLI.

Built on the one client core (:class:`atoll.client.Client`): errors in the agent's JSON shape
come back as the matching :mod:`atoll.errors` type, with the problems and the request id in
the message, so the CLI prints what the agent said.
"""

from __future__ import annotations

from typing import Any

from atoll.client import Client


class SiteClient(Client):
    what = "the site agent"
    example = "http://127.0.0.1:8471"

    def request_json(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = self.request(method, path, body).data
        return {} if data is None else data

    def token_for(self, secret: str, name: str = "admin") -> str:
        reply = self.request("POST", "/v1/auth/tokens", {"name": name, "secret": secret})
        return str(reply.data["token"])
