"""One id scheme for hub and site: how ids are minted, what they look like, who made them.

Every id is written one way: **32 lowercase hex digits that are also an RFC 9562 UUID**
(variant ``10``), so a server id can also be a libvirt domain UUID or any other UUID slot::

    hub   xxxxxxxxxxxx4xxxyxxxxxxxxxxxxxxx   UUIDv4: 122 random bits (y is 8, 9, a or b)
    site  xxxxxxxxxxxx8xxxyxxxxxxxxxxxxxxx   UUIDv8, custom bits below

The origin is in the id itself: the version digit (13th) is ``4`` for an id the hub minted
and ``8`` for one a site minted, so an object a site made while cut off from the hub can
never collide with a hub id, whatever either side did meanwhile. The 122 custom bits of a
site id are laid out as::

    bits 127..80  48  random            (leads: see below)
    bits  79..76   4  version = 8
    bits  75..64  12  random
    bits  63..62   2  variant = 0b10
    bits  61..46  16  site tag          (:func:`site_tag` of the site's name)
    bits  45..16  30  random
    bits  15..0   16  check             (blake2b of the other bits)

The leading bits are random, not a timestamp: host device names keep only the first 12 hex
digits of a port id (Linux interface names are 15 bytes, see ``device_name``), so a time
prefix would give every NIC of one server the same tap. Creation time is stored with each
object anyway. 90 random bits per site tag make a collision within one site as unlikely as
between two random UUIDv4s. The check makes a site id self-verifying (see *Legacy* below).

API: :func:`hub_id` and :func:`site_id` mint (:func:`derived_hub_id` derives a hub id from
names, for idempotent retries); :func:`parse` validates text from outside and returns it in
the form it is stored under, raising :class:`~atoll.errors.InvalidId` that names the field;
:func:`origin_of` says ``"hub"`` or ``"site"``; :data:`PATTERN` is the same check as a
regular expression for OpenAPI documents and request schemas.

Legacy forms, accepted and never minted again, so existing data keeps working:

- *Hub, before this scheme*: 32 random hex digits (``secrets.token_hex(16)``), stored in
  hub databases and carried in tokens. :func:`parse` accepts any 32 lowercase hex digits;
  :func:`origin_of` calls them ``"hub"`` unless they pass the site check, which a random
  value does once in 2**22 (version, variant and a 16-bit check must all match).
- *Site, before this scheme*: dashed UUIDv4 text (``str(uuid.uuid4())``), the id of every
  object in an older ``agent.db``. Such an id is also the name of the object's libvirt
  domain (``atoll-<id>``), its volume file and its OVS port's ``iface-id``, which cannot
  change under a running server, so it is kept **as written** (lowercased), not rewritten:
  :func:`parse` returns dashed text dashed, and :func:`origin_of` calls it ``"site"``. (The
  hub also gave VNF packages dashed ids before; packages never leave the hub, which never
  asks their origin.)

Ids are compared as text; only :func:`parse` lowercases.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Literal

from atoll.errors import InvalidId

Origin = Literal["hub", "site"]

_HEX = r"[0-9a-f]{32}"
_DASHED = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
PATTERN = rf"^(?:{_HEX}|{_DASHED})$"
"""Every form :func:`parse` accepts (lowercase), for OpenAPI and request schemas."""
HELP = "an id (32 lowercase hex digits)"
"""What to tell a person whose text did not match :data:`PATTERN`."""
MAX_LENGTH = 36

_ID = re.compile(rf"{_HEX}|{_DASHED}")
_VERSION_SHIFT = 76
_VARIANT_SHIFT = 62
_TAG_SHIFT = 46
_CHECK_MASK = 0xFFFF
TAG_BITS = 16


def hub_id() -> str:
    """A new id minted by the hub: a random UUIDv4 as 32 hex digits."""
    value = int.from_bytes(secrets.token_bytes(16), "big")
    value = _with_version(value, 4)
    return f"{value:032x}"


def site_id(tag: int) -> str:
    """A new id minted by a site whose :func:`site_tag` is ``tag`` (a UUIDv8)."""
    if not 0 <= tag < 1 << TAG_BITS:
        raise ValueError(f"a site tag is {TAG_BITS} bits; got {tag}")
    value = int.from_bytes(secrets.token_bytes(16), "big")
    value = _with_version(value, 8)
    value &= ~(((1 << TAG_BITS) - 1) << _TAG_SHIFT)
    value |= tag << _TAG_SHIFT
    value = (value & ~_CHECK_MASK) | _check(value)
    return f"{value:032x}"


def site_tag(site_name: str) -> int:
    """The tag a site writes into the ids it mints: 16 bits derived from its name.

    The tag tells a person (and the hub) which site minted an id; uniqueness does not rest
    on it (two sites with one name still mint distinct ids from their random bits).
    """
    digest = hashlib.blake2b(site_name.encode(), digest_size=2, person=b"atoll.site-tag")
    return int.from_bytes(digest.digest(), "big")


def parse(text: object, field: str = "id") -> str:
    """``text`` as an id in the form it is stored under, or :class:`InvalidId` naming ``field``.

    Accepts the canonical form and both legacy forms (see the module docstring), in either
    case; returns lowercase text, dashed only if it was given dashed.
    """
    if not isinstance(text, str) or len(text) > MAX_LENGTH:
        raise InvalidId(field, text)
    lowered = text.lower()
    if not _ID.fullmatch(lowered):
        raise InvalidId(field, text)
    return lowered


def is_id(text: object) -> bool:
    """True if ``text`` is an id exactly as stored (lowercase): :data:`PATTERN` matches it.

    :func:`parse` is more lenient: it also takes uppercase and returns it lowercased.
    """
    return isinstance(text, str) and len(text) <= MAX_LENGTH and bool(_ID.fullmatch(text))


def origin_of(text: str, field: str = "id") -> Origin:
    """Who minted this id: ``"site"`` for a site id (or the legacy dashed form), else hub."""
    value = parse(text, field)
    if "-" in value:
        return "site"
    return "site" if _is_site(int(value, 16)) else "hub"


def tag_of(text: str, field: str = "id") -> int | None:
    """The site tag inside a site id; None for a hub id or a legacy dashed one."""
    value = parse(text, field)
    if "-" in value or not _is_site(number := int(value, 16)):
        return None
    return (number >> _TAG_SHIFT) & ((1 << TAG_BITS) - 1)


def _with_version(value: int, version: int) -> int:
    value &= ~(0xF << _VERSION_SHIFT)
    value |= version << _VERSION_SHIFT
    value &= ~(0b11 << _VARIANT_SHIFT)
    return value | (0b10 << _VARIANT_SHIFT)


def _is_site(value: int) -> bool:
    return (
        (value >> _VERSION_SHIFT) & 0xF == 8
        and (value >> _VARIANT_SHIFT) & 0b11 == 0b10
        and value & _CHECK_MASK == _check(value)
    )


def _check(value: int) -> int:
    body = (value & ~_CHECK_MASK).to_bytes(16, "big")
    return int.from_bytes(
        hashlib.blake2b(body, digest_size=2, person=b"atoll.site-id").digest(), "big"
    )


def derived_hub_id(*parts: str) -> str:
    """A hub id that is a pure function of ``parts``: the same parts give the same id.

    For objects the hub writes again when an operation is retried (the LCM engine derives a
    VNFC's server id from the instance id, the VNFC id and the purpose), so a second write
    is the same object, not a duplicate. Shaped as :func:`hub_id` (version 4, hub origin);
    its 122 bits come from blake2b of the length-prefixed parts, so distinct part lists
    collide no more often than random hub ids do.
    """
    hasher = hashlib.blake2b(digest_size=16, person=b"atoll.derived-id")
    for part in parts:
        data = part.encode()
        hasher.update(len(data).to_bytes(8, "big"))
        hasher.update(data)
    return f"{_with_version(int.from_bytes(hasher.digest(), 'big'), 4):032x}"
