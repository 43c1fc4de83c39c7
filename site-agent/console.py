"""A server's serial console log, read the one way the agent reads it: for its local API
(``GET /v1/servers/{ref}/console``) and for the hub's ``console`` requests over sync
(:mod:`.sync.requests`).

The compute driver gives the last bytes of the log (``ComputeDriver.read_console``, which
the agent hands in as a :data:`ConsoleReader`). :meth:`Consoles.read` finds the server, asks
for at most ``max_bytes`` of it and, when ``lines`` is given, keeps the last that many lines
within them (:func:`atoll.sync.console.last_lines`, what a line is for the hub's requests
too): ``truncated`` says lines that were asked for are left out because they did not fit.
Nothing else is done to the text: the guest's control characters and escape sequences stay
(whoever shows it to a person escapes them, as the CLI does).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from atoll.site_agent.resources import Resources
from atoll.sync.console import last_lines

ConsoleReader = Callable[[str, int], Awaitable[str]]  # server id, tail bytes -> text


@dataclass(frozen=True)
class ConsoleLog:
    server_id: str
    output: str
    truncated: bool = False  # lines asked for were left out: they did not fit in max_bytes


@dataclass(frozen=True)
class Consoles:
    resources: Resources
    reader: ConsoleReader

    async def read(self, ref: str, *, max_bytes: int, lines: int | None = None) -> ConsoleLog:
        """Server ``ref``'s console log: its last ``max_bytes`` bytes as they are, or its
        last ``lines`` lines within them. NotFound if there is no such server (or, from the
        driver, no domain of it yet)."""
        server_id = str((await self.resources.show("server", ref))["id"])
        if lines is None:
            return ConsoleLog(server_id, await self.reader(server_id, max_bytes))
        text = await self.reader(server_id, max_bytes + 1)  # one more: is there more?
        output, truncated = last_lines(text, lines, max_bytes)
        return ConsoleLog(server_id, output, truncated)
