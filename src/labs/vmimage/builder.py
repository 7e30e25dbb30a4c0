"""`labs image build`: a small bootable Labs VM image, made from Debian packages only.

The image is one qcow2 disk that boots by itself: a FAT filesystem (no partition table)
with syslinux, holding Debian's kernel and an initramfs that is the whole root filesystem:
busybox, the dropbear ssh server and its libraries, the few kernel modules a VM needs, and
the first-boot program from `guest/` (busybox sh and awk). Every file comes out of a Debian
package fetched with `apt-get download`; nothing else is downloaded. The cpio archive and
the FAT image use fixed file order, owners and times (SOURCE_DATE_EPOCH), so the same
packages give the same image, byte for byte; a JSON manifest next to the image names every
package and version used. The qemu driver takes the kernel, initramfs and command line back
out of such an image for a faster boot with `qemu -kernel` (compute/virt/qemu_boot.py).

The steps: debian.py (which packages, their files), rootfs.py (what the image holds),
binfmt.py (the cpio, ELF and module formats), steps.py (the host programs each step runs);
this module puts them together into the disk and keeps the cache.

Downloaded packages, the kernel's extracted pieces and finished images are cached (default
`~/.cache/labs/image-build`), so a second build of the same inputs is a copy.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labs.common.locks import LockTimeout, file_lock
from labs.vmimage.binfmt import cpio_newc
from labs.vmimage.debian import Deb, fetch, package_record, resolve, tool_versions
from labs.vmimage.rootfs import (
    BOOT_MODULES,
    GUEST,
    KERNEL_CMDLINE,
    LATE_MODULES,
    LOGIN_USER,
    PACKAGES,
    READY_MARKER,
    build_rootfs,
    cached_kernel,
)
from labs.vmimage.steps import TOOLS, ImageBuildError, find_tool, run_step, sha256_of

__all__ = ["IMAGE_NAME", "MANIFEST_NAME", "PACKAGES", "READY_MARKER", "BuiltImage",
           "ImageBuildError", "build_image"]

log = logging.getLogger("labs.vmimage.builder")

IMAGE_NAME = "labs.qcow2"
MANIFEST_NAME = "labs.manifest.json"
KERNEL_PACKAGE = "linux-image-amd64"
BOOT_LABEL = "LABSBOOT"
DEFAULT_EPOCH = 1704067200  # 2024-01-01T00:00:00Z, unless SOURCE_DATE_EPOCH says otherwise
CACHE_KEEP_DAYS = 30


@dataclass(frozen=True)
class BuiltImage:
    path: Path
    manifest_path: Path
    sha256: str
    size: int
    manifest: dict[str, Any]
    from_cache: bool = False


def build_image(output_dir: Path, cache_dir: Path | None = None, *,
                rebuild: bool = False) -> BuiltImage:
    """Build (or take from the cache) the image and its manifest into `output_dir`.

    `rebuild` ignores a finished image in the cache (packages stay cached)."""
    started = time.monotonic()
    cache = Path(cache_dir or os.environ.get("LABS_IMAGE_CACHE")
                 or Path.home() / ".cache" / "labs" / "image-build")
    cache.mkdir(parents=True, exist_ok=True)
    output_dir.mkdir(parents=True, exist_ok=True)
    tools = {name: find_tool(name, package) for name, package in TOOLS.items()}
    with _locked(cache / "lock"):
        kernel_meta = resolve([KERNEL_PACKAGE])[0]
        kernel_name = kernel_meta.depends.split(",")[0].split()[0]
        debs = resolve([kernel_name, *PACKAGES])
        epoch = _epoch()
        inputs = {"builder": _builder_digest(), "packages": [package_record(d) for d in debs],
                  "tools": tool_versions(), "epoch": epoch, "cmdline": KERNEL_CMDLINE,
                  "modules": [*BOOT_MODULES, "|", *LATE_MODULES]}
        key = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:24]
        done = cache / "images" / key
        if rebuild or not (done / IMAGE_NAME).exists():
            with tempfile.TemporaryDirectory(dir=cache, prefix="build-") as tmp:
                work = Path(tmp)
                paths = fetch(debs, cache / "debs", tools)
                manifest = _build(work, debs, paths, tools, epoch, cache)
                manifest.update(kernel_package=f"{kernel_meta.name} {kernel_meta.version}",
                                build_key=key, build_tools=inputs["tools"])
                _publish(work, manifest, done)
            from_cache = False
        else:
            from_cache = True
        built = _copy_out(done, output_dir, from_cache)
        _prune(cache, debs, done)
    log.info("image %s (%d bytes, sha256 %s) %s in %.1f s", built.path, built.size,
             built.sha256, "from the cache" if from_cache else "built",
             time.monotonic() - started)
    return built


def _build(work: Path, debs: Sequence[Deb], paths: dict[str, Path], tools: dict[str, str],
           epoch: int, cache: Path) -> dict[str, Any]:
    kernel_deb = debs[0]
    kernel = cached_kernel(kernel_deb, paths[kernel_deb.name], tools, cache)
    trees: dict[str, Path] = {}
    for deb in debs[1:]:
        trees[deb.name] = work / "debs" / deb.name
        trees[deb.name].mkdir(parents=True)
        run_step([tools["dpkg-deb"], "-x", str(paths[deb.name]), str(trees[deb.name])],
                 f"dpkg-deb -x {paths[deb.name].name}")
    root = build_rootfs(trees, kernel)
    initrd = gzip.compress(cpio_newc(root, epoch), compresslevel=9, mtime=0)
    raw = work / "labs.raw"
    _fat_image(raw, {"vmlinuz": kernel.vmlinuz.read_bytes(), "initrd.img": initrd,
                     "syslinux.cfg": _syslinux_cfg().encode()}, tools, epoch)
    qcow2 = work / IMAGE_NAME
    run_step([tools["qemu-img"], "convert", "-f", "raw", "-O", "qcow2", str(raw), str(qcow2)],
             "qemu-img convert")
    return {
        "image": IMAGE_NAME, "disk_format": "qcow2", "container_format": "bare",
        "virtual_size": raw.stat().st_size, "kernel": kernel.release,
        "kernel_cmdline": KERNEL_CMDLINE, "initrd_size": len(initrd),
        "ready_marker": READY_MARKER, "login_user": LOGIN_USER, "source_date_epoch": epoch,
        "modules": [m.split("/")[-1] for m in kernel.modules],
        "late_modules": [m.split("/")[-1] for m in kernel.late_modules],
        "packages": [package_record(d) for d in debs],
        # Image properties for the image service: what the guest can use, and its marker.
        "properties": {"os_type": "linux", "hw_rng_model": "virtio",
                       "labs_ready_marker": READY_MARKER},
    }


def _syslinux_cfg() -> str:
    return ("DEFAULT labs\nPROMPT 0\nTIMEOUT 0\nLABEL labs\n  LINUX /vmlinuz\n"
            f"  INITRD /initrd.img\n  APPEND {KERNEL_CMDLINE}\n")


def _fat_image(raw: Path, files: dict[str, bytes], tools: dict[str, str], epoch: int) -> None:
    """A FAT disk without a partition table (SeaBIOS boots its syslinux boot sector)."""
    payload = sum(len(data) for data in files.values())
    mib = 1 << 20
    size = max(64 * mib, (payload * 5 // 4 + 16 * mib + mib - 1) // mib * mib)
    with raw.open("wb") as f:
        f.truncate(size)
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(epoch), "TZ": "UTC",
           "MTOOLS_SKIP_CHECK": "1", "MTOOLSRC": "/dev/null"}
    run_step([tools["mkfs.vfat"], "--invariant", "-i", "4c616273", "-n", BOOT_LABEL, str(raw)],
             "mkfs.vfat", env=env)
    run_step([tools["syslinux"], "--install", str(raw)], "syslinux --install", env=env)
    staging = raw.parent / "fat"
    staging.mkdir()
    for name, data in files.items():
        (staging / name).write_bytes(data)
        os.utime(staging / name, (epoch, epoch))
    run_step([tools["mcopy"], "-m", "-i", str(raw), *(str(staging / n) for n in files), "::/"],
             "mcopy", env=env)


def _prune(cache: Path, debs: Sequence[Deb], done: Path) -> None:
    """Mark what this build used; drop cached packages, kernels and images that no build
    used for CACHE_KEEP_DAYS."""
    now = time.time()
    used = {cache / "debs" / d.filename for d in debs} | {done}
    used |= set((cache / "kernel").glob(f"{debs[0].filename[:-4]}-*"))
    for path in used:
        if path.exists():
            os.utime(path, (now, now))
    for sub in ("debs", "kernel", "images"):
        for path in sorted((cache / sub).glob("*")):
            if path not in used and now - path.stat().st_mtime > CACHE_KEEP_DAYS * 86400:
                log.info("removing %s from the cache (unused for %d days)", path,
                         CACHE_KEEP_DAYS)
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink()


def _publish(work: Path, manifest: dict[str, Any], done: Path) -> None:
    image = work / IMAGE_NAME
    manifest["sha256"] = sha256_of(image)
    manifest["size"] = image.stat().st_size
    (work / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    staged = done.with_name(done.name + ".new")
    if staged.exists():
        shutil.rmtree(staged)
    staged.mkdir(parents=True)
    for name in (IMAGE_NAME, MANIFEST_NAME):
        (work / name).rename(staged / name)
    if done.exists():
        shutil.rmtree(done)
    staged.rename(done)


def _copy_out(done: Path, output_dir: Path, from_cache: bool) -> BuiltImage:
    manifest = json.loads((done / MANIFEST_NAME).read_text())
    for name in (IMAGE_NAME, MANIFEST_NAME):
        tmp = output_dir / f".{name}.tmp"
        shutil.copyfile(done / name, tmp)
        tmp.replace(output_dir / name)
    path = output_dir / IMAGE_NAME
    digest = sha256_of(path)
    if digest != manifest["sha256"]:
        raise ImageBuildError(f"{path}: sha256 {digest} is not the manifest's "
                              f"{manifest['sha256']} (damaged cache at {done}?)")
    return BuiltImage(path=path, manifest_path=output_dir / MANIFEST_NAME, sha256=digest,
                      size=path.stat().st_size, manifest=manifest, from_cache=from_cache)


@contextmanager
def _locked(path: Path, timeout: float = 1800.0) -> Iterator[None]:
    """One build at a time per cache directory."""
    try:
        with file_lock(path, timeout, poll=0.5):
            yield
    except LockTimeout:
        raise ImageBuildError(f"another build holds {path} for too long") from None


def _epoch() -> int:
    value = os.environ.get("SOURCE_DATE_EPOCH", "")
    try:
        return int(value) if value else DEFAULT_EPOCH
    except ValueError:
        raise ImageBuildError(f"SOURCE_DATE_EPOCH={value!r} is not a number") from None


def _builder_digest() -> str:
    """The builder's own part of the build's inputs: its modules and the guest's files."""
    package = Path(__file__).parent
    h = hashlib.sha256()
    for path in sorted([*package.glob("*.py"), *GUEST.iterdir()]):
        if path.is_file():
            h.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()
