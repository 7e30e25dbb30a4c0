"""The binary formats the image builder writes and reads: a newc cpio archive (the
initramfs), the dynamic section of ELF programs (which libraries they need), the .modinfo
of kernel modules (their dependencies)."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

PT_LOAD, PT_DYNAMIC = 1, 2
DT_NEEDED, DT_STRTAB = 1, 5


@dataclass
class Entry:
    mode: int
    data: bytes = b""
    uid: int = 0
    gid: int = 0
    rdev: tuple[int, int] = (0, 0)


@dataclass
class Tree:
    """The root filesystem as cpio entries, by path (no leading slash)."""
    entries: dict[str, Entry] = field(default_factory=dict)

    def dir(self, path: str, perm: int = 0o755, owner: int = 0) -> None:
        parts = path.split("/")
        for i in range(1, len(parts)):
            self.entries.setdefault("/".join(parts[:i]), Entry(0o040755))
        self.entries[path] = Entry(0o040000 | perm, uid=owner, gid=owner)

    def file(self, path: str, data: bytes, perm: int = 0o644) -> None:
        self._parent(path)
        self.entries[path] = Entry(0o100000 | perm, data)

    def text(self, path: str, text: str, perm: int = 0o644) -> None:
        self.file(path, text.encode(), perm)

    def symlink(self, path: str, target: str) -> None:
        self._parent(path)
        self.entries[path] = Entry(0o120777, target.encode())

    def _parent(self, path: str) -> None:
        parent = path.rpartition("/")[0]
        if parent and parent not in self.entries:
            self.dir(parent)

    def node(self, path: str, perm: int, major: int, minor: int) -> None:
        self.entries[path] = Entry(0o020000 | perm, rdev=(major, minor))


def cpio_newc(entries: dict[str, Entry], mtime: int) -> bytes:
    """A newc cpio archive: sorted paths, fixed inode numbers, owners and times."""
    out = bytearray()

    def put(name: str, e: Entry, ino: int) -> None:
        fields = (ino, e.mode, e.uid, e.gid, 2 if e.mode & 0o040000 == 0o040000 else 1,
                  mtime, len(e.data), 0, 0, e.rdev[0], e.rdev[1], len(name) + 1, 0)
        out.extend(b"070701" + b"".join(b"%08X" % v for v in fields))
        out.extend(name.encode() + b"\0")
        out.extend(b"\0" * (-len(out) % 4))
        out.extend(e.data)
        out.extend(b"\0" * (-len(out) % 4))

    for ino, path in enumerate(sorted(entries), start=1):
        put(path, entries[path], ino)
    put("TRAILER!!!", Entry(0), 0)
    out.extend(b"\0" * (-len(out) % 512))
    return bytes(out)


def elf_needed(elf: bytes) -> list[str]:
    """DT_NEEDED of a 64-bit little-endian ELF file (empty when statically linked)."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2:
        raise ValueError("not a 64-bit little-endian ELF file")
    phoff, = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    loads: list[tuple[int, int, int]] = []
    dynamic: tuple[int, int] | None = None
    for i in range(phnum):
        p_type, _, p_offset, p_vaddr, _, p_filesz = struct.unpack_from(
            "<IIQQQQ", elf, phoff + i * phentsize)
        if p_type == PT_LOAD:
            loads.append((p_vaddr, p_offset, p_filesz))
        elif p_type == PT_DYNAMIC:
            dynamic = (p_offset, p_filesz)
    if dynamic is None:
        return []
    needed: list[int] = []
    strtab = 0
    for off in range(dynamic[0], dynamic[0] + dynamic[1], 16):
        tag, val = struct.unpack_from("<qQ", elf, off)
        if tag == 0:
            break
        if tag == DT_NEEDED:
            needed.append(val)
        elif tag == DT_STRTAB:
            strtab = next(o + val - v for v, o, n in loads if v <= val < v + n)
    return [elf[strtab + n:elf.index(b"\0", strtab + n)].decode() for n in needed]


def modinfo(ko: bytes) -> dict[str, str]:
    """The key=value pairs of a kernel module's .modinfo section."""
    shoff, = struct.unpack_from("<Q", ko, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", ko, 0x3A)

    def section(i: int) -> tuple[int, int, int]:
        name, _, _, _, offset, size = struct.unpack_from("<IIQQQQ", ko, shoff + i * shentsize)
        return name, offset, size

    _, names_off, _ = section(shstrndx)
    info: dict[str, str] = {}
    for i in range(shnum):
        name, offset, size = section(i)
        if ko[names_off + name:names_off + name + 9] == b".modinfo\0":
            for item in ko[offset:offset + size].split(b"\0"):
                key, sep, value = item.decode(errors="replace").partition("=")
                if sep:
                    info.setdefault(key, value)
    return info

