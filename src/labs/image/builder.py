"""`labs image build`: a small bootable Labs VM image, made from Debian packages only.

The image is one qcow2 disk that boots by itself: a FAT filesystem (no partition table)
with syslinux, holding Debian's kernel and an initramfs that is the whole root filesystem:
busybox, the dropbear ssh server and its libraries, the few kernel modules a VM needs, and
the first-boot program from `guest/` (busybox sh and awk). Every file comes out of a Debian
package fetched with `apt-get download`; nothing else is downloaded. The cpio archive and
the FAT image use fixed file order, owners and times (SOURCE_DATE_EPOCH), so the same
packages give the same image, byte for byte; a JSON manifest next to the image names every
package and version used. `extract_boot_files` takes the kernel, initramfs and command line
back out of an image, for a faster boot with `qemu -kernel`.

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
import subprocess
import tempfile
import time
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labs.common.locks import LockTimeout, file_lock
from labs.image.binfmt import Entry, Tree, cpio_newc, elf_needed, modinfo, vmlinux_from_bzimage
from labs.image.qemu_img import limited

log = logging.getLogger("labs.image.builder")

#: The first word of the one line the guest prints on its serial console when ssh is up:
#: `LABS-READY <hostname> <fqdn>`.
READY_MARKER = "LABS-READY"

IMAGE_NAME = "labs.qcow2"
MANIFEST_NAME = "labs.manifest.json"
KERNEL_PACKAGE = "linux-image-amd64"
#: Packages whose files go into the root filesystem (libraries only as far as needed).
PACKAGES = ("busybox-static", "dropbear-bin", "libc6", "libcrypt1", "zlib1g", "libtomcrypt1",
            "libtommath1", "libgmp10")
#: Dynamically linked programs copied in, with the libraries they need.
PROGRAMS = ("usr/sbin/dropbear", "usr/bin/dropbearkey")
#: Kernel modules, loaded with their dependencies in dependency order. The boot set before
#: anything else: virtio PCI, disks, network card and entropy, and the filesystems of config
#: drives and of the boot disk. The late set in the background while the first boot runs:
#: IDE and SATA disks and CD-ROMs (where a config drive may sit), virtio SCSI, the e1000
#: network card, the ACPI power button.
BOOT_MODULES = ("virtio_pci", "virtio_blk", "virtio_net", "virtio_rng", "isofs", "vfat",
                "nls_cp437", "nls_ascii", "nls_utf8")
LATE_MODULES = ("ata_piix", "ahci", "sr_mod", "sd_mod", "virtio_scsi", "e1000", "button",
                "evdev")
#: `cryptomgr.notests`: no self-tests of the kernel's crypto algorithms at boot (about half
#: a second under software emulation).
KERNEL_CMDLINE = "console=ttyS0 quiet cryptomgr.notests"
BOOT_LABEL = "LABSBOOT"
DEFAULT_EPOCH = 1704067200  # 2024-01-01T00:00:00Z, unless SOURCE_DATE_EPOCH says otherwise
LOGIN_USER, LOGIN_UID = "labs", 1000
#: Host programs the build runs, and the Debian package of each.
TOOLS = {"apt-get": "apt", "apt-cache": "apt", "dpkg-deb": "dpkg", "mkfs.vfat": "dosfstools",
         "mcopy": "mtools", "syslinux": "syslinux", "qemu-img": "qemu-utils"}
GUEST = Path(__file__).with_name("guest")
MULTIARCH = "usr/lib/x86_64-linux-gnu"
CACHE_KEEP_DAYS = 30
KERNEL_CACHE_FORMAT = "2"  # what a kernel directory in the cache holds
TIMEOUT_DOWNLOAD = 900.0
TIMEOUT_STEP = 300.0


class ImageBuildError(Exception):
    """The build failed; the message says which step and why."""


@dataclass(frozen=True)
class BuiltImage:
    path: Path
    manifest_path: Path
    sha256: str
    size: int
    manifest: dict[str, Any]
    from_cache: bool = False


@dataclass(frozen=True)
class Deb:
    name: str
    version: str
    architecture: str
    sha256: str
    depends: str = ""

    @property
    def filename(self) -> str:
        return f"{self.name}_{self.version.replace(':', '%3a')}_{self.architecture}.deb"


def build_image(output_dir: Path, cache_dir: Path | None = None, *,
                rebuild: bool = False) -> BuiltImage:
    """Build (or take from the cache) the image and its manifest into `output_dir`.

    `rebuild` ignores a finished image in the cache (packages stay cached)."""
    started = time.monotonic()
    cache = Path(cache_dir or os.environ.get("LABS_IMAGE_CACHE")
                 or Path.home() / ".cache" / "labs" / "image-build")
    cache.mkdir(parents=True, exist_ok=True)
    output_dir.mkdir(parents=True, exist_ok=True)
    tools = {name: _tool(name, package) for name, package in TOOLS.items()}
    with _locked(cache / "lock"):
        kernel_meta = _resolve([KERNEL_PACKAGE])[0]
        kernel_name = kernel_meta.depends.split(",")[0].split()[0]
        debs = _resolve([kernel_name, *PACKAGES])
        epoch = _epoch()
        inputs = {"builder": _builder_digest(), "packages": [_pkg(d) for d in debs],
                  "tools": _tool_versions(), "epoch": epoch, "cmdline": KERNEL_CMDLINE,
                  "modules": [*BOOT_MODULES, "|", *LATE_MODULES]}
        key = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:24]
        done = cache / "images" / key
        if rebuild or not (done / IMAGE_NAME).exists():
            with tempfile.TemporaryDirectory(dir=cache, prefix="build-") as tmp:
                work = Path(tmp)
                paths = _fetch(debs, cache / "debs", tools)
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


@dataclass(frozen=True)
class BootFiles:
    kernel: Path    # uncompressed, PVH-bootable vmlinux when possible, else the bzImage
    initrd: Path
    cmdline: str


def extract_boot_files(image: Path, dest: Path, image_format: str = "qcow2") -> BootFiles:
    """The kernel, initramfs and kernel command line inside an image built here, for
    `qemu -kernel KERNEL -initrd INITRD -append CMDLINE` with the image still attached as
    the boot disk. Under software emulation this skips the firmware, the boot loader and
    the kernel's own decompression: the guest is ready 3 to 5 s sooner. The image may
    come from a user: it is read as `image_format` and under limits (see qemu_img)."""
    tools = {name: _tool(name, TOOLS[name]) for name in ("qemu-img", "mcopy")}
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest, prefix="extract-") as tmp:
        raw = Path(tmp) / "disk.raw"
        _run(limited([tools["qemu-img"], "convert", "-f", image_format, "-O", "raw",
                      str(image), str(raw)], cpu_seconds=int(TIMEOUT_STEP)),
             f"qemu-img convert {image}")
        env = {**os.environ, "MTOOLS_SKIP_CHECK": "1", "MTOOLSRC": "/dev/null"}
        for name in ("vmlinuz", "initrd.img", "syslinux.cfg"):
            _run([tools["mcopy"], "-n", "-i", str(raw), f"::/{name}", str(Path(tmp) / name)],
                 f"mcopy {name} out of {image}", env=env)
        cmdline = next((line.split(None, 1)[1] for line in
                        (Path(tmp) / "syslinux.cfg").read_text().splitlines()
                        if line.strip().startswith("APPEND ")), "")
        vmlinux = vmlinux_from_bzimage((Path(tmp) / "vmlinuz").read_bytes())
        if vmlinux is not None:
            (dest / "vmlinux").write_bytes(vmlinux)
            kernel = dest / "vmlinux"
        else:
            kernel = (Path(tmp) / "vmlinuz").replace(dest / "vmlinuz")
        initrd = (Path(tmp) / "initrd.img").replace(dest / "initrd.img")
    return BootFiles(kernel=kernel, initrd=initrd, cmdline=cmdline.strip())


# --- the build ---------------------------------------------------------------------

def _build(work: Path, debs: Sequence[Deb], paths: dict[str, Path], tools: dict[str, str],
           epoch: int, cache: Path) -> dict[str, Any]:
    kernel_deb = debs[0]
    kernel = _kernel(kernel_deb, paths[kernel_deb.name], tools, cache)
    trees: dict[str, Path] = {}
    for deb in debs[1:]:
        trees[deb.name] = work / "debs" / deb.name
        trees[deb.name].mkdir(parents=True)
        _run([tools["dpkg-deb"], "-x", str(paths[deb.name]), str(trees[deb.name])],
             f"dpkg-deb -x {paths[deb.name].name}")
    root = _rootfs(trees, kernel)
    initrd = gzip.compress(cpio_newc(root, epoch), compresslevel=9, mtime=0)
    raw = work / "labs.raw"
    _fat_image(raw, {"vmlinuz": kernel.vmlinuz.read_bytes(), "initrd.img": initrd,
                     "syslinux.cfg": _syslinux_cfg().encode()}, tools, epoch)
    qcow2 = work / IMAGE_NAME
    _run([tools["qemu-img"], "convert", "-f", "raw", "-O", "qcow2", str(raw), str(qcow2)],
         "qemu-img convert")
    return {
        "image": IMAGE_NAME, "disk_format": "qcow2", "container_format": "bare",
        "virtual_size": raw.stat().st_size, "kernel": kernel.release,
        "kernel_cmdline": KERNEL_CMDLINE, "initrd_size": len(initrd),
        "ready_marker": READY_MARKER, "login_user": LOGIN_USER, "source_date_epoch": epoch,
        "modules": [m.split("/")[-1] for m in kernel.modules],
        "late_modules": [m.split("/")[-1] for m in kernel.late_modules],
        "packages": [_pkg(d) for d in debs],
        # Image properties for the image service: what the guest can use, and its marker.
        "properties": {"os_type": "linux", "hw_rng_model": "virtio",
                       "labs_ready_marker": READY_MARKER},
    }


@dataclass
class Kernel:
    release: str
    vmlinuz: Path
    tree: Path                  # holds lib/modules/<release>/...
    modules: list[str]          # paths under lib/modules/, in load order
    late_modules: list[str]     # loaded in the background, after `modules`


def _kernel(deb: Deb, path: Path, tools: dict[str, str], cache: Path) -> Kernel:
    """Debian's kernel and the modules the guest loads, kept in the cache."""
    digest = hashlib.sha256(" ".join([KERNEL_CACHE_FORMAT, *BOOT_MODULES, "|", *LATE_MODULES])
                            .encode())
    keep = cache / "kernel" / f"{deb.filename[:-4]}-{digest.hexdigest()[:12]}"
    if not (keep / "release").exists():
        with tempfile.TemporaryDirectory(dir=cache, prefix="kernel-") as tmp:
            full = Path(tmp) / "full"
            log.info("extracting %s", path.name)
            _run([tools["dpkg-deb"], "-x", str(path), str(full)], f"dpkg-deb -x {path.name}")
            vmlinuz = sorted((full / "boot").glob("vmlinuz-*"))
            if not vmlinuz:
                raise ImageBuildError(f"{path.name} has no boot/vmlinuz-*")
            release = vmlinuz[0].name.removeprefix("vmlinuz-")
            base = full / "lib" / "modules" / release
            boot = _module_order(base, BOOT_MODULES, set())
            late = _module_order(base, LATE_MODULES, set(boot))
            staged = Path(tmp) / "keep"
            for rel in boot + late:
                dest = staged / "lib" / "modules" / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(base.parent / rel, dest)
            shutil.copyfile(vmlinuz[0], staged / "vmlinuz")
            shutil.copyfile(full / "usr/share/doc" / deb.name / "copyright",
                            staged / "copyright")
            (staged / "modules.boot").write_text("".join(m + "\n" for m in boot))
            (staged / "modules.late").write_text("".join(m + "\n" for m in late))
            (staged / "release").write_text(release + "\n")
            if keep.exists():
                shutil.rmtree(keep)
            keep.parent.mkdir(parents=True, exist_ok=True)
            staged.rename(keep)
    return Kernel(release=(keep / "release").read_text().strip(), vmlinuz=keep / "vmlinuz",
                  tree=keep, modules=(keep / "modules.boot").read_text().split(),
                  late_modules=(keep / "modules.late").read_text().split())


def _module_order(base: Path, wanted: Sequence[str], loaded: set[str]) -> list[str]:
    """The `wanted` modules and their dependencies (from each module's .modinfo) that are
    not `loaded` already, dependencies first, as paths relative to lib/modules/."""
    builtin = {Path(line).stem.replace("-", "_")
               for line in (base / "modules.builtin").read_text().split()}
    files = {ko.stem.replace("-", "_"): ko for ko in (base / "kernel").rglob("*.ko")}
    done = {Path(rel).stem.replace("-", "_") for rel in loaded}
    order: list[str] = []

    def visit(name: str, wanted_by: str) -> None:
        name = name.replace("-", "_")
        if name in done or name in builtin:
            return
        done.add(name)
        ko = files.get(name)
        if ko is None:
            raise ImageBuildError(f"kernel module {name} (for {wanted_by}) is not in "
                                  f"{base.name}")
        for dep in modinfo(ko.read_bytes()).get("depends", "").split(","):
            if dep:
                visit(dep, name)
        order.append(str(ko.relative_to(base.parent)))

    for module in wanted:
        visit(module, "the guest")
    return order


def _rootfs(trees: dict[str, Path], kernel: Kernel) -> dict[str, Entry]:
    root = Tree()
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "usr/lib64", MULTIARCH, "usr/lib/labs",
              "etc/labs", "etc/dropbear", "proc", "sys", "dev", "run", "mnt", "boot",
              "var/lib/labs", "var/log", "home"):
        root.dir(d)
    root.dir("tmp", 0o1777)
    root.dir("root", 0o700)
    root.dir(f"home/{LOGIN_USER}", 0o755, LOGIN_UID)
    for link, target in (("lib", "usr/lib"), ("lib64", "usr/lib64"), ("var/run", "/run"),
                         ("usr/lib64/ld-linux-x86-64.so.2",
                          "../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")):
        root.symlink(link, target)
    root.node("dev/console", 0o600, 5, 1)
    root.node("dev/null", 0o666, 1, 3)

    busybox = trees["busybox-static"] / "bin" / "busybox"
    root.file("bin/busybox", busybox.read_bytes(), 0o755)
    applets = _run([str(busybox), "--list-full"], "busybox --list-full").split()
    for applet in applets:
        if "/" in applet and applet not in root.entries:
            root.symlink(applet, "/bin/busybox")

    libdirs = [t / sub for t in trees.values()
               for sub in ("lib/x86_64-linux-gnu", MULTIARCH)]
    wanted = ["ld-linux-x86-64.so.2"]
    for program in PROGRAMS:
        source = next((t / program for t in trees.values() if (t / program).exists()), None)
        if source is None:
            raise ImageBuildError(f"no package provides {program}")
        data = source.read_bytes()
        root.file(program, data, 0o755)
        wanted += elf_needed(data)
    while wanted:
        soname = wanted.pop()
        dest = f"{MULTIARCH}/{soname}"
        if dest in root.entries:
            continue
        lib = next((d / soname for d in libdirs if (d / soname).exists()), None)
        if lib is None:
            raise ImageBuildError(f"library {soname} is in none of {', '.join(PACKAGES)}")
        data = lib.resolve().read_bytes()
        root.file(dest, data, 0o755)
        wanted += elf_needed(data)

    for rel in kernel.modules + kernel.late_modules:
        root.file(f"usr/lib/modules/{rel}", (kernel.tree / "lib" / "modules" / rel)
                  .read_bytes(), 0o644)
    root.text("etc/labs/modules", "".join(m + "\n" for m in kernel.modules))
    root.text("etc/labs/modules.late", "".join(m + "\n" for m in kernel.late_modules))
    # The licences of what the image holds.
    copyrights = {name: tree / "usr/share/doc" / name / "copyright"
                  for name, tree in trees.items()}
    copyrights[f"linux-image-{kernel.release}"] = kernel.tree / "copyright"
    for name, path in sorted(copyrights.items()):
        root.file(f"usr/share/doc/{name}/copyright", path.read_bytes())
    _guest_files(root)
    return root.entries


def _guest_files(root: Tree) -> None:
    def guest(name: str) -> str:
        return (GUEST / name).read_text().replace("@READY_MARKER@", READY_MARKER)

    root.text("init", guest("init"), 0o755)
    root.text("usr/lib/labs/firstboot", guest("firstboot"), 0o755)
    root.text("usr/lib/labs/udhcpc.script", guest("udhcpc.script"), 0o755)
    root.text("usr/lib/labs/json.awk", guest("json.awk"))
    root.text("usr/lib/labs/metadata.awk", guest("metadata.awk"))
    root.text("etc/inittab", guest("inittab"))
    u, home = LOGIN_USER, f"/home/{LOGIN_USER}"
    root.text("etc/passwd", f"root:x:0:0:root:/root:/bin/sh\n"
                            f"{u}:x:{LOGIN_UID}:{LOGIN_UID}:Labs user:{home}:/bin/sh\n")
    # "*": no password can log in, but the account is not locked (ssh keys work).
    root.text("etc/shadow", f"root:*:19000:0:99999:7:::\n{u}:*:19000:0:99999:7:::\n", 0o600)
    root.text("etc/group", f"root:x:0:\ntty:x:5:\n{u}:x:{LOGIN_UID}:\n")
    root.text("etc/shells", "/bin/sh\n/bin/ash\n")
    root.text("etc/nsswitch.conf", "passwd: files\ngroup: files\nshadow: files\n"
                                   "hosts: files dns\n")
    root.text("etc/hostname", "labs\n")
    root.text("etc/hosts", "127.0.0.1\tlocalhost\n")
    root.text("etc/resolv.conf", "")
    root.text("etc/profile", 'export PATH=/usr/sbin:/usr/bin:/sbin:/bin\n'
                             'PS1="\\u@\\h:\\w\\$ "\n')
    root.text("etc/os-release", 'NAME="Labs"\nID=labs\nPRETTY_NAME="Labs guest '
                                '(Debian packages)"\n')
    root.text("etc/acpi/PWRF/00000080", "#!/bin/sh\npoweroff\n", 0o755)


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
    _run([tools["mkfs.vfat"], "--invariant", "-i", "4c616273", "-n", BOOT_LABEL, str(raw)],
         "mkfs.vfat", env=env)
    _run([tools["syslinux"], "--install", str(raw)], "syslinux --install", env=env)
    staging = raw.parent / "fat"
    staging.mkdir()
    for name, data in files.items():
        (staging / name).write_bytes(data)
        os.utime(staging / name, (epoch, epoch))
    _run([tools["mcopy"], "-m", "-i", str(raw), *(str(staging / n) for n in files), "::/"],
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
    manifest["sha256"] = _sha256(image)
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
    digest = _sha256(path)
    if digest != manifest["sha256"]:
        raise ImageBuildError(f"{path}: sha256 {digest} is not the manifest's "
                              f"{manifest['sha256']} (damaged cache at {done}?)")
    return BuiltImage(path=path, manifest_path=output_dir / MANIFEST_NAME, sha256=digest,
                      size=path.stat().st_size, manifest=manifest, from_cache=from_cache)


# --- Debian packages -------------------------------------------------------------------

def _resolve(names: Sequence[str]) -> list[Deb]:
    """The candidate version of each package, from the local apt lists; as root, the lists
    are updated once when they know none of the packages (a fresh machine)."""
    try:
        return _resolve_once(names)
    except ImageBuildError:
        if os.geteuid() != 0:
            raise
    log.info("apt-get update (the apt lists do not know %s)", " ".join(names))
    _run(["apt-get", "update", "-qq"], "apt-get update", timeout=TIMEOUT_DOWNLOAD)
    return _resolve_once(names)


def _resolve_once(names: Sequence[str]) -> list[Deb]:
    out = _run(["apt-cache", "show", "--no-all-versions", *names],
               f"apt-cache show {' '.join(names)} (is `apt-get update` done?)")
    debs: dict[str, Deb] = {}
    for stanza in out.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line and not line[0].isspace() and ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if "Package" in fields and fields["Package"] not in debs:
            debs[fields["Package"]] = Deb(fields["Package"], fields["Version"],
                                          fields["Architecture"], fields.get("SHA256", ""),
                                          fields.get("Depends", ""))
    missing = [n for n in names if n not in debs]
    if missing:
        raise ImageBuildError(f"apt-cache knows no package {', '.join(missing)} "
                              "(run apt-get update?)")
    return [debs[n] for n in names]


def _fetch(debs: Sequence[Deb], debs_dir: Path, tools: dict[str, str]) -> dict[str, Path]:
    """The package files, from the cache or else with one `apt-get download`, each checked
    against the sha256 in the apt lists."""
    paths = {d.name: debs_dir / d.filename for d in debs}
    missing = [d for d in debs if not (paths[d.name].exists() and _valid(paths[d.name], d))]
    if not missing:
        return paths
    debs_dir.mkdir(parents=True, exist_ok=True)
    names = " ".join(d.name for d in missing)
    with tempfile.TemporaryDirectory(dir=debs_dir, prefix="download-") as tmp:
        os.chmod(tmp, 0o755)  # apt's sandbox user writes here when we are root
        log.info("apt-get download %s", names)
        _run([tools["apt-get"], "download", "-q", *(f"{d.name}={d.version}" for d in missing)],
             f"apt-get download {names}", cwd=Path(tmp), timeout=TIMEOUT_DOWNLOAD)
        for deb in missing:
            got = Path(tmp) / deb.filename
            if not got.exists():
                raise ImageBuildError(f"apt-get download {deb.name} gave no {deb.filename}")
            if not _valid(got, deb):
                raise ImageBuildError(f"apt-get download {deb.name}: the sha256 of "
                                      f"{deb.filename} is not the one in the apt lists")
            got.replace(paths[deb.name])
    return paths


def _valid(path: Path, deb: Deb) -> bool:
    return not deb.sha256 or _sha256(path) == deb.sha256


def _pkg(deb: Deb) -> dict[str, str]:
    return {"name": deb.name, "version": deb.version, "architecture": deb.architecture,
            "sha256": deb.sha256}


def _tool_versions() -> dict[str, str]:
    """The Debian packages of the build tools, and the zlib that compresses the initramfs."""
    packages = sorted(set(TOOLS.values()))
    out = subprocess.run(["dpkg-query", "-W", "-f", "${Package}\t${Version}\n", *packages],
                         capture_output=True, text=True, timeout=60, check=False).stdout
    versions = dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)
    versions["zlib (python)"] = zlib.ZLIB_RUNTIME_VERSION
    return versions


# --- helpers ---------------------------------------------------------------------------

def _run(cmd: Sequence[str], what: str, *, cwd: Path | None = None,
         env: dict[str, str] | None = None, timeout: float = TIMEOUT_STEP) -> str:
    try:
        done = subprocess.run(list(cmd), cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ImageBuildError(f"{what} failed: no answer within {timeout:.0f} s") from exc
    except OSError as exc:
        raise ImageBuildError(f"{what} failed: {exc}") from exc
    if done.returncode != 0:
        detail = (done.stderr.strip() or done.stdout.strip())[-2000:]
        raise ImageBuildError(f"{what} failed (exit {done.returncode}): {detail}")
    return done.stdout


def _tool(name: str, package: str) -> str:
    path = os.environ.get("PATH", "") + ":/usr/local/sbin:/usr/sbin:/sbin"
    found = shutil.which(name, path=path)
    if found is None:
        raise ImageBuildError(f"{name} is missing: install the Debian package {package} "
                              f"(apt-get install {package})")
    return found


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
    h = hashlib.sha256(Path(__file__).read_bytes())
    for path in sorted(GUEST.iterdir()):
        if path.is_file():
            h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
