"""The format inspector on files that real tools made: what each is, and which are refused."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest

from labs.common.diskimage.format_inspector import (
    HEAD_BYTES,
    FormatInspector,
    ImageFormatError,
    Inspection,
    inspect_file,
)

MIB = 1 << 20


def qemu_img(*args: str) -> None:
    subprocess.run(["qemu-img", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Images of every format qemu-img writes, and the unsafe kinds. The external files
    they name are in the test's own directory (qemu-img creates and sizes them)."""
    where = tmp_path_factory.mktemp("formats")
    files: dict[str, Path] = {}
    for fmt in ("qcow2", "vmdk", "vhdx", "vdi", "vpc", "raw"):
        files[fmt] = where / f"disk.{fmt}"
        qemu_img("create", "-q", "-f", fmt, str(files[fmt]), "64M")
    files["data-file"] = where / "data-file.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", "-o",
             f"data_file={where / 'host-secret'},data_file_raw=on", str(files["data-file"]),
             "1M")
    files["backing"] = where / "backing.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", "-b", str(files["raw"]), "-F", "raw",
             str(files["backing"]), "64M")
    files["qcow2-v2"] = where / "v2.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", "-o", "compat=0.10", str(files["qcow2-v2"]), "1M")
    files["stream-vmdk"] = where / "stream.vmdk"
    qemu_img("create", "-q", "-f", "vmdk", "-o", "subformat=streamOptimized",
             str(files["stream-vmdk"]), "1M")
    files["flat-vmdk"] = where / "flat.vmdk"
    qemu_img("create", "-q", "-f", "vmdk", "-o", "subformat=monolithicFlat",
             str(files["flat-vmdk"]), "1M")
    files["split-vmdk"] = where / "split.vmdk"
    qemu_img("create", "-q", "-f", "vmdk", "-o", "subformat=twoGbMaxExtentSparse",
             str(files["split-vmdk"]), "1M")
    files["fixed-vhd"] = where / "fixed.vpc"
    qemu_img("create", "-q", "-f", "vpc", "-o", "subformat=fixed", str(files["fixed-vhd"]),
             "1M")
    tree = where / "tree"
    tree.mkdir()
    (tree / "hello.txt").write_text("hello\n")
    files["iso"] = where / "disk.iso"
    subprocess.run(["xorriso", "-as", "mkisofs", "-quiet", "-o", str(files["iso"]),
                    str(tree)], check=True, capture_output=True, timeout=60)
    return files


def streamed(path: Path, chunk: int) -> Inspection:
    inspector = FormatInspector()
    with open(path, "rb") as handle:
        while part := handle.read(chunk):
            inspector.feed(part)
    return inspector.result()


@pytest.mark.parametrize(("name", "fmt", "virtual"), [
    ("qcow2", "qcow2", 64 * MIB), ("qcow2-v2", "qcow2", MIB), ("vmdk", "vmdk", 64 * MIB),
    ("stream-vmdk", "vmdk", MIB), ("vhdx", "vhdx", 64 * MIB), ("vdi", "vdi", 64 * MIB),
    ("vpc", "vhd", None), ("fixed-vhd", "vhd", None), ("raw", "raw", 64 * MIB)])
def test_safe_images_are_recognised_with_their_virtual_size(
        made: dict[str, Path], name: str, fmt: str, virtual: int | None) -> None:
    found = inspect_file(made[name])
    assert (found.format, found.problems) == (fmt, ())
    if virtual is not None:
        assert found.virtual_size == virtual
    else:  # VHD sizes are rounded to a disk geometry
        assert found.virtual_size is not None and found.virtual_size >= MIB
    found.check(fmt, 65 * MIB)
    # fed in chunks of every size, as an upload arrives, the verdict is the same
    for chunk in (1, 511, 4096, MIB):
        if chunk == 1 and made[name].stat().st_size > 64 << 10:
            continue
        assert streamed(made[name], chunk) == found, (name, chunk)


def test_an_iso_is_recognised(made: dict[str, Path]) -> None:
    found = inspect_file(made["iso"])
    assert (found.format, found.problems) == ("iso", ())
    assert found.virtual_size == made["iso"].stat().st_size
    found.check("iso")
    found.check("raw")  # an ISO read as raw is harmless


@pytest.mark.parametrize(("name", "problem"), [
    ("data-file", "an external data file"), ("backing", "a backing file"),
    ("flat-vmdk", "a descriptor of its own"), ("split-vmdk", "a descriptor of its own")])
def test_images_that_name_other_files_are_refused(made: dict[str, Path], name: str,
                                                  problem: str) -> None:
    found = inspect_file(made[name])
    assert any(problem in p for p in found.problems), found
    with pytest.raises(ImageFormatError, match="refused"):
        found.check(found.format)
    with pytest.raises(ImageFormatError):
        found.check(None)


def test_a_vmdk_whose_embedded_descriptor_names_another_extent_is_refused(
        made: dict[str, Path], tmp_path: Path) -> None:
    data = bytearray(made["vmdk"].read_bytes())
    start = struct.unpack_from("<Q", data, 28)[0] * 512
    text = bytes(data[start:start + 1024]).split(b"\0", 1)[0]
    evil = text.replace(b'createType="monolithicSparse"', b'createType="monolithicFlat"') \
        .replace(b'SPARSE "disk.vmdk"', b'FLAT "/etc/passwd" 0')
    assert evil != text
    data[start:start + len(evil)] = evil
    path = tmp_path / "evil.vmdk"
    path.write_bytes(bytes(data))
    found = inspect_file(path)
    assert "create type monolithicFlat" in " ".join(found.problems)
    assert "extents in other files" in found.problems


def test_unknown_qcow2_incompatible_features_are_refused(made: dict[str, Path],
                                                         tmp_path: Path) -> None:
    data = bytearray(made["qcow2"].read_bytes())
    struct.pack_into(">Q", data, 72, 1 << 40)
    path = tmp_path / "future.qcow2"
    path.write_bytes(bytes(data))
    assert inspect_file(path).problems == ("unknown incompatible features 0x10000000000",)


def test_the_declared_format_must_match_the_bytes(made: dict[str, Path]) -> None:
    qcow2, raw = inspect_file(made["qcow2"]), inspect_file(made["raw"])
    with pytest.raises(ImageFormatError, match="is qcow2, not the raw"):
        qcow2.check("raw")
    for declared in ("ami", "aki", "ari", "ploop"):  # raw-like: no format of their own
        with pytest.raises(ImageFormatError, match=f"not the {declared}"):
            qcow2.check(declared)
        raw.check(declared)
    for declared in ("qcow2", "vmdk", "vhd", "vhdx", "vdi", "iso"):
        with pytest.raises(ImageFormatError, match=f"is raw, not the {declared}"):
            raw.check(declared)
    qcow2.check("qcow2")
    raw.check(None)
    with pytest.raises(ImageFormatError, match="set the image's disk_format"):
        qcow2.check(None)


def test_a_huge_virtual_size_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "huge.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", str(path), "64T")
    found = inspect_file(path)
    assert found.virtual_size == 64 << 40
    with pytest.raises(ImageFormatError, match="virtual size"):
        found.check("qcow2", 1 << 40)


def test_memory_is_bounded_whatever_the_size(tmp_path: Path) -> None:
    inspector = FormatInspector()
    for _ in range(10):
        inspector.feed(b"\0" * (HEAD_BYTES // 2))
    assert inspector.size == 5 * HEAD_BYTES
    assert len(inspector._head) == HEAD_BYTES
    assert inspector.result().format == "raw"


def test_headers_of_two_formats_are_refused() -> None:
    head = bytearray(b"QFI\xfb" + b"\0" * 0x9000)
    struct.pack_into(">I", head, 4, 3)
    head[0x8000:0x8006] = b"\x01CD001"
    inspector = FormatInspector()
    inspector.feed(bytes(head))
    found = inspector.result()
    assert found.problems == ("headers of several formats (qcow2, iso)",)
