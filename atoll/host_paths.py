"""Host paths cut out of text that leaves the host.

What an API client or the hub reads (an error's answer, a server's status message) must not
say where a daemon keeps its files: its data directory, an instance's directory, a staging
file. Tools and libraries name them all the same (qemu-img, genisoimage, libvirt, QEMU), so
their text is passed through :func:`cut` first, which puts each absolute path's file name in
its place: what a reader can act on (the server's ``SERVER.qcow2``, the image's
``IMAGE.raw``). The full text belongs in the daemon's log only.

- Paths the caller names are found even with a space in them (tools print paths unquoted);
- any other path is found in quotes (``'...'`` or ``"..."``, spaces and all), or else runs
  to the next blank or quote;
- URLs and URIs (``qemu:///system``, ``https://hub:8470/v1``) are not paths and stay;
- the tail of a path a tool cut short (libvirt keeps the end of a long message:
  ``.../instances/q1/k.raw``) is cut too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

_QUOTED = re.compile(r"""(['"])(/[^'"\n]*)\1""")
_BARE = re.compile(r"""(?<![\w.~/-])/(?!/)[^\s'"]+""")
_ELIDED = re.compile(r"""\.\.\./[^\s'"]+""")  # the tail of a path another tool cut short


def _name_of(path: str) -> str:
    """The file name of an absolute path as text (``/`` alone has none: ``""``)."""
    return path.rstrip("/").rpartition("/")[2]


def cut(text: str, files: Iterable[Path] = ()) -> str:
    """``text`` with every absolute path cut to its file name; ``files`` are paths the text
    may name unquoted with a space in them (the files a tool was given)."""
    known = sorted({str(p) for p in files if p.is_absolute()}, key=len, reverse=True)
    for path in known:
        text = text.replace(path, _name_of(path))
        # libvirt keeps the tail of a long error: a path cut short reads ".../x/y/file"
        for at in (i for i, char in enumerate(path) if char == "/" and i):
            text = text.replace("..." + path[at:], _name_of(path))
    text = _ELIDED.sub(lambda m: _name_of(m.group()), text)
    text = _QUOTED.sub(lambda m: f"{m[1]}{_name_of(m[2])}{m[1]}", text)
    return _BARE.sub(lambda m: _name_of(m.group()), text)
