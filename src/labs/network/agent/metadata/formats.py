"""The metadata service's answers, as Nova's metadata API gives them; no sockets here.

Two trees, both read-only:

- OpenStack: ``/openstack`` lists the versions; ``/openstack/<version>/`` lists
  ``meta_data.json``, ``user_data`` (only when there is some), ``vendor_data.json``,
  ``network_data.json`` and ``vendor_data2.json``, each from the version Nova added it.
  Dated versions give what Nova gave at that version; ``latest`` is the newest.
  Nova's ``password`` (set by the guest with a POST) is not served.
- EC2: ``/`` lists the versions; ``/<version>/`` lists ``meta-data/`` and ``user-data``;
  ``/<version>/meta-data/`` the items below. Listings are sorted, one entry a line, a
  sub-directory with a trailing ``/`` except a public key, listed as ``<index>=<name>``.
  The same tree answers under ``/ec2/``.

EC2 ids are ``i-``, ``ami-`` and ``r-`` followed by 8 hex digits. Nova numbers its EC2
ids from a database table; Labs takes the first 8 hex digits of the instance's uuid
(``i-``, and ``r-`` unless the record has a reservation id) or of the image's uuid
(``ami-``), so they are stable, need no table, and point back at the uuid.

The hostname in meta_data.json is the instance's hostname (Nova's, without a DHCP
domain); the guest derives its FQDN from ``meta.project_name`` and ``meta.dns_domain``.
The EC2 ``hostname``, ``local-hostname`` and ``public-hostname`` are the FQDN. Beyond
Nova: EC2 ``mac`` (as AWS has it), and every JSON file is served as application/json
(Nova sends network_data.json as text/plain).
"""

from __future__ import annotations

import base64
import datetime
import json
import logging
import os
import posixpath
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from labs.network.agent.metadata.source import InstanceMetadata, MetadataSource

log = logging.getLogger("labs.network.agent.metadata.server")

TEXT = "text/plain; charset=utf-8"
JSON = "application/json"
USER_DATA = "text/plain"  # as Nova: the bytes as given, no charset claimed
ALLOWED_METHODS = ("GET", "HEAD")

EC2_VERSIONS = ("1.0", "2007-01-19", "2007-03-01", "2007-08-29", "2007-10-10",
                "2007-12-15", "2008-02-01", "2008-09-01", "2009-04-04")
FOLSOM, GRIZZLY, HAVANA, LIBERTY = "2012-08-10", "2013-04-04", "2013-10-17", "2015-10-15"
NEWTON_ONE, NEWTON_TWO, OCATA, ROCKY = "2016-06-30", "2016-10-06", "2017-02-22", "2018-08-27"
VICTORIA, EPOXY = "2020-10-14", "2025-04-04"
OPENSTACK_VERSIONS = (FOLSOM, GRIZZLY, HAVANA, LIBERTY, NEWTON_ONE, NEWTON_TWO, OCATA, ROCKY,
                      VICTORIA, EPOXY)
RANDOM_SEED_BYTES = 512


@dataclass(frozen=True)
class MetadataResponse:
    """One answer: status, body and its content type (HEAD sends the headers only)."""

    status: int
    body: bytes
    content_type: str = TEXT
    headers: tuple[tuple[str, str], ...] = field(default=())


def not_found(message: str = "Not Found") -> MetadataResponse:
    return MetadataResponse(404, f"404 Not Found\n\n{message}\n".encode())


@dataclass(frozen=True)
class _Dir:
    """A directory of the EC2 tree; `label` is how its parent lists it (default
    ``<key>/``)."""

    entries: Mapping[str, _Node]
    label: str | None = None


_Node: TypeAlias = "str | bytes | tuple[str, ...] | _Dir"


def render(instance: InstanceMetadata, path: str, *, today: datetime.date | None = None,
           random_bytes: Callable[[int], bytes] = os.urandom) -> MetadataResponse:
    """The answer to a GET of `path` (no query) for `instance`; 404 for unknown paths.

    `today` hides OpenStack versions dated later from the version list (they can still
    be asked for, as in Nova); `random_bytes` fills meta_data.json's ``random_seed``.
    """
    tokens = [t for t in posixpath.normpath("/" + path).split("/") if t]
    if tokens and tokens[0] == "openstack":
        day = (today or datetime.datetime.now(datetime.UTC).date()).isoformat()
        return _openstack(instance, tokens[1:], day, random_bytes)
    if tokens and tokens[0] == "ec2":
        tokens = tokens[1:]
    if not tokens:
        return _text("\n".join((*EC2_VERSIONS, "latest")))
    version = EC2_VERSIONS[-1] if tokens[0] == "latest" else tokens[0]
    if version not in EC2_VERSIONS:
        return not_found()
    node: _Node = _ec2_tree(instance, version)
    for token in tokens[1:]:
        if not isinstance(node, _Dir) or token not in node.entries:
            return not_found()
        node = node.entries[token]
    if isinstance(node, _Dir):
        return _text("\n".join(
            (child.label or f"{key}/") if isinstance(child, _Dir) else key
            for key, child in sorted(node.entries.items())))
    if isinstance(node, tuple):
        return _text("\n".join(node))
    if isinstance(node, bytes):
        return MetadataResponse(200, node, USER_DATA)
    return _text(node)


#: Answers a path outside Nova's trees for the instance found (None: not its path).
Extra: TypeAlias = Callable[[InstanceMetadata, str], "MetadataResponse | None"]


def answer(source: MetadataSource, network_id: str, caller_ip: str, method: str,
           target: str, extra: Extra | None = None) -> MetadataResponse:
    """The answer to `method` `target` from `caller_ip` on `network_id`: 405 for methods
    other than GET and HEAD, 404 when no instance on that network has the caller's
    address (never another instance's data), 500 when the source fails. HEAD gets the
    GET answer; the server leaves out its body. `extra` may answer paths of its own
    (the /labs tree) for the instance found."""
    if method not in ALLOWED_METHODS:
        return MetadataResponse(405, b"405 Method Not Allowed\n\nUse GET.\n",
                                headers=(("Allow", ", ".join(ALLOWED_METHODS)),))
    path = request_path(target)
    if path is None:
        return MetadataResponse(400, b"400 Bad Request\n\nBad request target.\n")
    try:
        instance = source.instance_for(network_id, caller_ip)
    except Exception:
        log.exception("looking up the instance at %s on network %s failed", caller_ip,
                      network_id)
        return MetadataResponse(500, b"500 Internal Server Error\n\nThe instance could "
                                b"not be looked up; try again.\n")
    if instance is None or (instance.network_id, instance.fixed_ip) != (network_id,
                                                                        caller_ip):
        return not_found(f"No instance on this network has the address {caller_ip}.")
    if extra is not None and (response := extra(instance, path)) is not None:
        return response
    return render(instance, path)


def request_path(target: str) -> str | None:
    """The decoded path of a request target (origin or absolute form, query dropped);
    None when it is neither."""
    parts = urllib.parse.urlsplit(target)
    if not parts.path.startswith("/") or (parts.scheme and parts.scheme != "http"):
        return None
    return urllib.parse.unquote(parts.path)


def _text(text: str) -> MetadataResponse:
    return MetadataResponse(200, text.encode())


def _json(data: Mapping[str, Any]) -> MetadataResponse:
    return MetadataResponse(200, json.dumps(data).encode(), JSON)


def _since(required: str, version: str, versions: Sequence[str]) -> bool:
    return versions.index(version) >= versions.index(required)


# --- OpenStack ---------------------------------------------------------------------------

def _openstack(instance: InstanceMetadata, tokens: list[str], today: str,
               random_bytes: Callable[[int], bytes]) -> MetadataResponse:
    if not tokens:
        return _text("\n".join((*(v for v in OPENSTACK_VERSIONS if v <= today), "latest")))
    version = OPENSTACK_VERSIONS[-1] if tokens[0] == "latest" else tokens[0]
    if version not in OPENSTACK_VERSIONS or len(tokens) > 2:
        return not_found()
    files: dict[str, Callable[[], MetadataResponse]] = {
        "meta_data.json": lambda: _json(meta_data(instance, version, random_bytes))}
    if instance.user_data is not None:
        data = instance.user_data
        files["user_data"] = lambda: MetadataResponse(200, data, USER_DATA)
    if _since(HAVANA, version, OPENSTACK_VERSIONS):
        files["vendor_data.json"] = lambda: _json({})
    if _since(LIBERTY, version, OPENSTACK_VERSIONS):
        files["network_data.json"] = lambda: _json(network_data(instance))
    if _since(NEWTON_TWO, version, OPENSTACK_VERSIONS):
        files["vendor_data2.json"] = lambda: _json({"static": {}})
    if len(tokens) == 1:
        return _text("\n".join(files))
    make = files.get(tokens[1])
    return make() if make is not None else not_found()


def meta_data(instance: InstanceMetadata, version: str = OPENSTACK_VERSIONS[-1],
              random_bytes: Callable[[int], bytes] = os.urandom) -> dict[str, Any]:
    """meta_data.json of an OpenStack version, with the fields Nova gives at that version
    (no devices are tagged and no CPUs dedicated in Labs, so those lists are empty)."""
    meta = dict(instance.metadata)
    if instance.project_name:
        meta["project_name"] = instance.project_name
    if instance.dns_domain:
        meta["dns_domain"] = instance.dns_domain
    data: dict[str, Any] = {"uuid": instance.uuid}
    if meta:
        data["meta"] = meta
    if instance.public_keys:
        data["public_keys"] = dict(instance.public_keys)
        data["keys"] = [{"name": name, "type": "ssh", "data": key}
                        for name, key in instance.public_keys.items()]
    data.update(hostname=instance.hostname, name=instance.name,
                launch_index=instance.launch_index,
                availability_zone=instance.availability_zone)
    if _since(GRIZZLY, version, OPENSTACK_VERSIONS):
        data["random_seed"] = base64.b64encode(random_bytes(RANDOM_SEED_BYTES)).decode()
    if _since(LIBERTY, version, OPENSTACK_VERSIONS):
        data["project_id"] = instance.project_id
    if _since(NEWTON_ONE, version, OPENSTACK_VERSIONS):
        data["devices"] = []
    if _since(VICTORIA, version, OPENSTACK_VERSIONS):
        data["dedicated_cpus"] = []
    return data


def network_data(instance: InstanceMetadata) -> dict[str, Any]:
    """network_data.json: the port as a physical link with a static IPv4 network on it,
    its default route via the gateway, and the DNS servers."""
    # Nova names the link after the port's tap device: "tap" and 11 characters of its id.
    link_id = f"tap{instance.port_id[:11]}" if instance.port_id else "interface0"
    dns = [{"type": "dns", "address": a} for a in instance.dns_servers or (instance.gateway,)]
    return {
        "links": [{"id": link_id, "vif_id": instance.port_id or None, "type": "phy",
                   "mtu": instance.mtu, "ethernet_mac_address": instance.mac}],
        "networks": [{"id": "network0", "type": "ipv4", "link": link_id,
                      "ip_address": instance.fixed_ip, "netmask": instance.netmask,
                      "routes": [{"network": "0.0.0.0", "netmask": "0.0.0.0",
                                  "gateway": instance.gateway}],
                      "network_id": instance.network_id, "services": dns}],
        "services": dns,
    }


# --- EC2 ---------------------------------------------------------------------------------

def ec2_id(prefix: str, uuid: str) -> str:
    """``<prefix>-`` and the first 8 hex digits of a uuid (see the module docstring)."""
    return f"{prefix}-{uuid.replace('-', '')[:8].lower()}"


def _ec2_tree(instance: InstanceMetadata, version: str) -> _Dir:
    def since(required: str) -> bool:
        return _since(required, version, EC2_VERSIONS)

    fqdn = instance.fqdn
    meta: dict[str, _Node] = {
        "ami-id": ec2_id("ami", instance.image_id) if instance.image_id else "ami-00000000",
        "ami-launch-index": str(instance.launch_index),
        "ami-manifest-path": "FIXME",  # what Nova answers
        "instance-id": ec2_id("i", instance.uuid),
        "hostname": fqdn,
        "local-ipv4": instance.fixed_ip,
        "mac": instance.mac,  # not in Nova's tree; AWS has it and cloud-init reads it
        "reservation-id": instance.reservation_id or ec2_id("r", instance.uuid),
        "security-groups": instance.security_groups,
    }
    if instance.public_keys:
        meta["public-keys"] = _Dir({
            str(index): _Dir({"openssh-key": key}, label=f"{index}={name}")
            for index, (name, key) in enumerate(instance.public_keys.items())})
    if since("2007-01-19"):
        meta.update({"local-hostname": fqdn, "public-hostname": fqdn,
                     "public-ipv4": instance.floating_ip or ""})
    if since("2007-08-29"):
        meta["instance-type"] = instance.flavor_name
    if since("2007-12-15"):
        root = instance.root_device_name
        meta["block-device-mapping"] = _Dir({"ami": root.removeprefix("/dev/"), "root": root})
    if since("2008-02-01"):
        meta["placement"] = _Dir({"availability-zone": instance.availability_zone})
    if since("2008-09-01"):
        meta["instance-action"] = "none"
    top: dict[str, _Node] = {"meta-data": _Dir(meta)}
    if instance.user_data is not None:
        top["user-data"] = instance.user_data
    return _Dir(top)
