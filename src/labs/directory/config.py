"""Directory options (section ``[directory]`` of labs.conf, or ``LABS_DIRECTORY_*``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from labs.common.config import option

BACKENDS = ("auto", "ldap", "sql")


@dataclass(frozen=True)
class DirectoryOptions:
    section: ClassVar[str] = "directory"
    backend: str = option("auto", "where the accounts live: ldap (the directory of `url`, "
                          "or a private slapd in the data dir), sql (the database), or "
                          "auto (ldap when `url` is set or slapd is installed, else sql)")
    url: str = option("", "LDAP URL of an existing directory (ldap://, ldaps:// or "
                      "ldapi://); empty: Labs runs a private slapd in <data-dir>/directory")
    base_dn: str = option("dc=labs,dc=local", "the base DN (people under ou=people, groups "
                          "under ou=groups, projects under ou=projects)")
    bind_dn: str = option("", "an existing directory: the DN Labs binds as to read and "
                          "write the accounts")
    bind_password: str = option("", "an existing directory: bind_dn's password")
    bind_password_file: str = option("", "an existing directory: a file holding bind_dn's "
                                     "password (instead of bind_password)")
    reader_dn: str = option("", "an existing directory: a read-only bind for operators' "
                            "tools (empty: bind_dn)")
    reader_password_file: str = option("", "an existing directory: a file holding "
                                       "reader_dn's password")
