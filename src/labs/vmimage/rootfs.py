"""What the Labs VM image holds: Debian's kernel and the modules a VM needs, busybox,
dropbear, sudo (with the two PAM modules its stack uses) and the libraries they need, the
licences, and the first-boot program and the access daemon from `guest/` (busybox sh and
awk), laid out as the root filesystem of the initramfs."""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from labs.vmimage.binfmt import Entry, Tree, elf_needed, modinfo
from labs.vmimage.debian import Deb
from labs.vmimage.steps import ImageBuildError, run_step

log = logging.getLogger("labs.vmimage.rootfs")

#: The first word of the one line the guest prints on its serial console when ssh is up:
#: `LABS-READY <hostname> <fqdn>`.
READY_MARKER = "LABS-READY"
#: Packages whose files go into the root filesystem (libraries only as far as needed).
PACKAGES = ("busybox-static", "dropbear-bin", "libc6", "libcrypt1", "zlib1g", "libtomcrypt1",
            "libtommath1", "libgmp10", "sudo", "libpam0g", "libpam-modules", "libaudit1",
            "libcap-ng0", "libselinux1", "libpcre2-8-0")
MULTIARCH = "usr/lib/x86_64-linux-gnu"
#: Dynamically linked programs (and modules loaded by path) copied in with their modes,
#: with the libraries they need. sudo is set-uid root; its sudoers plugin and the PAM
#: modules of its stack (guest/pam-sudo) are loaded from these paths.
PROGRAMS = {"usr/sbin/dropbear": 0o755, "usr/bin/dropbearkey": 0o755,
            "usr/bin/sudo": 0o4755, "usr/sbin/visudo": 0o755,
            "usr/libexec/sudo/sudoers.so": 0o644,
            f"{MULTIARCH}/security/pam_unix.so": 0o644,
            f"{MULTIARCH}/security/pam_deny.so": 0o644}
#: Where the libraries are looked for in the packages (sudo's own: its RUNPATH).
LIBRARY_DIRS = ("lib/x86_64-linux-gnu", MULTIARCH, "usr/libexec/sudo")
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
LOGIN_USER, LOGIN_UID = "labs", 1000
GUEST = Path(__file__).with_name("guest")
KERNEL_CACHE_FORMAT = "2"  # what a kernel directory in the cache holds


@dataclass
class Kernel:
    release: str
    vmlinuz: Path
    tree: Path                  # holds lib/modules/<release>/...
    modules: list[str]          # paths under lib/modules/, in load order
    late_modules: list[str]     # loaded in the background, after `modules`


def cached_kernel(deb: Deb, path: Path, tools: dict[str, str], cache: Path) -> Kernel:
    """Debian's kernel and the modules the guest loads, kept in the cache."""
    digest = hashlib.sha256(" ".join([KERNEL_CACHE_FORMAT, *BOOT_MODULES, "|", *LATE_MODULES])
                            .encode())
    keep = cache / "kernel" / f"{deb.filename[:-4]}-{digest.hexdigest()[:12]}"
    if not (keep / "release").exists():
        with tempfile.TemporaryDirectory(dir=cache, prefix="kernel-") as tmp:
            full = Path(tmp) / "full"
            log.info("extracting %s", path.name)
            run_step([tools["dpkg-deb"], "-x", str(path), str(full)], f"dpkg-deb -x {path.name}")
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


def build_rootfs(trees: dict[str, Path], kernel: Kernel) -> dict[str, Entry]:
    root = Tree()
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "usr/lib64", MULTIARCH, "usr/lib/labs",
              "etc/labs", "etc/dropbear", "proc", "sys", "dev", "run", "mnt", "boot",
              "var/lib/labs", "var/log", "home", "etc/pam.d", "etc/sudoers.d"):
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
    applets = run_step([str(busybox), "--list-full"], "busybox --list-full").split()
    for applet in applets:
        if "/" in applet and applet not in root.entries:
            root.symlink(applet, "/bin/busybox")

    libdirs = [t / sub for t in trees.values() for sub in LIBRARY_DIRS]
    wanted = ["ld-linux-x86-64.so.2"]
    for program, mode in PROGRAMS.items():
        # Debian 12 still ships some files under /lib (the PAM modules): usr/ merged.
        source = next((t / rel for t in trees.values()
                       for rel in (program, program.removeprefix("usr/"))
                       if (t / rel).exists()), None)
        if source is None:
            raise ImageBuildError(f"no package provides {program}")
        data = source.read_bytes()
        root.file(program, data, mode)
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
    root.text("usr/lib/labs/access", guest("access"), 0o755)
    root.text("usr/lib/labs/access.awk", guest("access.awk"))
    root.text("etc/sudoers", guest("sudoers"), 0o440)
    root.text("etc/pam.d/sudo", guest("pam-sudo"))
    root.text("etc/pam.d/other", guest("pam-other"))
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
