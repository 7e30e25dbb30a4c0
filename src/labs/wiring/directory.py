"""The accounts' directory of a Labs process (``labs up``, ``labs serve identity``): a
private slapd in ``<data-dir>/directory``, an existing directory (``[directory] url``), or
none, the accounts then staying in SQL (see `choose`).

`start_directory` starts the private slapd and logs where the directory answers;
`directory_address` tells any process of the site (uvicorn's workers too) where it
answers, starting nothing; `directory_status` is what ``labs status`` says of it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from labs.common.config import ConfigError
from labs.common.runner import Site
from labs.directory.config import BACKENDS, DirectoryOptions
from labs.directory.probe import probe
from labs.directory.slapd import DirectoryAddress, PrivateSlapd, slapd_installed

log = logging.getLogger("labs.directory")

PRIVATE, EXISTING, SQL = "private", "existing", "sql"
INSTALL = "apt-get install slapd ldap-utils, or ./run up"


def choose(options: DirectoryOptions) -> str:
    """PRIVATE, EXISTING or SQL, as ``[directory]`` says on this host."""
    if options.backend not in BACKENDS:
        raise ConfigError(f"[directory] backend = {options.backend!r}: use "
                          f"{', '.join(BACKENDS)}")
    if options.backend == "sql":
        return SQL
    if options.url:
        return EXISTING
    if slapd_installed():
        return PRIVATE
    if options.backend == "ldap":
        raise ConfigError(f"[directory] backend = ldap needs [directory] url, or slapd "
                          f"installed for a private directory ({INSTALL})")
    return SQL


def private_slapd(site: Site) -> PrivateSlapd:
    return PrivateSlapd(site.data_dir / "directory",
                        site.config.group(DirectoryOptions).base_dn)


def _read_password(path: str, option: str) -> str:
    try:
        return Path(path).expanduser().read_text().rstrip("\r\n")
    except OSError as exc:
        raise ConfigError(f"[directory] {option} = {path}: {exc.strerror}") from None


def existing_address(options: DirectoryOptions) -> DirectoryAddress:
    """The binds ``[directory]`` names for an existing directory."""
    if not options.bind_dn or not (options.bind_password or options.bind_password_file):
        raise ConfigError("[directory] url needs bind_dn, and bind_password or "
                          "bind_password_file")
    password = (_read_password(options.bind_password_file, "bind_password_file")
                if options.bind_password_file else options.bind_password)
    reader_password = password
    if options.reader_dn:
        if not options.reader_password_file:
            raise ConfigError("[directory] reader_dn needs reader_password_file")
        reader_password = _read_password(options.reader_password_file,
                                         "reader_password_file")
    return DirectoryAddress(
        url=options.url, ldapi_url=options.url if options.url.startswith("ldapi:") else "",
        base_dn=options.base_dn, admin_dn=options.bind_dn, admin_password=password,
        reader_dn=options.reader_dn or options.bind_dn, reader_password=reader_password)


def directory_address(site: Site) -> DirectoryAddress | None:
    """Where the accounts' directory answers, with its binds; None when the accounts are
    kept in SQL, or when the private slapd does not run (`start_directory` starts it)."""
    options = site.config.group(DirectoryOptions)
    kind = choose(options)
    if kind == EXISTING:
        return existing_address(options)
    if kind == PRIVATE:
        return private_slapd(site).running_address()
    return None


@dataclass
class RunningDirectory:
    """The directory of this process; `stop` ends the private slapd it started."""

    address: DirectoryAddress | None
    server: PrivateSlapd | None = None

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


def _reader_line(site: Site, address: DirectoryAddress) -> str:
    options = site.config.group(DirectoryOptions)
    if choose(options) == PRIVATE:
        where = str(private_slapd(site).reader_password_file)
    else:
        where = options.reader_password_file if options.reader_dn else (
            options.bind_password_file or "[directory] bind_password")
    return f"read-only bind {address.reader_dn}, its password in {where}"


def start_directory(site: Site) -> RunningDirectory:
    """Start the private slapd (when it is the directory), and log where the directory
    answers, or that the accounts stay in SQL. SlapdError when slapd cannot start."""
    options = site.config.group(DirectoryOptions)
    kind = choose(options)
    if kind == SQL:
        why = ("[directory] backend = sql" if options.backend == "sql"
               else f"slapd is not installed: {INSTALL}")
        log.info("directory: none, the accounts are kept in SQL (%s)", why)
        return RunningDirectory(None)
    if kind == EXISTING:
        address = existing_address(options)
        answers, words = probe(address.url, address.reader_dn, address.reader_password,
                               address.base_dn)
        log.log(logging.INFO if answers else logging.WARNING,
                "directory: %s (base %s), an existing directory; %s; %s", address.url,
                address.base_dn, _reader_line(site, address),
                "it answers" if answers else f"it does not answer: {words}")
        return RunningDirectory(address)
    server = private_slapd(site)
    address = server.start()
    log.info("directory: the private slapd answers on %s and %s (base %s); %s", address.url,
             address.ldapi_url, address.base_dn, _reader_line(site, address))
    return RunningDirectory(address, server)


def directory_status(site: Site, up: bool) -> tuple[list[str], list[str]]:
    """``labs status``'s lines on the directory, and its problems."""
    options = site.config.group(DirectoryOptions)
    try:
        kind = choose(options)
        address = directory_address(site)
    except ConfigError as exc:
        return [f"directory: {exc}"], [str(exc)]
    if kind == SQL:
        why = ("[directory] backend = sql" if options.backend == "sql"
               else f"slapd is not installed: {INSTALL}")
        return [f"directory: none, the accounts are kept in SQL ({why})"], []
    server = private_slapd(site)
    if address is None:
        return [f"directory: the private slapd of {server.data_dir} is not running "
                f"(labs up starts it)"], []
    what = (f"the private slapd (pid {server.pid()}), also on {address.ldapi_url}"
            if kind == PRIVATE else "an existing directory")
    answers, words = probe(address.url, address.reader_dn, address.reader_password,
                           address.base_dn)
    lines = [f"directory: {address.url} (base {address.base_dn}), {what}",
             f"  {_reader_line(site, address)}",
             f"  answers: {'yes, ' + words if answers else 'no: ' + words}"]
    problems = []
    if kind == PRIVATE and not up:
        problems.append(f"the private slapd of {site.data_dir} runs (pid {server.pid()}) "
                        f"without labs up: `labs down --data-dir {site.data_dir}` stops it")
    elif not answers:
        problems.append(f"the directory at {address.url} does not answer: {words}")
    return lines, problems


def stop_private_slapd(site: Site) -> int | None:
    """``labs down``: end the private slapd a stopped ``labs up`` left; its pid, if any."""
    server = private_slapd(site)
    pid = server.pid()
    if pid is not None:
        server.stop()
    return pid
