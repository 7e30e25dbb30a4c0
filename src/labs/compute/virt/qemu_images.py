"""The qemu driver's image cache: one local copy of each image its instances boot.

Instances get a qcow2 overlay on the cached copy, so the copy is made once per image and
shared. Glance images never change under their id, so the id is the cache key. An entry
is `<root>/<image id>/` with the copy (`disk`), what was learnt about it (`info.json`:
format, virtual size, the boot files) and, for images built by `labs image build`, the
kernel, initramfs and command line taken out of it (`boot/`, see qemu_boot) for direct
kernel boot. An entry is made in a temporary directory and renamed into place, under a
file lock per image, so concurrent spawns (threads or processes) make it once and never
see half of it.

Before an image is cached it is checked, and again each time an instance is made from
it (old entries included): its bytes must be qcow2 or raw by the format inspector (the
upload checked them too, but bytes can reach the store some other way), with no backing
file, no external data file and no unknown features (any would let an image read files
of the host: OSSA-2024-001), and `qemu-img info`, told the format and run under limits,
must agree on the format and virtual size. Then it must be bootable (a boot sector).

The cache is bounded: `prune` removes entries, least recently used first (each `get`
touches the entry's `used` stamp), until the cache is within `max_bytes`, and never an
image an instance here uses (the caller says which, and is asked again under the image's
lock, so a spawn that has just got an image keeps it). Copies a crash left half made
(`.<image id>.*`) go too.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labs.common.diskimage.format_inspector import ImageFormatError, inspect_file
from labs.common.diskimage.qemu_img import limited
from labs.common.locks import LockTimeout, file_lock
from labs.compute.virt.base import SpawnError, VirtError
from labs.compute.virt.qemu_boot import BootFiles, NoBootFiles, extract_boot_files

log = logging.getLogger("labs.compute.virt.qemu")

INFO_FORMAT = 1
FORMATS = ("qcow2", "raw")
LOCK_TIMEOUT = 600.0
TOOL_TIMEOUT = 300.0
USED = "used"  # its mtime: when the entry was last used
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


@dataclass(frozen=True)
class CachedImage:
    """An image ready for overlays."""

    image_id: str
    disk: Path
    format: str
    virtual_size: int
    boot: BootFiles | None


@dataclass(frozen=True)
class Pruned:
    """What a prune removed (image ids) and the bytes it freed; the bytes kept."""

    removed: tuple[str, ...]
    freed: int
    kept: int


class ImageCache:
    """The cache under `root`, using `qemu_img` to inspect images, holding at most
    `max_bytes` (None: no limit) but for the images `in_use` names (instances use them)."""

    def __init__(self, root: Path, qemu_img: str, max_bytes: int | None = None,
                 in_use: Callable[[], set[str]] = set) -> None:
        self.root = Path(root)
        self.qemu_img = qemu_img
        self.max_bytes = max_bytes
        self.in_use = in_use
        self.root.mkdir(parents=True, exist_ok=True)

    def get(self, image_id: str, image_path: str | None) -> CachedImage:
        """The cached copy of the image, made from `image_path` if not cached yet.
        SpawnError if the image is missing, unsafe or not bootable."""
        if not _SAFE_ID.fullmatch(image_id):
            raise SpawnError(f"bad image id {image_id!r}")
        entry, added = self.root / image_id, False
        with _locked(self.root / f"{image_id}.lock"):
            if not (entry / "info.json").exists():
                if not image_path:
                    raise SpawnError(
                        f"image {image_id} is not cached and the instance names no local "
                        "file of it (InstanceSpec.image_path): the qemu driver boots a file")
                self._add(image_id, Path(image_path), entry)
                added = True
            cached = _load(image_id, entry)
            if _safe_format(image_id, cached.disk) != (cached.format, cached.virtual_size):
                raise SpawnError(f"image {image_id}: its cached copy changed; remove {entry}")
            (entry / USED).touch()
        if added and self.max_bytes is not None:
            try:
                self.prune()
            except OSError as exc:  # the spawn goes on; the agent prunes again later
                log.warning("image cache %s: prune failed: %s", self.root, exc)
        return cached

    def prune(self) -> Pruned:
        """Remove entries of images not `in_use`, least recently used first, until the
        cache holds at most `max_bytes`; and copies a crash left half made. An entry
        whose lock another holds (a spawn caching or checking it) is left for next time."""
        freed, removed = self._remove_half_made(), []
        entries = sorted((_last_used(entry), entry.name, _bytes(entry))
                         for entry in self.root.iterdir()
                         if entry.is_dir() and not entry.name.startswith("."))
        total = sum(size for _, _, size in entries)
        for _, image_id, size in entries:
            if self.max_bytes is None or total <= self.max_bytes:
                break
            if image_id in self.in_use() or not self._remove(image_id):
                continue
            total -= size
            freed += size
            removed.append(image_id)
        if removed or freed:
            log.info("image cache %s: removed %s, freed %d bytes, %d bytes kept", self.root,
                     ", ".join(removed) or "half-made copies only", freed, total)
        return Pruned(tuple(removed), freed, total)

    def _remove(self, image_id: str) -> bool:
        """Remove the entry under its lock if still unused; whether it was removed."""
        entry = self.root / image_id
        try:
            with file_lock(self.root / f"{image_id}.lock", 0.0):
                if image_id in self.in_use():  # a spawn got it since
                    return False
                # without info.json the entry is one `get` makes again, whatever is left
                (entry / "info.json").unlink(missing_ok=True)
                shutil.rmtree(entry)
        except LockTimeout:
            return False
        return True

    def _remove_half_made(self) -> int:
        """Remove the temporary directories of copies whose making ended in a crash."""
        freed = 0
        for work in self.root.glob(".*.*"):
            image_id = work.name[1:].rsplit(".", 1)[0]
            if not work.is_dir() or not _SAFE_ID.fullmatch(image_id):
                continue
            try:
                with file_lock(self.root / f"{image_id}.lock", 0.0):
                    size = _bytes(work)
                    shutil.rmtree(work)
            except (LockTimeout, FileNotFoundError):
                continue  # being made now, or gone
            log.info("image cache %s: removed %s, left by a crash", self.root, work.name)
            freed += size
        return freed

    def kernels(self) -> list[Path]:
        """Kernels of cached images (for probing the accelerator)."""
        return sorted(self.root.glob("*/boot/vmlinu[xz]"))

    def _add(self, image_id: str, source: Path, entry: Path) -> None:
        started = time.monotonic()
        with tempfile.TemporaryDirectory(dir=self.root, prefix=f".{image_id}.") as tmp:
            work = Path(tmp)
            disk = work / "disk"
            try:
                shutil.copyfile(source, disk)
            except OSError as exc:
                raise SpawnError(f"cannot copy image {image_id} from {source}: {exc}") \
                    from exc
            info = self._inspect(image_id, disk)
            boot = self._boot_files(image_id, disk, str(info["format"]), work / "boot")
            info["boot"] = None if boot is None else {
                "kernel": f"boot/{boot.kernel.name}", "initrd": f"boot/{boot.initrd.name}",
                "cmdline": boot.cmdline}
            (work / "info.json").write_text(json.dumps(info, sort_keys=True))
            if entry.exists():  # a copy cut short by a crash, without info.json
                shutil.rmtree(entry)
            work.rename(entry)
            work.mkdir()  # for TemporaryDirectory's clean-up
        log.info("cached image %s (%s, %d bytes virtual, %s) in %.1f s", image_id,
                 info["format"], info["virtual_size"],
                 "direct kernel boot" if boot else "boots from its disk",
                 time.monotonic() - started)

    def _inspect(self, image_id: str, disk: Path) -> dict[str, Any]:
        fmt, size = _safe_format(image_id, disk)
        out = run_tool(limited([self.qemu_img, "info", "-f", fmt, "--output=json", str(disk)]),
                       f"qemu-img info on image {image_id}", error=SpawnError)
        try:
            info = json.loads(out)
            seen = (str(info["format"]), int(info["virtual-size"]))
            specific = (info.get("format-specific") or {}).get("data") or {}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise SpawnError(f"qemu-img info on image {image_id} said {out[:200]!r}") from exc
        if seen != (fmt, size) or "backing-filename" in info or "data-file" in specific:
            raise SpawnError(f"image {image_id}: qemu-img sees {seen[0]} of {seen[1]} bytes "
                             f"(the inspector saw {fmt} of {size}), or other files: refused")
        sector = disk.with_name("sector0")
        run_tool(limited([self.qemu_img, "dd", "-f", fmt, "-O", "raw", "bs=512", "count=1",
                          f"if={disk}", f"of={sector}"]),
                 f"reading the boot sector of image {image_id}", error=SpawnError)
        head = sector.read_bytes()
        sector.unlink()
        if len(head) < 512 or head[510:512] != b"\x55\xaa":
            raise SpawnError(f"image {image_id} is not bootable: its disk has no boot sector "
                             "(upload a whole-disk image with a boot loader)")
        return {"format_version": INFO_FORMAT, "format": fmt, "virtual_size": size}

    def _boot_files(self, image_id: str, disk: Path, fmt: str,
                    dest: Path) -> BootFiles | None:
        """The image's kernel for direct boot, if it is laid out as `labs image build`
        makes images; None: boot from the disk."""
        try:
            return extract_boot_files(disk, dest, fmt)
        except (NoBootFiles, OSError) as exc:
            log.info("image %s boots from its disk (no kernel to boot directly: %s)",
                     image_id, str(exc)[:200])
            shutil.rmtree(dest, ignore_errors=True)
            return None


def _safe_format(image_id: str, disk: Path) -> tuple[str, int]:
    """The image's format and virtual size, as its bytes say; SpawnError unless it is
    qcow2 or raw and reads no other file."""
    try:
        found = inspect_file(disk)
        found.check(found.format)
    except ImageFormatError as exc:
        raise SpawnError(f"image {image_id}: {exc}") from exc
    except OSError as exc:
        raise SpawnError(f"cannot read image {image_id}: {exc}") from exc
    if found.format not in FORMATS or found.virtual_size is None:
        raise SpawnError(f"image {image_id} is {found.format}: the qemu driver boots qcow2 "
                         "or raw")
    return found.format, found.virtual_size


def _last_used(entry: Path) -> float:
    """When the entry was last used (made, or got for an instance)."""
    for stamp in (entry / USED, entry / "info.json", entry):
        try:
            return stamp.stat().st_mtime
        except FileNotFoundError:
            continue
    return 0.0


def _bytes(entry: Path) -> int:
    """The disk space the entry's files take."""
    total = 0
    for path in entry.rglob("*"):
        try:
            if path.is_file() and not path.is_symlink():
                total += path.stat().st_blocks * 512
        except FileNotFoundError:
            continue
    return total


def _load(image_id: str, entry: Path) -> CachedImage:
    try:
        info = json.loads((entry / "info.json").read_text())
        boot = info["boot"]
        return CachedImage(
            image_id=image_id, disk=entry / "disk", format=info["format"],
            virtual_size=int(info["virtual_size"]),
            boot=None if boot is None else BootFiles(
                entry / boot["kernel"], entry / boot["initrd"], boot["cmdline"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SpawnError(f"bad image cache entry {entry}: {exc}; remove it") from exc


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold the image's file lock (threads and processes alike), waiting at most
    LOCK_TIMEOUT."""
    try:
        with file_lock(path, LOCK_TIMEOUT):
            yield
    except LockTimeout as exc:
        raise SpawnError(str(exc)) from None


def run_tool(cmd: list[str], what: str, timeout: float = TOOL_TIMEOUT,
             error: type[VirtError] = VirtError) -> str:
    """Run a host tool (qemu-img); its output, or `error` saying `what` failed and why."""
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              check=False, env={**os.environ, "LC_ALL": "C"})
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise error(f"{what} failed: {exc}") from exc
    if done.returncode != 0:
        raise error(f"{what} failed (exit {done.returncode}): "
                        f"{done.stderr.strip()[-1000:]}")
    return done.stdout
