"""/labs/v1 of the metadata service without sockets: the access document of the caller's
project (and never another's), its ETag and 304, the per-account keys, the 4xx answers,
and the document's own checks."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from typing import Any

import pytest

from labs.network.agent.metadata.access import (
    AccessAccount,
    AccessSource,
    ProjectAccess,
    StaticAccessSource,
)
from labs.network.agent.metadata.access_http import access_paths
from labs.network.agent.metadata.formats import MetadataResponse, answer
from labs.network.agent.metadata.source import InstanceMetadata, StaticMetadataSource
from labs.network.specs import InvalidRequest

KEY_A = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx4 alice@laptop"
KEY_B = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQAB bob"
SUDO = "%project-bots ALL=(ALL) NOPASSWD: ALL\n"


def vm(project: str, ip: str, network: str = "net-1") -> InstanceMetadata:
    return InstanceMetadata(
        uuid=f"3f1c2a9e-5b7d-4c1e-9a0f-6d2b8e4c7a{ip.rsplit('.', 1)[1]:0>2}", name="vm",
        hostname="vm", project_id=project, project_name=project, dns_domain="labs.test",
        network_id=network, cidr="10.68.1.0/24", gateway="10.68.1.1", fixed_ip=ip,
        mac="fa:16:3e:00:01:05")


def bots(*accounts: AccessAccount, sudoers: str = SUDO) -> ProjectAccess:
    return ProjectAccess("p-bots", "bots", 50001, accounts, sudoers)


ALICE = AccessAccount("alice", 2001, 2001, (KEY_A,))
BOB = AccessAccount("bob", 2002, 2002, (KEY_B,), login_shell="/bin/sh")


@pytest.fixture
def sources() -> tuple[StaticMetadataSource, StaticAccessSource]:
    instances = StaticMetadataSource([vm("p-bots", "10.68.1.5"), vm("p-tools", "10.68.1.6"),
                                      vm("p-empty", "10.68.1.7")])
    access = StaticAccessSource([bots(ALICE, BOB),
                                 ProjectAccess("p-tools", "tools", 50002,
                                               (AccessAccount("carol", 2003, 2003),))])
    return instances, access


def get(sources: tuple[StaticMetadataSource, AccessSource | None], ip: str, path: str,
        if_none_match: str | None = None, method: str = "GET") -> MetadataResponse:
    instances, access = sources
    return answer(instances, "net-1", ip, method, path, access_paths(access, if_none_match))


def document(response: MetadataResponse) -> Any:
    assert (response.status, response.content_type) == (200, "application/json"), response
    return json.loads(response.body)


def test_the_document_is_the_callers_project(sources: Any) -> None:
    doc = document(get(sources, "10.68.1.5", "/labs/v1/access.json"))
    serial = doc.pop("serial")
    assert len(serial) == 32
    assert doc == {
        "version": 1,
        "project": {"id": "p-bots", "label": "bots",
                    "group": {"name": "project-bots", "gid": 50001}},
        "accounts": [
            {"shell_name": "alice", "uid": 2001, "gid": 2001, "home": "/home/alice",
             "login_shell": "/bin/bash", "ssh_keys": [KEY_A]},
            {"shell_name": "bob", "uid": 2002, "gid": 2002, "home": "/home/bob",
             "login_shell": "/bin/sh", "ssh_keys": [KEY_B]}],
        "sudoers": SUDO}
    tools = document(get(sources, "10.68.1.6", "/labs/v1/access.json"))
    assert tools["project"]["id"] == "p-tools"
    assert [a["shell_name"] for a in tools["accounts"]] == ["carol"]
    assert "alice" not in json.dumps(tools)


def test_no_other_projects_document_and_no_stranger(sources: Any) -> None:
    # A project the access source does not know, an address no instance has.
    assert get(sources, "10.68.1.7", "/labs/v1/access.json").status == 404
    assert get(sources, "10.68.1.8", "/labs/v1/access.json").status == 404
    assert get(sources, "10.68.1.6", "/labs/v1/keys/alice").status == 404
    assert get(sources, "10.68.1.5", "/labs/v1/keys/carol").status == 404

    class Wrong(AccessSource):
        """A broken source that answers with another project's document."""

        def access_for(self, instance: InstanceMetadata) -> ProjectAccess | None:
            return bots(ALICE)

    wrong = (sources[0], Wrong())
    for path in ("/labs/v1/access.json", "/labs/v1/keys/alice", "/labs/v1/keys"):
        response = get(wrong, "10.68.1.6", path)
        assert response.status == 404, path
        assert b"alice" not in response.body and KEY_A.encode() not in response.body


def test_etag_and_304_and_the_serial_follows_every_change(sources: Any) -> None:
    first = get(sources, "10.68.1.5", "/labs/v1/access.json")
    etag = dict(first.headers)["ETag"]
    assert etag == f'"{json.loads(first.body)["serial"]}"'
    for header in (etag, f"W/{etag}", f'"x", {etag}', "*"):
        again = get(sources, "10.68.1.5", "/labs/v1/access.json", header)
        assert (again.status, again.body) == (304, b""), header
        assert dict(again.headers)["ETag"] == etag
    assert get(sources, "10.68.1.5", "/labs/v1/access.json", '"other"').status == 200
    serials = {etag}
    for change in (bots(ALICE), bots(ALICE, BOB, sudoers=""),
                   bots(replace(ALICE, ssh_keys=()), BOB),
                   bots(replace(ALICE, uid=2009), BOB),
                   ProjectAccess("p-bots", "bots", 50009, (ALICE, BOB), SUDO)):
        sources[1].set(change)
        response = get(sources, "10.68.1.5", "/labs/v1/access.json", etag)
        assert response.status == 200
        serials.add(dict(response.headers)["ETag"])
    assert len(serials) == 6
    sources[1].set(bots(ALICE, BOB))
    assert get(sources, "10.68.1.5", "/labs/v1/access.json", etag).status == 304


def test_keys_of_one_account_and_the_listings(sources: Any) -> None:
    keys = get(sources, "10.68.1.5", "/labs/v1/keys/alice")
    assert (keys.status, keys.body) == (200, f"{KEY_A}\n".encode())
    assert get(sources, "10.68.1.5", "/labs/v1/keys/nobody").status == 404
    assert get(sources, "10.68.1.5", "/labs/v1/keys").body == b"alice\nbob"
    assert get(sources, "10.68.1.5", "/labs").body == b"v1"
    assert get(sources, "10.68.1.5", "/labs/v1/").body == b"access.json\nkeys/"
    head = get(sources, "10.68.1.5", "/labs/v1/keys/bob", method="HEAD")
    assert head.status == 200


@pytest.mark.parametrize("path", [
    "/labs/v1/keys/Alice", "/labs/v1/keys/a%20b", "/labs/v1/keys/-x", "/labs/v1/keys/a;b",
    "/labs/v1/keys/" + "a" * 33, "/labs/v1/keys/%00", "/labs/v1/keys/al%24ice",
    "/labs/v1/keys/1abc"])
def test_bad_shell_names_are_400(sources: Any, path: str) -> None:
    response = get(sources, "10.68.1.5", path)
    assert response.status == 400, path
    assert b"shell name" in response.body


@pytest.mark.parametrize(("path", "status"), [
    ("/labs/v2/access.json", 404), ("/labs/v1/access.json/x", 404),
    ("/labs/v1/keys/alice/x", 404), ("/labs/v1/nope", 404), ("labs/v1/access.json", 400),
    ("ftp://x/labs/v1/access.json", 400)])
def test_malformed_and_unknown_paths_are_4xx(sources: Any, path: str, status: int) -> None:
    assert get(sources, "10.68.1.5", path).status == status
    assert get(sources, "10.68.1.5", "/labs/v1/access.json", method="POST").status == 405


def test_random_paths_never_fail_the_server(sources: Any) -> None:
    rnd = random.Random(7)
    alphabet = "abcAZ09-_./%~;$'\"\\ \x00\x7f\u00e9"
    for _ in range(500):
        tail = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 40)))
        for prefix in ("/labs/", "/labs/v1/", "/labs/v1/keys/"):
            response = get(sources, "10.68.1.5", prefix + tail, rnd.choice([None, tail]))
            assert response.status in (200, 304, 400, 404), (prefix + tail, response)


def test_without_an_access_source_it_says_so(sources: Any) -> None:
    response = get((sources[0], None), "10.68.1.5", "/labs/v1/access.json")
    assert response.status == 404
    assert b"no access source is configured" in response.body
    # Nova's trees are unchanged.
    assert get((sources[0], None), "10.68.1.5", "/openstack/latest/meta_data.json"
               ).status == 200


def test_a_failing_source_is_500_and_logged(sources: Any,
                                            caplog: pytest.LogCaptureFixture) -> None:
    class Down(AccessSource):
        def access_for(self, instance: InstanceMetadata) -> ProjectAccess | None:
            raise ConnectionError("the bus is down")

    assert get((sources[0], Down()), "10.68.1.5", "/labs/v1/access.json").status == 500
    assert "looking up the access document of project p-bots failed" in caplog.text


@pytest.mark.parametrize("make", [
    lambda: AccessAccount("Alice", 2001, 2001),
    lambda: AccessAccount("root;x", 2001, 2001),
    lambda: AccessAccount("alice", 0, 2001),
    lambda: AccessAccount("alice", 2001, 2**32 - 1),
    lambda: AccessAccount("alice", True, 2001),
    lambda: AccessAccount("alice", 2001, 2001, ("ssh-ed25519 AAAA a\nssh-rsa BBBB b",)),
    lambda: AccessAccount("alice", 2001, 2001, ('command="x" ssh-ed25519 AAAA a',)),
    lambda: AccessAccount("alice", 2001, 2001, login_shell="bash"),
    lambda: AccessAccount("alice", 2001, 2001, login_shell="/bin/../etc/x"),
    lambda: ProjectAccess("p 1", "bots", 50001),
    lambda: ProjectAccess("p-1", "Bots", 50001),
    lambda: ProjectAccess("p-1", "a" * 64, 50001),
    lambda: ProjectAccess("p-1", "bots", 50001, (ALICE, replace(BOB, shell_name="alice"))),
    lambda: ProjectAccess("p-1", "bots", 50001, (ALICE, replace(BOB, uid=ALICE.uid))),
    lambda: ProjectAccess("p-1", "bots", 50001, sudoers="x\0y"),
    lambda: ProjectAccess("p-1", "bots", 50001, sudoers="#" * 70000),
])
def test_the_document_checks_what_it_holds(make: Any) -> None:
    with pytest.raises(InvalidRequest):
        make()


def test_a_label_as_long_as_a_dns_label_names_the_group() -> None:
    label = "tempest-imagestagstest-1507726952" + "x" * 30
    access = ProjectAccess("p-1", label, 50001)
    assert access.group_name == f"project-{label}"
    assert access.document()["project"]["group"]["name"] == f"project-{label}"
