"""/labs/v1 through the real MetadataServer: its socket in a network namespace made here,
callers connecting from the instances' fixed addresses; each gets its own project's
document and nothing else, 304 on its ETag, 4xx for what is malformed."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from labs.network.agent.metadata.access import AccessAccount, ProjectAccess, StaticAccessSource
from labs.network.agent.metadata.server import (
    InstanceMetadata,
    MetadataServer,
    StaticMetadataSource,
)

GATEWAY = "10.77.0.1"
#: argv: caller address, server address, port, method, path, headers as JSON; prints the
#: status, the headers as JSON, then the body.
CLIENT = """
import http.client, json, sys
c = http.client.HTTPConnection(sys.argv[2], int(sys.argv[3]), timeout=5,
                               source_address=(sys.argv[1], 0))
c.request(sys.argv[4], sys.argv[5], headers=json.loads(sys.argv[6]))
r = c.getresponse()
print(r.status)
print(json.dumps(dict(r.getheaders())))
sys.stdout.write(r.read().decode())
"""
RAW = """
import socket, sys
s = socket.create_connection((sys.argv[2], int(sys.argv[3])), timeout=5,
                             source_address=(sys.argv[1], 0))
s.sendall(sys.argv[4].encode("latin-1"))
print(s.recv(200).split(b"\\r\\n")[0].decode())
"""


class Namespace:
    """A network namespace holding the metadata server's address and the callers'."""

    def __init__(self, *addresses: str) -> None:
        self.name = f"labs-acc-{uuid.uuid4().hex[:8]}"
        self.addresses = (GATEWAY, *addresses)

    def __enter__(self) -> Namespace:
        subprocess.run(["ip", "netns", "add", self.name], check=True, timeout=30)
        subprocess.run(["ip", "-n", self.name, "link", "set", "lo", "up"], check=True,
                       timeout=30)
        for ip in self.addresses:
            subprocess.run(["ip", "-n", self.name, "addr", "add", f"{ip}/32", "dev", "lo"],
                           check=True, timeout=30)
        return self

    def __exit__(self, *_: object) -> None:
        subprocess.run(["ip", "netns", "del", self.name], timeout=30, check=False)

    def get(self, caller: str, port: int, path: str, method: str = "GET",
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
        """(status, headers, body) of a request from `caller` to the server."""
        done = subprocess.run(["ip", "netns", "exec", self.name, sys.executable, "-c",
                               CLIENT, caller, GATEWAY, str(port), method, path,
                               json.dumps(headers or {})],
                              capture_output=True, text=True, timeout=30, check=True)
        status, head, body = done.stdout.split("\n", 2)
        return int(status), json.loads(head), body

    def raw(self, caller: str, port: int, request: str) -> str:
        """The status line answering the bytes of `request`."""
        return subprocess.run(["ip", "netns", "exec", self.name, sys.executable, "-c",
                               RAW, caller, GATEWAY, str(port), request],
                              capture_output=True, text=True, timeout=30,
                              check=True).stdout.strip()


def need_root() -> None:
    if subprocess.run(["id", "-u"], capture_output=True, text=True, timeout=10,
                      check=True).stdout.strip() != "0":
        pytest.fail("this test makes a network namespace: run it as root")


def record(ip: str, project: str) -> InstanceMetadata:
    return InstanceMetadata(
        uuid=str(uuid.uuid4()), name="vm", hostname="vm", project_id=project,
        project_name=project, dns_domain="labs.test", network_id="net-access",
        cidr="10.77.0.0/24", gateway=GATEWAY, fixed_ip=ip, mac="fa:16:3e:00:77:05")


KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx4 alice@laptop"


@pytest.fixture
def served() -> Iterator[tuple[Namespace, int, StaticAccessSource]]:
    need_root()
    access = StaticAccessSource([
        ProjectAccess("p-demo", "demo", 50001, (AccessAccount("alice", 2001, 2001, (KEY,)),),
                      "%project-demo ALL=(ALL) NOPASSWD: ALL\n"),
        ProjectAccess("p-other", "other", 50002, (AccessAccount("carol", 2003, 2003),))])
    instances = StaticMetadataSource([record("10.77.0.5", "p-demo"),
                                      record("10.77.0.6", "p-other"),
                                      record("10.77.0.7", "p-none")])
    with Namespace("10.77.0.5", "10.77.0.6", "10.77.0.7", "10.77.0.8") as ns, \
            MetadataServer(instances, access=access, timeout=2.0) as server:
        port = 18775
        server.add_network("net-access", ns.name, GATEWAY, port)
        yield ns, port, access


def test_each_vm_gets_its_own_projects_accounts(served: tuple[Namespace, int, Any]) -> None:
    ns, port, access = served
    status, headers, body = ns.get("10.77.0.5", port, "/labs/v1/access.json")
    doc = json.loads(body)
    assert (status, doc["project"]["id"]) == (200, "p-demo")
    assert headers["ETag"] == f'"{doc["serial"]}"'
    assert [a["shell_name"] for a in doc["accounts"]] == ["alice"]
    status, _, body = ns.get("10.77.0.6", port, "/labs/v1/access.json")
    assert status == 200 and json.loads(body)["project"]["id"] == "p-other"
    assert "alice" not in body and KEY not in body
    assert ns.get("10.77.0.6", port, "/labs/v1/keys/alice")[0] == 404
    assert ns.get("10.77.0.5", port, "/labs/v1/keys/alice")[::2] == (200, KEY + "\n")
    # A project the source does not know; an address no instance has.
    assert ns.get("10.77.0.7", port, "/labs/v1/access.json")[0] == 404
    assert ns.get("10.77.0.8", port, "/labs/v1/access.json")[0] == 404

    status, headers, body = ns.get("10.77.0.5", port, "/labs/v1/access.json",
                                   headers={"If-None-Match": headers["ETag"]})
    assert (status, body) == (304, "")
    access.set(ProjectAccess("p-demo", "demo", 50001))
    status, _, body = ns.get("10.77.0.5", port, "/labs/v1/access.json",
                             headers={"If-None-Match": headers["ETag"]})
    assert status == 200 and json.loads(body)["accounts"] == []


def test_malformed_requests_are_4xx(served: tuple[Namespace, int, Any]) -> None:
    ns, port, _ = served
    for path in ("/labs/v1/keys/Alice", "/labs/v1/keys/a%3Bb", "/labs/v1/keys/a%2Fb%2Fc",
                 "/labs/v1/keys/%00"):
        assert ns.get("10.77.0.5", port, path)[0] in (400, 404), path
    assert ns.get("10.77.0.5", port, "/labs/v1/keys/a%3Bb")[0] == 400
    # Dot segments are resolved first, as for Nova's trees: ../ is the listing above.
    assert ns.get("10.77.0.5", port, "/labs/v1/keys/%2E%2E")[::2] == (200,
                                                                       "access.json\nkeys/")
    assert ns.get("10.77.0.5", port, "/labs/v1/access.json", method="POST")[0] == 405
    assert ns.get("10.77.0.5", port, "/labs/v1/access.json", method="HEAD")[0] == 200
    assert ns.raw("10.77.0.5", port, "GET labs HTTP/1.1\r\n\r\n").startswith(
        "HTTP/1.1 400")
    assert ns.raw("10.77.0.5", port, "\xff\x01 junk\r\n\r\n").startswith("HTTP/1.1 400")
    assert ns.raw("10.77.0.5", port, "GET /labs/v1/access.json HTTP/1.1\r\nIf-None-"
                  "Match: " + "x" * 9000 + "\r\n\r\n").startswith("HTTP/1.1 431")
