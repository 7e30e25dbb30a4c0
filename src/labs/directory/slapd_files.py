"""What a private slapd is made of on disk: its configuration (`slapd_conf`), the
entries of a new directory (`initial_ldif`), and the password hashes slapd checks.

The configuration is a ``slapd.conf`` written afresh at every start from the code, not a
``cn=config`` tree kept in the data dir: nothing in it is state (the state is the mdb
database and the two passwords), so a Labs upgrade that changes an index, an ACL or a
schema applies at the next start, with no migration of a config database and no
``ldapmodify`` of ``cn=config`` by hand. Operators change Labs' options, not slapd's.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from pathlib import Path

#: The Debian schemas every directory loads, from ``/etc/ldap/schema``.
SYSTEM_SCHEMA_DIR = Path("/etc/ldap/schema")
SYSTEM_SCHEMAS = ("core", "cosine", "inetorgperson")
#: nis (RFC 2307) is loaded as rfc2307bis has it: ``posixGroup`` AUXILIARY, so that a
#: project's group is one entry that is both a ``groupOfNames`` (``member`` DNs) and a
#: ``posixGroup`` (``gidNumber``, ``memberUid``), as LABS.md and Wikimedia's directory
#: have it. RFC 2307's nis.schema makes posixGroup STRUCTURAL, and two unrelated
#: structural classes cannot share an entry in OpenLDAP. Only that class changes (its
#: OID, name, attributes and every other definition are Debian's file, read at each
#: start); its ``cn`` is then groupOfNames'.
NIS_SCHEMA = "nis"
_POSIX_GROUP_STRUCTURAL = """NAME 'posixGroup'
	DESC 'Abstraction of a group of accounts'
	SUP top STRUCTURAL
	MUST ( cn $ gidNumber )"""
_POSIX_GROUP_AUXILIARY = """NAME 'posixGroup'
	DESC 'Abstraction of a group of accounts'
	SUP top AUXILIARY
	MUST gidNumber"""
#: Labs' own schemas: every ``*.schema`` here, in the order of their names (openssh-lpk,
#: sudo, and any later one that builds on them).
SCHEMA_DIR = Path(__file__).parent / "schema"
#: Where Debian keeps slapd's loadable backends (``back_mdb`` is one).
MODULE_DIR = Path("/usr/lib/ldap")
#: The organizational units of a new directory (see LABS.md "Accounts").
UNITS = ("people", "groups", "projects")
#: bcrypt cost of the hashes slapd makes itself (the password modify operation); the same
#: as ``[identity] password_hash_rounds``'s default.
BCRYPT_ROUNDS = 12


def schema_files(data_dir: Path) -> list[Path]:
    return ([SYSTEM_SCHEMA_DIR / f"{name}.schema" for name in SYSTEM_SCHEMAS]
            + [data_dir / "nis-rfc2307bis.schema"] + sorted(SCHEMA_DIR.glob("*.schema")))


def nis_rfc2307bis() -> str:
    """Debian's nis.schema with posixGroup AUXILIARY (see ``NIS_SCHEMA``)."""
    text = (SYSTEM_SCHEMA_DIR / f"{NIS_SCHEMA}.schema").read_text()
    if _POSIX_GROUP_STRUCTURAL not in text:
        raise ValueError(f"{SYSTEM_SCHEMA_DIR}/nis.schema: posixGroup is not as RFC 2307 "
                         "defines it; cannot make it auxiliary")
    return ("# Written by Labs at every start: Debian's nis.schema, posixGroup AUXILIARY "
            "as in rfc2307bis.\n" + text.replace(_POSIX_GROUP_STRUCTURAL,
                                                   _POSIX_GROUP_AUXILIARY))


def ssha(password: str) -> str:
    """``{SSHA}`` hash of `password`: what slapd checks a bind to the rootdn or the reader
    against (kept out of the configuration in clear)."""
    salt = secrets.token_bytes(8)
    digest = hashlib.sha1(password.encode() + salt, usedforsecurity=False).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def _quoted(value: str) -> str:
    if any(c in value for c in '"\\\n'):
        raise ValueError(f"cannot write {value!r} into slapd.conf")
    return f'"{value}"'


def slapd_conf(data_dir: Path, base_dn: str, admin_dn: str, admin_hash: str,
               reader_dn: str) -> str:
    """The whole configuration of the private slapd in `data_dir`."""
    lines = ["# Written by Labs at every start of this directory: changes here are lost.", ""]
    lines += [f"include {_quoted(str(path))}" for path in schema_files(data_dir)]
    lines += ["", f"pidfile {_quoted(str(data_dir / 'slapd.pid'))}",
              f"argsfile {_quoted(str(data_dir / 'slapd.args'))}"]
    if (MODULE_DIR / "back_mdb.la").exists() or (MODULE_DIR / "back_mdb.so").exists():
        lines += [f"modulepath {_quoted(str(MODULE_DIR))}", "moduleload back_mdb"]
    lines += [
        # simple binds check {CRYPT}$2b$... hashes with crypt(3), and the hashes slapd
        # makes (password modify) are bcrypt too
        "password-hash {CRYPT}",
        f'password-crypt-salt-format "$2b${BCRYPT_ROUNDS:02d}$%.22s"',
        "sizelimit 500", "timelimit 60",
        # the local owner of the data dir binds over ldapi with SASL EXTERNAL as the admin
        "authz-regexp",
        f'  "^gidNumber=[0-9]+.uidNumber={os.getuid()},cn=peercred,cn=external,cn=auth$"',
        f"  {_quoted(admin_dn)}",
        "", "database mdb", f"suffix {_quoted(base_dn)}", f"rootdn {_quoted(admin_dn)}",
        f"rootpw {admin_hash}", f"directory {_quoted(str(data_dir / 'db'))}",
        "maxsize 4294967296",
        "index objectClass eq", "index uid,cn,mail eq,sub", "index uidNumber,gidNumber eq",
        "index memberUid,member,uniqueMember eq", "index sudoUser,sudoHost eq",
        "index entryUUID eq", "index labsId,labsDomainId eq",  # labs.schema: identity ids
        # the admin and the reader page through every entry; others get 500 at most
        f"limits dn.exact={_quoted(admin_dn)} size=unlimited time=unlimited",
        f"limits dn.exact={_quoted(reader_dn)} size=unlimited time=unlimited",
        "", *_access(reader_dn), "",
    ]
    return "\n".join(lines)


def _access(reader_dn: str) -> list[str]:
    """Passwords serve only to bind (their owner may change them, the rootdn is above
    every rule); the reader reads everything else; anonymous clients only bind."""
    reader = f"dn.exact={_quoted(reader_dn)}"
    return [
        "access to attrs=userPassword",
        "  by self =wx", "  by anonymous auth", "  by * none",
        'access to dn.base=""', "  by users read", "  by * none",
        'access to dn.base="cn=Subschema"', "  by users read", "  by * none",
        "access to *", f"  by {reader} read", "  by anonymous auth", "  by * none",
    ]


def _rdn(dn: str) -> tuple[str, str]:
    first = dn.split(",", 1)[0]
    attr, sep, value = first.partition("=")
    if not sep or not value or "\\" in first or "+" in first:
        raise ValueError(f"base DN {dn!r}: expected dc=..., o=... or ou=... first")
    return attr.strip().lower(), value.strip()


def _entry(dn: str, *attrs: tuple[str, str]) -> str:
    return "\n".join([f"dn: {dn}", *(f"{a}: {v}" for a, v in attrs)]) + "\n"


def initial_ldif(base_dn: str, reader_dn: str, reader_hash: str) -> str:
    """The base entry, the organizational units and the reader's entry of a new
    directory (loaded with ``slapadd`` before its first start)."""
    attr, value = _rdn(base_dn)
    classes = {"dc": ("dcObject", "organization"), "o": ("organization",),
               "ou": ("organizationalUnit",)}.get(attr)
    if classes is None:
        raise ValueError(f"base DN {base_dn!r}: expected dc=..., o=... or ou=... first")
    base = [("objectClass", "top"), *(("objectClass", c) for c in classes), (attr, value)]
    if attr == "dc":
        base.append(("o", value))
    entries = [_entry(base_dn, *base)]
    entries += [_entry(f"ou={unit},{base_dn}", ("objectClass", "organizationalUnit"),
                       ("ou", unit)) for unit in UNITS]
    _, reader_cn = _rdn(reader_dn)
    entries.append(_entry(reader_dn, ("objectClass", "organizationalRole"),
                          ("objectClass", "simpleSecurityObject"), ("cn", reader_cn),
                          ("description", "read-only bind for operators' tools"),
                          ("userPassword", reader_hash)))
    return "\n".join(entries)
