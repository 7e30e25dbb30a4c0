"""A private OpenLDAP server: Debian's slapd, run from a directory of its own.

`PrivateSlapd(data_dir).start()` writes the configuration (see `slapd_files`), creates
the directory at its first start (the base entry, ``ou=people``, ``ou=groups``,
``ou=projects`` and a read-only ``cn=reader``), and runs slapd answering on a loopback
port and on a unix socket in `data_dir`. Its database, its port and the admin's and
the reader's passwords (files ``admin.password`` and ``reader.password``, mode 0600)
stay in `data_dir` from one start to the next. slapd runs in a session of its own, writes
its messages to ``slapd.log`` and ends with the process that started it; `stop` ends it
sooner, from this process or another.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from labs.directory.slapd_files import (
    SYSTEM_SCHEMA_DIR,
    initial_ldif,
    nis_rfc2307bis,
    slapd_conf,
    ssha,
)

#: Where Debian installs slapd's programs (not on a non-root user's PATH).
SBIN = Path("/usr/sbin")
#: unix socket paths longer than this do not fit a ``sockaddr_un``
MAX_SOCKET_PATH = 100


class SlapdError(Exception):
    """The private slapd cannot be set up or started; the message says why (slapd's own
    words when it refused to start)."""


@dataclass(frozen=True)
class DirectoryAddress:
    """Where a directory answers and the two binds Labs knows for it."""

    url: str  # ldap://127.0.0.1:<port>
    ldapi_url: str  # ldapi://<percent-encoded socket path>, "" for a directory elsewhere
    base_dn: str
    admin_dn: str  # read-write (the rootdn of a private slapd)
    admin_password: str
    reader_dn: str  # read-only bind for operators' tools
    reader_password: str


def _program(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    path = SBIN / name
    return str(path) if os.access(path, os.X_OK) else None


def slapd_installed() -> bool:
    """Whether slapd, slapadd and the Debian schemas are here (``apt-get install slapd``)."""
    return (_program("slapd") is not None and _program("slapadd") is not None
            and (SYSTEM_SCHEMA_DIR / "core.schema").is_file())


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_free(port: int) -> bool:
    """Nothing listens on `port` (connections of a slapd that stopped may linger in
    TIME_WAIT: slapd binds past them, as SO_REUSEADDR does here)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _answers(port: int, socket_path: Path) -> bool:
    """Both listeners accept connections."""
    if not socket_path.exists():
        return False
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            pass
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(1)
            s.connect(str(socket_path))
    except OSError:
        return False
    return True


def _alive(pid: int) -> bool:
    """`pid` runs (a zombie, ended but not yet reaped by its parent, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def _tied() -> list[str]:
    """What makes slapd end with the process that starts it (util-linux's setpriv sets
    its parent-death signal), so that a killed ``labs up`` or test run leaves none
    running. Only from the main thread: the signal comes when the starting thread ends."""
    setpriv = shutil.which("setpriv")
    if setpriv is None or threading.current_thread() is not threading.main_thread():
        return []
    return [setpriv, "--pdeathsig", "TERM", "--"]


class PrivateSlapd:
    """slapd serving `base_dn` from `data_dir`, started and stopped by Labs."""

    def __init__(self, data_dir: Path, base_dn: str = "dc=labs,dc=local") -> None:
        self.data_dir = Path(data_dir)
        self.base_dn = base_dn
        self.admin_dn = f"cn=admin,{base_dn}"
        self.reader_dn = f"cn=reader,{base_dn}"
        self._process: subprocess.Popen[bytes] | None = None

    # -- files of the data dir ---------------------------------------------------------

    @property
    def socket_path(self) -> Path:
        """``ldapi`` in the data dir; in a private directory of the runtime dir (named
        by the data dir) when that path is too long for a unix socket."""
        path = self.data_dir.resolve() / "ldapi"
        if len(str(path)) <= MAX_SOCKET_PATH:
            return path
        digest = hashlib.sha256(str(self.data_dir.resolve()).encode()).hexdigest()[:16]
        runtime = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir())
        return runtime / f"labs-slapd-{digest}" / "ldapi"

    @property
    def reader_password_file(self) -> Path:
        return self.data_dir / "reader.password"

    @property
    def admin_password_file(self) -> Path:
        return self.data_dir / "admin.password"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "slapd.log"

    def _secret(self, path: Path) -> str:
        """The password kept in `path`, made (0600) the first time."""
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_text().strip()
        with os.fdopen(fd, "w") as f:
            password = secrets.token_urlsafe(24)
            f.write(password)  # no newline: `ldapsearch -y` sends the file as it is
        return password

    def _state(self) -> dict[str, object]:
        path = self.data_dir / "state.json"
        state: dict[str, object] = json.loads(path.read_text()) if path.exists() else {}
        if state.get("base_dn", self.base_dn) != self.base_dn:
            raise SlapdError(f"the directory in {self.data_dir} holds {state['base_dn']}, "
                             f"not {self.base_dn}: name that base DN, or another data dir")
        return state

    def _save_state(self, port: int) -> None:
        path = self.data_dir / "state.json"
        path.write_text(json.dumps({"base_dn": self.base_dn, "port": port}) + "\n")

    def _pid(self) -> int | None:
        """The slapd of this data dir that runs, by its pid file."""
        try:
            pid = int((self.data_dir / "slapd.pid").read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return None
        ours = str(self.data_dir / "slapd.conf").encode() in cmdline
        return pid if ours and _alive(pid) else None

    def running_address(self) -> DirectoryAddress | None:
        """Where this data dir's slapd answers when it runs (started by any process)."""
        try:
            port = self._state().get("port")
        except (OSError, ValueError, SlapdError):
            return None
        if not isinstance(port, int) or self._pid() is None:
            return None
        return self.address(port)

    def pid(self) -> int | None:
        """The pid of this data dir's slapd, when it runs."""
        return self._pid()

    def address(self, port: int) -> DirectoryAddress:
        return DirectoryAddress(
            url=f"ldap://127.0.0.1:{port}",
            ldapi_url="ldapi://" + quote(str(self.socket_path), safe=""),
            base_dn=self.base_dn, admin_dn=self.admin_dn,
            admin_password=self._secret(self.admin_password_file),
            reader_dn=self.reader_dn, reader_password=self._secret(self.reader_password_file))

    # -- start and stop ----------------------------------------------------------------

    def start(self, timeout: float = 20.0) -> DirectoryAddress:
        """Start slapd (creating the directory the first time) and wait until it answers;
        a slapd of this data dir that already answers is kept."""
        if not slapd_installed():
            raise SlapdError("slapd is not installed (apt-get install slapd ldap-utils)")
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.data_dir.chmod(0o700)
        where = self.socket_path.parent
        where.mkdir(parents=True, exist_ok=True, mode=0o700)
        if where.stat().st_uid != os.getuid() or where.stat().st_mode & 0o077:
            raise SlapdError(f"{where} (for slapd's unix socket) is not this user's own "
                             "private directory")
        state = self._state()
        port = state.get("port")
        if isinstance(port, int) and self._pid() is not None:
            if _answers(port, self.socket_path):
                return self.address(port)
            self.stop()
        if not isinstance(port, int) or not _port_free(port):
            port = _free_port()
        address = self.address(port)
        self._write_config(address)
        if not (self.data_dir / "db" / ".labs-created").exists():
            self._create(address)
        self._save_state(port)
        self._run(address, port, timeout)
        return address

    def _write_config(self, address: DirectoryAddress) -> None:
        (self.data_dir / "nis-rfc2307bis.schema").write_text(nis_rfc2307bis())
        text = slapd_conf(self.data_dir, self.base_dn, self.admin_dn,
                          ssha(address.admin_password), self.reader_dn)
        path = self.data_dir / "slapd.conf"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)

    def _create(self, address: DirectoryAddress) -> None:
        """Load the first entries into a new database (a half-made one is started over)."""
        db = self.data_dir / "db"
        shutil.rmtree(db, ignore_errors=True)
        db.mkdir(mode=0o700)
        ldif = self.data_dir / "initial.ldif"
        try:
            ldif.write_text(initial_ldif(self.base_dn, self.reader_dn,
                                         ssha(address.reader_password)))
        except ValueError as exc:
            raise SlapdError(str(exc)) from None
        slapadd = _program("slapadd") or "slapadd"
        try:
            done = subprocess.run([slapadd, "-q", "-f", str(self.data_dir / "slapd.conf"),
                                   "-l", str(ldif)], capture_output=True, text=True,
                                  timeout=60, check=False)
        except subprocess.TimeoutExpired:
            raise SlapdError("slapadd did not finish in 60 s") from None
        finally:
            ldif.unlink(missing_ok=True)
        if done.returncode != 0:
            raise SlapdError(f"slapadd could not create the directory: "
                             f"{(done.stderr or done.stdout).strip()}")
        (db / ".labs-created").touch()

    def _run(self, address: DirectoryAddress, port: int, timeout: float) -> None:
        self.socket_path.unlink(missing_ok=True)
        slapd = _program("slapd") or "slapd"
        log_start = self.log_file.stat().st_size if self.log_file.exists() else 0
        with self.log_file.open("ab") as log:
            self._process = subprocess.Popen(
                [*_tied(), slapd, "-d", "none", "-f", str(self.data_dir / "slapd.conf"),
                 "-h", f"{address.url}/ {address.ldapi_url}/"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._process = None
                raise SlapdError(f"slapd did not start: {self._log_since(log_start)}")
            if _answers(port, self.socket_path):
                return
            time.sleep(0.05)
        self.stop()
        raise SlapdError(f"slapd did not answer on {address.url} within {timeout:g} s: "
                         f"{self._log_since(log_start)}")

    def _log_since(self, offset: int) -> str:
        """What slapd wrote since `offset`, less its banner."""
        with contextlib.suppress(OSError), self.log_file.open("rb") as f:
            f.seek(offset)
            lines = f.read().decode(errors="replace").splitlines()[-20:]
            words = [line.split(" ", 2)[-1] for line in lines
                     if "@(#)" not in line and not line.startswith("\t")]
            return "; ".join(w for w in words if w) or "(no message)"
        return "(no message)"

    def stop(self, timeout: float = 10.0) -> None:
        """End this data dir's slapd (SIGTERM, then SIGKILL past `timeout`); nothing when
        none runs."""
        process, self._process = self._process, None
        pid = process.pid if process is not None else self._pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        if process is not None:
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
            return
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
