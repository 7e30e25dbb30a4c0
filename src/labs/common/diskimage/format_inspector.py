"""What an image's bytes are, and whether qemu may safely open them.

Learnt from Glance's format inspector (glance/common/format_inspector.py, the fix of
OSSA-2024-001): the format is read from the bytes, never trusted from the image's
`disk_format`, and images that make qemu open other files are refused: a qcow2 with a
backing file or an external data file (or incompatible features this code does not
know), a VMDK whose descriptor names extents in other files, VHD, VHDX and VDI disks
with a parent. Each format is recognised by its own header; none at all is raw.

It reads a stream (`feed` chunks as an upload arrives, then `result`) or a file
(`inspect_file`), keeping only the first HEAD_BYTES and the last 512 bytes: memory is
bounded whatever the image's size. Structures that lie further in (a VHDX metadata
region placed past HEAD_BYTES) cannot be checked, and such images are refused.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

HEAD_BYTES = 4 << 20
TAIL_BYTES = 512
#: Formats recognised from their bytes ("raw" is what has no header of another).
FORMATS = ("raw", "qcow2", "vmdk", "vhd", "vhdx", "vdi", "iso")

QCOW2_MAGIC = b"QFI\xfb"
#: qcow2 incompatible feature bits: dirty, corrupt, external data file, compression
#: type, extended L2 entries.
QCOW2_DATA_FILE = 1 << 2
QCOW2_KNOWN_INCOMPATIBLE = 0b11111
VMDK_MAGIC = b"KDMV"
VMDK_TEXT = b"# Disk DescriptorFile"
#: VMDK kinds whose extents live in the file itself (Glance's vmdk_allowed_types).
VMDK_ALLOWED_TYPES = ("monolithicSparse", "streamOptimized")
VMDK_MAX_DESCRIPTOR = 1 << 20
VHDX_MAGIC = b"vhdxfile"
VHDX_REGION_TABLE = 192 << 10
VDI_SIGNATURE = 0xBEDA107F
ISO_OFFSETS = (0x8001, 0x8801, 0x9001)

_VHDX_METADATA = bytes.fromhex("06A27C8B90479A4BB8FE575F050F886E")  # 8B7CA206-4790-...
_VHDX_FILE_PARAMETERS = bytes.fromhex("3767A1CA36FA434DB3B633F0AA44E76B")
_VHDX_DISK_SIZE = bytes.fromhex("2442A52F1BCD7648B2115DBED83BF4B8")
_VHDX_PARENT_LOCATOR = bytes.fromhex("2DF5D3A80BB34D45ABF7D3D84834AB0C")
_VMDK_EXTENT = re.compile(rb'^\s*(RW|RDONLY|NOACCESS)\s+(\d+)\s+(\w+)', re.MULTILINE)
_VMDK_CREATE_TYPE = re.compile(rb'^\s*createType\s*=\s*"([^"]*)"', re.MULTILINE)


Buffer = bytes | bytearray


class ImageFormatError(ValueError):
    """The bytes are not a safe image of the expected format."""


@dataclass(frozen=True)
class Inspection:
    """What the bytes are: their format, the size a guest would see (None: unknown),
    and why qemu must not open them (empty: safe)."""

    format: str
    virtual_size: int | None
    size: int
    problems: tuple[str, ...] = field(default=())

    def check(self, declared: str | None = None, max_virtual_size: int | None = None) -> None:
        """ImageFormatError unless the image is safe, matches the `declared` disk format
        (none declared: raw) and is no larger than `max_virtual_size` for a guest."""
        if self.problems:
            raise ImageFormatError(f"Image is {self.format} with {'; '.join(self.problems)}: "
                                   "refused, as it could make the hypervisor read other "
                                   "files.")
        if self.format not in _MATCHES.get(declared or "raw", ("raw",)):
            raise ImageFormatError(
                f"Image data is {self.format}, not the {declared} its disk_format says."
                if declared else f"Image data is {self.format}: set the image's disk_format "
                "to say so.")
        if max_virtual_size is not None and (self.virtual_size or 0) > max_virtual_size:
            raise ImageFormatError(f"Image virtual size {self.virtual_size} exceeds the "
                                   f"{max_virtual_size} bytes allowed.")


#: Detected formats each declared disk_format accepts. Raw-like formats (raw, ami, aki,
#: ari, ploop) take bytes of no known format; raw takes an ISO too (read as raw, it is
#: harmless).
_MATCHES = {"qcow2": ("qcow2",), "vmdk": ("vmdk",), "vhd": ("vhd",), "vhdx": ("vhdx",),
            "vdi": ("vdi",), "iso": ("iso",), "raw": ("raw", "iso")}


class FormatInspector:
    """Fed an image's bytes in order, says what they are; see the module docstring."""

    def __init__(self) -> None:
        self._head = bytearray()
        self._tail = b""
        self.size = 0

    def feed(self, chunk: bytes) -> None:
        if len(self._head) < HEAD_BYTES:
            self._head += chunk[:HEAD_BYTES - len(self._head)]
        if len(chunk) >= TAIL_BYTES:
            self._tail = chunk[-TAIL_BYTES:]
        else:
            self._tail = (self._tail + chunk)[-TAIL_BYTES:]
        self.size += len(chunk)

    def result(self) -> Inspection:
        return inspect(self._head, self._tail, self.size)  # read in place: no copy


def inspect_file(path: Path) -> Inspection:
    """Inspect a file, reading only its head and tail."""
    with open(path, "rb") as handle:
        size = handle.seek(0, 2)
        handle.seek(0)
        head = handle.read(HEAD_BYTES)
        handle.seek(max(size - TAIL_BYTES, 0))
        tail = handle.read(TAIL_BYTES)
    return inspect(head, tail, size)


def inspect(head: Buffer, tail: bytes, size: int) -> Inspection:
    """What the image is, from its first bytes (`head`), its last TAIL_BYTES and its
    size. More than one format matching is refused as qemu's probing could pick either."""
    found = [(name, parse(head, tail, size)) for name, matches, parse in _PARSERS
             if matches(head, tail)]
    if not found:
        return Inspection("raw", size, size)
    if len(found) > 1:
        names = ", ".join(name for name, _ in found)
        return Inspection(found[0][0], None, size, (f"headers of several formats ({names})",))
    name, (virtual, problems) = found[0]
    return Inspection(name, virtual, size, tuple(problems))


_Parsed = tuple[int | None, list[str]]


def _u32be(data: Buffer, at: int) -> int:
    return int(struct.unpack_from(">I", data, at)[0])


def _u64be(data: Buffer, at: int) -> int:
    return int(struct.unpack_from(">Q", data, at)[0])


def _u16le(data: Buffer, at: int) -> int:
    return int(struct.unpack_from("<H", data, at)[0])


def _u32le(data: Buffer, at: int) -> int:
    return int(struct.unpack_from("<I", data, at)[0])


def _u64le(data: Buffer, at: int) -> int:
    return int(struct.unpack_from("<Q", data, at)[0])


def _qcow2(head: Buffer, _tail: bytes, _size: int) -> _Parsed:
    if len(head) < 72:
        return None, ["a truncated header"]
    version = _u32be(head, 4)
    problems = []
    if version not in (2, 3):
        problems.append(f"unknown version {version}")
    if _u64be(head, 8) != 0:
        problems.append("a backing file")
    if version == 3:
        if len(head) < 80:
            return None, ["a truncated header"]
        incompatible = _u64be(head, 72)
        if incompatible & QCOW2_DATA_FILE:
            problems.append("an external data file")
        if incompatible & ~QCOW2_KNOWN_INCOMPATIBLE:
            problems.append(f"unknown incompatible features {incompatible:#x}")
    return _u64be(head, 24), problems


def _vmdk(head: Buffer, _tail: bytes, _size: int) -> _Parsed:
    if head.startswith(VMDK_TEXT):
        return None, ["a descriptor of its own naming other files"]
    if len(head) < 44:
        return None, ["a truncated header"]
    capacity, offset, length = (_u64le(head, at) for at in (12, 28, 36))
    start, end = offset * 512, (offset + length) * 512
    if not offset or not length or length * 512 > VMDK_MAX_DESCRIPTOR or end > len(head):
        return capacity * 512, ["no embedded descriptor that can be checked"]
    text = head[start:end].split(b"\0", 1)[0]
    kind = _VMDK_CREATE_TYPE.search(text)
    problems = []
    if kind is None or kind.group(1).decode(errors="replace") not in VMDK_ALLOWED_TYPES:
        name = "none" if kind is None else kind.group(1).decode(errors="replace")[:40]
        problems.append(f"create type {name} (only {', '.join(VMDK_ALLOWED_TYPES)})")
    extents = _VMDK_EXTENT.findall(text)
    if len(extents) != 1 or extents[0][2] != b"SPARSE":
        problems.append("extents in other files")
    return capacity * 512, problems


def _vhd_footer(head: Buffer, tail: bytes) -> Buffer:
    return tail if tail.startswith(b"conectix") else head


def _vhd(head: Buffer, tail: bytes, _size: int) -> _Parsed:
    footer = _vhd_footer(head, tail)
    if len(footer) < 64:
        return None, ["a truncated footer"]
    disk_type = _u32be(footer, 60)
    return _u64be(footer, 48), ["a parent disk"] if disk_type == 4 else []


def _vhdx(head: Buffer, _tail: bytes, _size: int) -> _Parsed:
    table = head[VHDX_REGION_TABLE:VHDX_REGION_TABLE + (64 << 10)]
    if not table.startswith(b"regi"):
        return None, ["no region table that can be checked"]
    metadata = None
    for i in range(min(_u32le(table, 8), 2047)):
        entry = table[16 + 32 * i:48 + 32 * i]
        if entry[:16] == _VHDX_METADATA:
            metadata = _u64le(entry, 16)
    if metadata is None or head[metadata:metadata + 8] != b"metadata":
        return None, ["a metadata region past what is checked"]
    size, problems = None, []
    for i in range(min(_u16le(head, metadata + 10), 2047)):
        entry = head[metadata + 32 + 32 * i:metadata + 64 + 32 * i]
        item, at = entry[:16], metadata + _u32le(entry, 16)
        if item == _VHDX_DISK_SIZE and at + 8 <= len(head):
            size = _u64le(head, at)
        elif item == _VHDX_FILE_PARAMETERS and at + 8 <= len(head):
            if _u32le(head, at + 4) & 2:
                problems.append("a parent disk")
        elif item == _VHDX_PARENT_LOCATOR:
            problems.append("a parent locator")
    if size is None:
        problems.append("no virtual size")
    return size, problems


def _vdi(head: Buffer, _tail: bytes, _size: int) -> _Parsed:
    if len(head) < 0x178:
        return None, ["a truncated header"]
    kind = _u32le(head, 0x4C)
    # 1 dynamic, 2 fixed; 3 (undo) and 4 (differencing) have a parent
    return _u64le(head, 0x170), [] if kind in (1, 2) else [f"image type {kind}"]


def _iso(head: Buffer, _tail: bytes, _size: int) -> _Parsed:
    if len(head) < 0x8000 + 130 or head[0x8000] != 1:
        return None, []
    return _u32le(head, 0x8000 + 80) * _u16le(head, 0x8000 + 128), []


_PARSERS = (
    ("qcow2", lambda head, _tail: head.startswith(QCOW2_MAGIC), _qcow2),
    ("vmdk", lambda head, _tail: head.startswith((VMDK_MAGIC, VMDK_TEXT)), _vmdk),
    ("vhd", lambda head, tail: b"conectix" in (head[:8], tail[:8]), _vhd),
    ("vhdx", lambda head, _tail: head.startswith(VHDX_MAGIC), _vhdx),
    ("vdi", lambda head, _tail: len(head) >= 0x44 and _u32le(head, 0x40) == VDI_SIGNATURE,
     _vdi),
    ("iso", lambda head, _tail: any(head[at:at + 5] == b"CD001" for at in ISO_OFFSETS),
     _iso),
)
