"""The Debian packages the image is made of: which versions (the local apt lists), their
files (one `apt-get download`, each checked against the lists' sha256), and the versions of
the build's own tools, for the manifest."""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from labs.vmimage.steps import (
    TIMEOUT_DOWNLOAD,
    TOOLS,
    ImageBuildError,
    run_step,
    sha256_of,
)

log = logging.getLogger("labs.vmimage.debian")


@dataclass(frozen=True)
class Deb:
    name: str
    version: str
    architecture: str
    sha256: str
    depends: str = ""

    @property
    def filename(self) -> str:
        return f"{self.name}_{self.version.replace(':', '%3a')}_{self.architecture}.deb"


def resolve(names: Sequence[str]) -> list[Deb]:
    """The candidate version of each package, from the local apt lists; as root, the lists
    are updated once when they know none of the packages (a fresh machine)."""
    try:
        return _resolve_once(names)
    except ImageBuildError:
        if os.geteuid() != 0:
            raise
    log.info("apt-get update (the apt lists do not know %s)", " ".join(names))
    run_step(["apt-get", "update", "-qq"], "apt-get update", timeout=TIMEOUT_DOWNLOAD)
    return _resolve_once(names)


def _resolve_once(names: Sequence[str]) -> list[Deb]:
    out = run_step(["apt-cache", "show", "--no-all-versions", *names],
                   f"apt-cache show {' '.join(names)} (is `apt-get update` done?)")
    debs: dict[str, Deb] = {}
    for stanza in out.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line and not line[0].isspace() and ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if "Package" in fields and fields["Package"] not in debs:
            debs[fields["Package"]] = Deb(fields["Package"], fields["Version"],
                                          fields["Architecture"], fields.get("SHA256", ""),
                                          fields.get("Depends", ""))
    missing = [n for n in names if n not in debs]
    if missing:
        raise ImageBuildError(f"apt-cache knows no package {', '.join(missing)} "
                              "(run apt-get update?)")
    return [debs[n] for n in names]


def fetch(debs: Sequence[Deb], debs_dir: Path, tools: dict[str, str]) -> dict[str, Path]:
    """The package files, from the cache or else with one `apt-get download`, each checked
    against the sha256 in the apt lists."""
    paths = {d.name: debs_dir / d.filename for d in debs}
    missing = [d for d in debs if not (paths[d.name].exists() and _valid(paths[d.name], d))]
    if not missing:
        return paths
    debs_dir.mkdir(parents=True, exist_ok=True)
    names = " ".join(d.name for d in missing)
    with tempfile.TemporaryDirectory(dir=debs_dir, prefix="download-") as tmp:
        os.chmod(tmp, 0o755)  # apt's sandbox user writes here when we are root
        log.info("apt-get download %s", names)
        run_step([tools["apt-get"], "download", "-q", *(f"{d.name}={d.version}" for d in missing)],
                 f"apt-get download {names}", cwd=Path(tmp), timeout=TIMEOUT_DOWNLOAD)
        for deb in missing:
            got = Path(tmp) / deb.filename
            if not got.exists():
                raise ImageBuildError(f"apt-get download {deb.name} gave no {deb.filename}")
            if not _valid(got, deb):
                raise ImageBuildError(f"apt-get download {deb.name}: the sha256 of "
                                      f"{deb.filename} is not the one in the apt lists")
            got.replace(paths[deb.name])
    return paths


def _valid(path: Path, deb: Deb) -> bool:
    return not deb.sha256 or sha256_of(path) == deb.sha256


def package_record(deb: Deb) -> dict[str, str]:
    return {"name": deb.name, "version": deb.version, "architecture": deb.architecture,
            "sha256": deb.sha256}


def tool_versions() -> dict[str, str]:
    """The Debian packages of the build tools, and the zlib that compresses the initramfs."""
    packages = sorted(set(TOOLS.values()))
    out = subprocess.run(["dpkg-query", "-W", "-f", "${Package}\t${Version}\n", *packages],
                         capture_output=True, text=True, timeout=60, check=False).stdout
    versions = dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)
    versions["zlib (python)"] = zlib.ZLIB_RUNTIME_VERSION
    return versions
