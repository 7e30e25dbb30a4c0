"""A small client for QMP, the JSON control socket of a qemu process.

One session: connect to the unix socket, read the greeting, negotiate with
`qmp_capabilities`, then `execute` commands one at a time; asynchronous events that arrive
in between are skipped. Every read and write is bounded by the session's timeout, so a
hung qemu makes a call fail instead of blocking the agent.

qemu serves one QMP client at a time: callers keep sessions short.
"""

from __future__ import annotations

import array
import json
import os
import socket
from pathlib import Path
from types import TracebackType
from typing import Any

from labs.compute.virt.base import VirtError


class QmpError(VirtError):
    """A QMP session failed: the socket, the protocol, or qemu answered with an error."""


class QmpSession:
    """One open QMP connection; use it as a context manager."""

    def __init__(self, path: Path, timeout: float = 10.0) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        try:
            _connect(self._sock, self.path)
            self._file = self._sock.makefile("rwb")
            greeting = self._read()
            if "QMP" not in greeting:
                raise QmpError(f"{self.path} did not greet as QMP: {greeting!r}")
            self.execute("qmp_capabilities")
        except BaseException:
            self._sock.close()
            raise

    def execute(self, command: str, arguments: dict[str, Any] | None = None) -> Any:
        """Run one command; its "return" value, or QmpError with qemu's description."""
        request: dict[str, Any] = {"execute": command}
        if arguments:
            request["arguments"] = arguments
        try:
            self._file.write(json.dumps(request).encode() + b"\n")
            self._file.flush()
        except OSError as exc:
            raise QmpError(f"QMP {command} on {self.path}: cannot send: {exc}") from exc
        return self._answer(command)

    def _answer(self, command: str) -> Any:
        while True:
            answer = self._read()
            if "event" in answer:
                continue
            if "error" in answer:
                error = answer["error"]
                raise QmpError(f"QMP {command} on {self.path} failed: "
                               f"{error.get('class', '?')}: {error.get('desc', '')}")
            if "return" in answer:
                return answer["return"]
            raise QmpError(f"QMP {command} on {self.path}: unexpected answer {answer!r}")

    def send_fd(self, command: str, arguments: dict[str, Any], fd: int) -> Any:
        """Run one command with a file descriptor sent alongside (``getfd``)."""
        request = json.dumps({"execute": command, "arguments": arguments}).encode() + b"\n"
        try:
            self._file.flush()
            self._sock.sendmsg([request], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                            array.array("i", [fd]))])
        except OSError as exc:
            raise QmpError(f"QMP {command} on {self.path}: cannot send: {exc}") from exc
        return self._answer(command)

    def close(self) -> None:
        try:
            self._file.close()
        finally:
            self._sock.close()

    def __enter__(self) -> QmpSession:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _read(self) -> dict[str, Any]:
        try:
            line = self._file.readline()
        except TimeoutError:
            raise QmpError(f"qemu did not answer on {self.path} within "
                           f"{self.timeout:.0f} s") from None
        except OSError as exc:
            raise QmpError(f"reading {self.path} failed: {exc}") from exc
        if not line:
            raise QmpError(f"qemu closed {self.path}")
        try:
            message = json.loads(line)
        except ValueError as exc:
            raise QmpError(f"{self.path} sent bad JSON: {line[:200]!r}") from exc
        if not isinstance(message, dict):
            raise QmpError(f"{self.path} sent {message!r}, not an object")
        return message


def qmp(path: Path, command: str, arguments: dict[str, Any] | None = None,
        timeout: float = 10.0) -> Any:
    """One command in a session of its own."""
    with QmpSession(path, timeout) as session:
        return session.execute(command, arguments)


def _connect(sock: socket.socket, path: Path) -> None:
    """Connect through the socket's directory, opened as a file descriptor: a unix socket
    address holds at most 107 bytes, and instance directories can be deeper than that."""
    try:
        fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise QmpError(f"cannot open {path.parent}: {exc}") from exc
    try:
        sock.connect(f"/proc/self/fd/{fd}/{path.name}")
    except OSError as exc:
        raise QmpError(f"cannot connect to {path}: {exc}") from exc
    finally:
        os.close(fd)
