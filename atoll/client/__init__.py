"""Clients of Atoll's REST APIs: one core (:mod:`.core`), one transport seam (:mod:`.transport`).

- :class:`Client` / :class:`HubClient` (blocking; the CLI and tools), and the site agent's
  ``SiteClient`` built on the same core; errors come back as :mod:`atoll.errors` types
  through :func:`atoll.error_body.decode`, the one reader of the error body.
- :class:`atoll.client.aio.AsyncClient`: the same core on aiohttp, for daemons (imported
  from its module, so the CLI does not load aiohttp).
- :mod:`.login`: the login ``atoll login`` saves; :mod:`.profiles`: named profiles
  (``clouds.toml``, ``atoll --cloud NAME``); :mod:`.connection`: the flags every hub client
  command takes; :mod:`.debug`: ``atoll --debug``'s view of every request and reply.
"""

from atoll.client.core import Client, HubClient, Reply, quote
from atoll.client.login import Login, config_dir, load_login, login_path, save_login
from atoll.client.profiles import Profile, clouds_path, load_profile, save_profile
from atoll.client.transport import MemoryTransport, Request, Response, Transport, UrllibTransport
from atoll.error_body import decode as error_from_body
from atoll.jsonbody import JSON

__all__ = [
    "JSON",
    "Client",
    "HubClient",
    "Login",
    "MemoryTransport",
    "Profile",
    "Reply",
    "Request",
    "Response",
    "Transport",
    "UrllibTransport",
    "clouds_path",
    "config_dir",
    "error_from_body",
    "load_login",
    "load_profile",
    "login_path",
    "quote",
    "save_login",
    "save_profile",
]
