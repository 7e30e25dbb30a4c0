"""The qemu driver's console log: bounded on disk, and read from its end."""

from __future__ import annotations

from pathlib import Path

from labs.compute.virt import qemu_console as console


def read_bytes_so_far() -> int:
    """Bytes this process has read through read(2) and friends (Linux)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


def test_the_log_rotates_once_and_stays_under_its_cap(tmp_path: Path) -> None:
    cap = 4096
    for number in range(2000):
        console.append(tmp_path, f"line {number}\n".encode(), cap)
    assert (tmp_path / console.LOG).stat().st_size <= cap
    assert (tmp_path / console.PREVIOUS).stat().st_size <= cap
    assert sorted(p.name for p in tmp_path.iterdir()) == [console.LOG, console.PREVIOUS]
    shown = console.tail(tmp_path, None).splitlines()
    assert shown[-1] == "line 1999"
    numbers = [int(line.split()[1]) for line in shown]
    assert numbers == list(range(numbers[0], 2000))  # the two files read as one
    console.append(tmp_path, b"x" * (3 * cap), cap)  # more than the cap at once
    assert (tmp_path / console.LOG).stat().st_size == cap


def test_tail_reads_only_the_end_of_a_large_log(tmp_path: Path) -> None:
    line = b"%08d " + b"." * 90 + b"\n"
    with (tmp_path / console.PREVIOUS).open("wb") as out:
        out.writelines(line % n for n in range(200_000))  # about 20 MB
    with (tmp_path / console.LOG).open("wb") as out:
        out.writelines(line % n for n in range(200_000, 400_000))
        out.write(b"still being writ")
    before = read_bytes_so_far()
    shown = console.tail(tmp_path, 5)
    read = read_bytes_so_far() - before
    assert shown.splitlines() == [(line % n).decode().rstrip("\n")
                                  for n in range(399_995, 400_000)]
    assert read < 256 * 1024, f"read {read} bytes for 5 lines"
    # the lines asked for reach into the previous file
    across = console.tail(tmp_path, 200_003).splitlines()
    assert across[0].startswith("00199997 ") and across[-1].startswith("00399999 ")
    assert console.tail(tmp_path, 0) == ""


def test_lines_split_by_carriage_returns_and_an_empty_log(tmp_path: Path) -> None:
    assert console.tail(tmp_path, 3) == ""
    console.append(tmp_path, b"one\r\ntwo\r\nthree\r\nfou", 1 << 16)
    assert console.tail(tmp_path, 2) == "two\nthree\n"
    assert console.tail(tmp_path, None) == "one\ntwo\nthree\n"


def test_the_ring_is_a_power_of_two_within_the_cap() -> None:
    assert console.ring_size(2 << 20) == 1 << 20
    assert console.ring_size(100_000) == 65536
    assert console.ring_size(4096) == 4096
