"""Build the reference VNF image: a Debian cloud kernel + a busybox initramfs.

Everything comes from Debian packages fetched with ``apt-get download`` (the versioned
``linux-image-*-cloud-amd64`` that ``linux-image-cloud-amd64`` depends on, and
``busybox-static``), plus a tiny UDP echo program compiled with gcc (see
:mod:`atoll.images.reference.udpecho`). Downloads and builds are cached under
``cache_dir`` (``debs/``, ``builds/<key>/``), the key being a hash of the packages and of
what goes into the initramfs, so a repeated build is a copy.

The output directory gets ``vmlinuz``, ``initramfs.img`` and ``reference.json`` (versions,
sha256s, the kernel command line). Boot it with that command line (:data:`CMDLINE`), a
config drive labelled ``cidata`` and virtio NICs; ``<rom bar='off'/>`` on the NICs spares
the firmware loading iPXE, which takes a while under TCG.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import lzma
import os
import re
import secrets
import shutil
import struct
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from atoll.images.errors import ToolError
from atoll.images.reference.netcfg import NETCFG_AWK
from atoll.images.reference.udpecho import SOURCE as UDPECHO_SOURCE

log = logging.getLogger(__name__)

BUILD_VERSION = "2"
KERNEL_META = "linux-image-cloud-amd64"
BUSYBOX = "busybox-static"
# Load order matters; modules built into a given kernel are skipped.
MODULES = (
    "virtio", "virtio_ring", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci",
    "failover", "net_failover", "virtio_net", "virtio_blk", "cdrom", "isofs",
)  # fmt: skip
# The guest computes its own checksums and segments: offloaded ones travel as "partial"
# through a tap into OVS's userspace (netdev) datapath and arrive broken at the far end.
MODULE_PARAMS = {"virtio_net": "csum=0 gso=0"}
INIT = Path(__file__).with_name("init.sh")
# Kernel command line, each option saving time under TCG emulation: acpi=off (virtio PCI
# probing through ACPI link devices costs seconds), cryptomgr.notests (crypto self-tests),
# mitigations=off (there is no real speculation to defend against), no_timer_check.
CMDLINE = "console=ttyS0 quiet acpi=off no_timer_check mitigations=off cryptomgr.notests"
READY_MARKER = "atoll-reference: ready"


@dataclass(frozen=True)
class ReferenceImage:
    kernel: Path
    initramfs: Path
    kernel_version: str
    packages: tuple[str, ...]
    cmdline: str = CMDLINE

    def to_json(self) -> dict[str, object]:
        return {
            "kernel": str(self.kernel),
            "initramfs": str(self.initramfs),
            "kernel_version": self.kernel_version,
            "packages": list(self.packages),
            "cmdline": self.cmdline,
        }


def _run(argv: list[str], what: str, cwd: Path | None = None, timeout: float = 300) -> str:
    try:
        proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolError(f"{what}: {' '.join(argv)} could not run: {exc}") from exc
    if proc.returncode != 0:
        raise ToolError(f"{what}: {' '.join(argv)} failed: {proc.stderr.strip()[-500:]}")
    return proc.stdout


def resolve_kernel_package(meta: str = KERNEL_META) -> str:
    """The versioned kernel package the meta package depends on (from apt's local lists)."""
    out = _run(["apt-cache", "depends", meta], f"resolving {meta} (has apt-get update run?)")
    found = re.findall(r"Depends: (linux-image-\S+)", out)
    if not found:
        raise ToolError(f"{meta} depends on no linux-image package (apt-cache said: {out!r})")
    return str(found[0])


def _kernel_package(cache_dir: Path, refresh: bool) -> str:
    """The resolved kernel package, remembered in the cache (apt-cache takes seconds)."""
    remembered = cache_dir / "kernel-package"
    if not refresh and remembered.is_file():
        return remembered.read_text().strip()
    package = resolve_kernel_package()
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = remembered.with_name(f".kernel-package.{secrets.token_hex(4)}")
    tmp.write_text(package + "\n")
    tmp.rename(remembered)  # concurrent builds never read half a name
    return package


def download(package: str, debs: Path) -> Path:
    """The .deb of ``package`` in ``debs``, fetched with ``apt-get download`` if missing."""
    debs.mkdir(parents=True, exist_ok=True)
    have = sorted(debs.glob(f"{package}_*.deb"))
    if have:
        return have[-1]
    with tempfile.TemporaryDirectory(dir=debs, prefix=".dl-") as tmp:
        log.info("fetching %s with apt-get download", package)
        _run(["apt-get", "download", package], f"downloading {package} (has apt-get update run?)",
             cwd=Path(tmp))  # fmt: skip
        got = sorted(Path(tmp).glob(f"{package}_*.deb"))
        if not got:
            raise ToolError(f"apt-get download {package} left no .deb")
        final = debs / got[-1].name
        got[-1].rename(final)
    return final


def _deb_members(deb: Path, want: re.Pattern[str]) -> dict[str, bytes]:
    """Files of a .deb whose path matches ``want``, read from ``dpkg-deb --fsys-tarfile``."""
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for member in tar:
                if member.isfile() and want.search(member.name):
                    fh = tar.extractfile(member)
                    if fh is not None:
                        found[member.name.removeprefix("./")] = fh.read()
    finally:
        proc.stdout.close()
        if proc.wait() != 0:
            raise ToolError(f"dpkg-deb could not read {deb}")
    return found


def _kernel_files(deb: Path) -> tuple[str, bytes, dict[str, bytes]]:
    names = "|".join(MODULES)
    pattern = re.compile(rf"boot/vmlinuz-|/({names})\.ko(\.xz)?$|/modules\.builtin$")
    files = _deb_members(deb, pattern)
    kernels = [k for k in files if k.startswith("boot/vmlinuz-")]
    if not kernels:
        raise ToolError(f"{deb.name} holds no boot/vmlinuz-*")
    version = kernels[0].removeprefix("boot/vmlinuz-")
    builtin = {
        Path(line).name.removesuffix(".ko")
        for k, v in files.items()
        if k.endswith("modules.builtin")
        for line in v.decode().splitlines()
    }
    modules: dict[str, bytes] = {}
    for path, data in files.items():
        name = Path(path).name
        if name.endswith(".ko.xz"):
            modules[name.removesuffix(".ko.xz")] = lzma.decompress(data)
        elif name.endswith(".ko"):
            modules[name.removesuffix(".ko")] = data
    lost = [m for m in MODULES if m not in modules and m not in builtin]
    if lost:
        raise ToolError(f"{deb.name} has neither module nor built-in {', '.join(lost)}")
    return version, files[kernels[0]], modules


_SIG_MAGIC = b"~Module signature appended~\n"


def _strip_signature(ko: bytes) -> bytes:
    """Drop a module's appended signature: verifying it costs a lot under TCG emulation.

    Debian signs modules without enforcing signatures (no Secure Boot here), so an unsigned
    module loads; the kernel only notes a taint.
    """
    if not ko.endswith(_SIG_MAGIC):
        return ko
    info = ko[-len(_SIG_MAGIC) - 12 : -len(_SIG_MAGIC)]
    signer_len, key_id_len = info[3], info[4]
    (sig_len,) = struct.unpack(">I", info[8:12])
    return ko[: -(len(_SIG_MAGIC) + 12 + sig_len + signer_len + key_id_len)]


def load_order(modules: dict[str, bytes]) -> list[str]:
    """MODULES that ship as files, dependencies first (from each module's ``depends=``)."""
    deps: dict[str, list[str]] = {}
    for name, data in modules.items():
        found = re.search(rb"depends=([^\0]*)\0", data)
        deps[name] = [d for d in (found.group(1).decode().split(",") if found else []) if d]
    order: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in order or name not in modules or name in path:
            return
        for dep in deps[name]:
            visit(dep, (*path, name))
        order.append(name)

    for name in MODULES:
        visit(name, ())
    return order


def _compile_udpecho(out: Path) -> None:
    src = out.with_suffix(".c")
    src.write_text(UDPECHO_SOURCE)
    _run(["gcc", "-static", "-nostdlib", "-Os", "-fno-stack-protector", "-fno-pie", "-no-pie",
          "-s", "-o", str(out), str(src)], "compiling the UDP echo server")  # fmt: skip
    src.unlink()


def _initramfs(staging: Path, busybox: bytes, modules: dict[str, bytes], out: Path) -> None:
    for d in ("bin", "dev", "etc", "lib/modules", "proc", "sys", "tmp", "mnt", "www"):
        (staging / d).mkdir(parents=True, exist_ok=True)
    (staging / "bin/busybox").write_bytes(busybox)
    (staging / "bin/busybox").chmod(0o755)
    (staging / "bin/sh").symlink_to("busybox")
    shutil.copyfile(INIT, staging / "init")
    (staging / "init").chmod(0o755)
    _compile_udpecho(staging / "bin/udpecho")
    order = load_order(modules)
    for name in order:
        (staging / "lib/modules" / f"{name}.ko").write_bytes(_strip_signature(modules[name]))
    (staging / "etc/modules").write_text("\n".join(order) + "\n")
    (staging / "etc/netcfg.awk").write_text(NETCFG_AWK)
    (staging / "etc/modparams").mkdir()
    for name, params in MODULE_PARAMS.items():
        (staging / "etc/modparams" / name).write_text(params + "\n")
    if os.geteuid() == 0:
        os.mknod(staging / "dev/console", 0o600 | 0o020000, os.makedev(5, 1))
    names = sorted(str(p.relative_to(staging)) for p in staging.rglob("*"))
    with out.open("wb") as fh:
        proc = subprocess.run(["cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0"],
                              input="\n".join(names).encode(), stdout=fh, cwd=staging,
                              stderr=subprocess.PIPE, check=False)  # fmt: skip
    if proc.returncode != 0:
        raise ToolError(f"cpio failed: {proc.stderr.decode().strip()}")


def _build(kernel_deb: Path, busybox_deb: Path, dest: Path) -> str:
    version, vmlinuz, modules = _kernel_files(kernel_deb)
    busybox = _deb_members(busybox_deb, re.compile(r"bin/busybox$"))
    if not busybox:
        raise ToolError(f"{busybox_deb.name} holds no bin/busybox")
    with tempfile.TemporaryDirectory(prefix="atoll-initramfs-") as tmp:
        _initramfs(Path(tmp) / "root", next(iter(busybox.values())), modules,
                   dest / "initramfs.img")  # fmt: skip
    (dest / "vmlinuz").write_bytes(vmlinuz)
    (dest / "kernel_version").write_text(version)
    return version


def _key(*parts: bytes) -> str:
    h = hashlib.sha256(BUILD_VERSION.encode())
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()[:16]


def build_reference(out_dir: Path, cache_dir: Path, *, refresh: bool = False) -> ReferenceImage:
    """Build (or take from the cache) the reference image and copy it to ``out_dir``.

    ``refresh`` asks apt again which kernel package is current (and fetches it if new);
    otherwise the cached choice and .debs are used, and no network is needed.
    """
    debs = cache_dir / "debs"
    kernel_deb = download(_kernel_package(cache_dir, refresh), debs)
    busybox_deb = download(BUSYBOX, debs)
    key = _key(kernel_deb.name.encode(), busybox_deb.name.encode(), INIT.read_bytes(),
               UDPECHO_SOURCE.encode(), "\n".join(MODULES).encode(),
               json.dumps(MODULE_PARAMS).encode(), NETCFG_AWK.encode())  # fmt: skip
    built = cache_dir / "builds" / key
    if not (built / "initramfs.img").is_file():
        log.info("building the reference image into %s", built)
        partial = built.with_name(f".{key}.{secrets.token_hex(4)}")
        partial.mkdir(parents=True)
        try:
            _build(kernel_deb, busybox_deb, partial)
            with contextlib.suppress(OSError):  # a concurrent build won: keep theirs
                partial.rename(built)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        for old in built.parent.iterdir():  # builds of older inputs are of no further use
            if old.name != key and not old.name.startswith("."):
                shutil.rmtree(old, ignore_errors=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in ("vmlinuz", "initramfs.img"):
        tmp = out_dir / f".{name}.{secrets.token_hex(4)}"
        shutil.copyfile(built / name, tmp)
        tmp.rename(out_dir / name)
    image = ReferenceImage(
        kernel=out_dir / "vmlinuz",
        initramfs=out_dir / "initramfs.img",
        kernel_version=(built / "kernel_version").read_text().strip(),
        packages=(kernel_deb.name, busybox_deb.name),
    )
    meta = {
        **image.to_json(),
        "sha256": {n: hashlib.sha256((out_dir / n).read_bytes()).hexdigest()
                   for n in ("vmlinuz", "initramfs.img")},
    }  # fmt: skip
    (out_dir / "reference.json").write_text(json.dumps(meta, indent=2) + "\n")
    return image
