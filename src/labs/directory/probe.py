"""Whether a directory answers: a simple bind and a search of the base entry, made with
OpenLDAP's ``ldapsearch`` (ldap-utils), as an operator's tool would."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path


def probe(url: str, bind_dn: str, password: str, base_dn: str,
          timeout: float = 5.0) -> tuple[bool, str]:
    """(True, what was read) when `bind_dn` binds to `url` and reads `base_dn`; else
    (False, why not)."""
    ldapsearch = shutil.which("ldapsearch")
    if ldapsearch is None:
        return False, "cannot tell: ldapsearch is not installed (apt-get install ldap-utils)"
    with tempfile.TemporaryDirectory(prefix="labs-ldap-") as tmp:
        secret = Path(tmp) / "password"
        fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(password)
        command = [ldapsearch, "-x", "-LLL", "-o", "ldif_wrap=no",
                   "-o", f"nettimeout={max(int(timeout), 1)}", "-l", str(max(int(timeout), 1)),
                   "-H", url, "-D", bind_dn, "-y", str(secret), "-b", base_dn, "-s", "base",
                   "1.1"]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout + 2,
                                  check=False, env={**os.environ, "LDAPNOINIT": "1"},
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return False, f"no answer from {url} within {timeout:g} s"
    if done.returncode != 0:
        words = " ".join((done.stderr or done.stdout).split()) or f"exit {done.returncode}"
        return False, words
    return True, f"bound as {bind_dn} and read {base_dn}"
