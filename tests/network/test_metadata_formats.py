"""The metadata service's answers without sockets: every path of the OpenStack and EC2
trees as Nova's metadata API gives them, the 404/405 cases, and the guest's own reading
of meta_data.json (metadata.awk, run by busybox awk as in the VM image)."""

from __future__ import annotations

import base64
import datetime
import json
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from labs.network.agent.metadata.formats import (
    EC2_VERSIONS,
    OPENSTACK_VERSIONS,
    MetadataResponse,
    answer,
    render,
)
from labs.network.agent.metadata.source import (
    InstanceMetadata,
    MetadataSource,
    StaticMetadataSource,
)
from labs.network.specs import InvalidRequest

GUEST = Path(__file__).parents[2] / "src" / "labs" / "vmimage" / "guest"
UUID = "3f1c2a9e-5b7d-4c1e-9a0f-6d2b8e4c7a51"
PORT_ID = "0b5c0f4e-5d55-4c37-9d0e-0b8f4c7b8c1e"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx4 alice@laptop"
USER_DATA = b"#!/bin/sh\necho hello\n\x00\xff\xfe binary tail"
TODAY = datetime.date(2026, 1, 1)


def instance(**changes: Any) -> InstanceMetadata:
    base = InstanceMetadata(
        uuid=UUID, name="Web server 1", hostname="web-1", project_id="p-0042",
        project_name="bots", dns_domain="labs.test", network_id="net-bots",
        cidr="10.68.1.0/24", gateway="10.68.1.1", fixed_ip="10.68.1.5",
        mac="fa:16:3e:00:01:05", port_id=PORT_ID, availability_zone="zone-a",
        public_keys={"alice": KEY}, user_data=USER_DATA, metadata={"role": "web"},
        image_id="a1b2c3d4-0000-4000-8000-000000000001", flavor_name="g1.nano",
        security_groups=("default", "web"))
    return replace(base, **changes)


def get(path: str, record: InstanceMetadata | None = None) -> MetadataResponse:
    return render(record or instance(), path, today=TODAY, random_bytes=lambda n: b"r" * n)


def text(path: str, record: InstanceMetadata | None = None) -> str:
    response = get(path, record)
    assert response.status == 200, (path, response)
    return response.body.decode()


def as_json(path: str, record: InstanceMetadata | None = None) -> Any:
    response = get(path, record)
    assert (response.status, response.content_type) == (200, "application/json"), path
    return json.loads(response.body)


# --- EC2 ---------------------------------------------------------------------------------

def test_ec2_root_lists_nova_versions_and_latest() -> None:
    expected = "\n".join((*EC2_VERSIONS, "latest"))
    assert text("/") == text("") == text("/ec2") == expected
    assert expected.split("\n")[-2:] == ["2009-04-04", "latest"]


def test_ec2_version_lists_meta_data_and_user_data_when_there_is_some() -> None:
    assert text("/latest") == text("/latest/") == "meta-data/\nuser-data"
    assert text("/2009-04-04/") == "meta-data/\nuser-data"
    assert text("/latest/", instance(user_data=None)) == "meta-data/"


def test_ec2_meta_data_listing_is_novas_with_directories_marked() -> None:
    assert text("/latest/meta-data/").split("\n") == [
        "ami-id", "ami-launch-index", "ami-manifest-path", "block-device-mapping/",
        "hostname", "instance-action", "instance-id", "instance-type", "local-hostname",
        "local-ipv4", "mac", "placement/", "public-hostname", "public-ipv4",
        "public-keys/", "reservation-id", "security-groups"]
    assert text("/ec2/latest/meta-data") == text("/latest/meta-data/")
    assert "public-keys/" not in text("/latest/meta-data/", instance(public_keys={}))


def test_ec2_items() -> None:
    values = {
        "ami-id": "ami-a1b2c3d4",
        "ami-launch-index": "0",
        "ami-manifest-path": "FIXME",
        "instance-id": "i-3f1c2a9e",  # the uuid's first 8 hex digits
        "hostname": "web-1.bots.labs.test",
        "local-hostname": "web-1.bots.labs.test",
        "public-hostname": "web-1.bots.labs.test",
        "local-ipv4": "10.68.1.5",
        "public-ipv4": "",
        "mac": "fa:16:3e:00:01:05",
        "instance-type": "g1.nano",
        "instance-action": "none",
        "reservation-id": "r-3f1c2a9e",
        "security-groups": "default\nweb",
        "placement/availability-zone": "zone-a",
        "block-device-mapping/ami": "vda",
        "block-device-mapping/root": "/dev/vda",
    }
    for path, value in values.items():
        assert text(f"/latest/meta-data/{path}") == value, path
    assert text("/latest/meta-data/placement/") == "availability-zone"
    assert text("/latest/meta-data/block-device-mapping") == "ami\nroot"
    floating = instance(floating_ip="172.24.4.10", image_id=None, reservation_id="r-xyz")
    assert text("/latest/meta-data/public-ipv4", floating) == "172.24.4.10"
    assert text("/latest/meta-data/ami-id", floating) == "ami-00000000"
    assert text("/latest/meta-data/reservation-id", floating) == "r-xyz"


def test_ec2_hostname_without_a_project_domain_is_the_hostname() -> None:
    assert text("/latest/meta-data/hostname", instance(dns_domain="")) == "web-1"
    odd = instance(project_name="Bots & Tools")
    assert text("/latest/meta-data/local-hostname", odd) == "web-1.bots---tools.labs.test"


def test_ec2_public_keys_list_index_equals_name() -> None:
    two = instance(public_keys={"alice": KEY, "bob": "ssh-rsa AAAAB3 bob"})
    assert text("/latest/meta-data/public-keys/", two) == "0=alice\n1=bob"
    assert text("/latest/meta-data/public-keys/0", two) == "openssh-key"
    assert text("/latest/meta-data/public-keys/0/", two) == "openssh-key"
    assert text("/latest/meta-data/public-keys/0/openssh-key", two) == KEY
    assert text("/latest/meta-data/public-keys/1/openssh-key", two) == "ssh-rsa AAAAB3 bob"
    assert get("/latest/meta-data/public-keys/2/openssh-key", two).status == 404
    assert get("/latest/meta-data/public-keys/", instance(public_keys={})).status == 404


def test_ec2_user_data_is_the_bytes_as_given() -> None:
    response = get("/latest/user-data")
    assert (response.status, response.body) == (200, USER_DATA)
    assert get("/latest/user-data", instance(user_data=None)).status == 404


def test_ec2_older_versions_have_novas_older_items() -> None:
    assert text("/1.0/meta-data/").split("\n") == [
        "ami-id", "ami-launch-index", "ami-manifest-path", "hostname", "instance-id",
        "local-ipv4", "mac", "public-keys/", "reservation-id", "security-groups"]
    items = text("/2007-12-15/meta-data/").split("\n")
    assert "block-device-mapping/" in items and "instance-type" in items
    assert "placement/" not in items and "instance-action" not in items
    assert get("/2007-01-19/meta-data/placement/availability-zone").status == 404


# --- OpenStack ---------------------------------------------------------------------------

def test_openstack_lists_its_versions_up_to_today_and_latest() -> None:
    assert text("/openstack") == text("/openstack/") == "\n".join(
        (*OPENSTACK_VERSIONS, "latest"))
    early = render(instance(), "/openstack", today=datetime.date(2019, 1, 1))
    assert early.body.decode().split("\n")[-2:] == ["2018-08-27", "latest"]
    # A version later than today is hidden from the list but still served (as in Nova).
    future = render(instance(), "/openstack/2025-04-04/meta_data.json",
                    today=datetime.date(2019, 1, 1))
    assert future.status == 200


def test_openstack_version_lists_its_files() -> None:
    assert text("/openstack/latest").split("\n") == [
        "meta_data.json", "user_data", "vendor_data.json", "network_data.json",
        "vendor_data2.json"]
    assert "user_data" not in text("/openstack/latest/", instance(user_data=None))
    assert text("/openstack/2012-08-10") == "meta_data.json\nuser_data"
    assert text("/openstack/2013-10-17") == "meta_data.json\nuser_data\nvendor_data.json"


def test_openstack_meta_data_json_is_novas() -> None:
    seed = base64.b64encode(b"r" * 512).decode()
    assert as_json("/openstack/latest/meta_data.json") == {
        "uuid": UUID,
        "meta": {"role": "web", "project_name": "bots", "dns_domain": "labs.test"},
        "public_keys": {"alice": KEY},
        "keys": [{"name": "alice", "type": "ssh", "data": KEY}],
        "hostname": "web-1",
        "name": "Web server 1",
        "launch_index": 0,
        "availability_zone": "zone-a",
        "random_seed": seed,
        "project_id": "p-0042",
        "devices": [],
        "dedicated_cpus": [],
    }
    bare = as_json("/openstack/latest/meta_data.json", instance(public_keys={}))
    assert "public_keys" not in bare and "keys" not in bare


def test_openstack_dated_versions_have_the_fields_nova_had_then() -> None:
    latest = as_json("/openstack/latest/meta_data.json")
    assert as_json("/openstack/2025-04-04/meta_data.json") == latest
    assert as_json("/openstack/2020-10-14/meta_data.json") == latest
    rocky = as_json("/openstack/2018-08-27/meta_data.json")
    assert rocky == {k: v for k, v in latest.items() if k != "dedicated_cpus"}
    folsom = as_json("/openstack/2012-08-10/meta_data.json")
    assert set(latest) - set(folsom) == {"random_seed", "project_id", "devices",
                                         "dedicated_cpus"}
    assert get("/openstack/2012-08-10/network_data.json").status == 404
    assert get("/openstack/2018-08-27/network_data.json").status == 200
    assert get("/openstack/2018-08-27/user_data").body == USER_DATA


def test_openstack_user_data_is_the_bytes_or_404() -> None:
    response = get("/openstack/latest/user_data")
    assert (response.status, response.body, response.content_type) == (
        200, USER_DATA, "text/plain")
    assert get("/openstack/latest/user_data", instance(user_data=None)).status == 404


def test_openstack_network_data_json_is_a_static_ipv4_network() -> None:
    dns = [{"type": "dns", "address": "10.68.1.1"}]
    assert as_json("/openstack/latest/network_data.json") == {
        "links": [{"id": "tap0b5c0f4e-5d", "vif_id": PORT_ID, "type": "phy", "mtu": 1500,
                   "ethernet_mac_address": "fa:16:3e:00:01:05"}],
        "networks": [{"id": "network0", "type": "ipv4", "link": "tap0b5c0f4e-5d",
                      "ip_address": "10.68.1.5", "netmask": "255.255.255.0",
                      "routes": [{"network": "0.0.0.0", "netmask": "0.0.0.0",
                                  "gateway": "10.68.1.1"}],
                      "network_id": "net-bots", "services": dns}],
        "services": dns,
    }
    other = as_json("/openstack/latest/network_data.json",
                    instance(dns_servers=("10.0.0.53", "10.0.0.54"), mtu=1450,
                             cidr="10.68.0.0/16", gateway="10.68.0.1"))
    assert other["links"][0]["mtu"] == 1450
    assert other["networks"][0]["netmask"] == "255.255.0.0"
    assert other["services"] == [{"type": "dns", "address": "10.0.0.53"},
                                 {"type": "dns", "address": "10.0.0.54"}]


def test_openstack_vendor_data_is_empty() -> None:
    assert as_json("/openstack/latest/vendor_data.json") == {}
    assert as_json("/openstack/latest/vendor_data2.json") == {"static": {}}


@pytest.mark.parametrize("path", [
    "/nope", "/2010-01-01/", "/latest/meta-data/nope", "/latest/meta-data/local-ipv4/x",
    "/latest/nope", "/openstack/nope", "/openstack/2099-01-01/meta_data.json",
    "/openstack/latest/nope", "/openstack/latest/meta_data.json/x",
    "/openstack/latest/password", "/openstack/2012-08-10/vendor_data.json",
])
def test_unknown_paths_are_404(path: str) -> None:
    response = get(path)
    assert response.status == 404
    assert b"web-1" not in response.body and UUID.encode() not in response.body


def test_paths_are_normalised_as_nova_does() -> None:
    assert get("/openstack/latest/../latest/./meta_data.json").status == 200
    assert text("//latest//meta-data//local-ipv4/") == "10.68.1.5"


# --- answer: methods and callers ---------------------------------------------------------

def test_answer_serves_the_callers_own_record_and_404s_strangers() -> None:
    a, b = instance(), instance(uuid="9d1c2a9e-5b7d-4c1e-9a0f-6d2b8e4c7a52", hostname="db-1",
                                fixed_ip="10.68.1.6")
    source = StaticMetadataSource([a, b])
    ok = answer(source, "net-bots", "10.68.1.6", "GET",
                "/openstack/latest/meta_data.json")
    assert json.loads(ok.body)["hostname"] == "db-1"
    for network, caller in (("net-bots", "10.68.1.7"), ("net-tools", "10.68.1.5")):
        response = answer(source, network, caller, "GET", "/openstack/latest/meta_data.json")
        assert response.status == 404
        assert response.body.decode() == (
            f"404 Not Found\n\nNo instance on this network has the address {caller}.\n")
    source.remove("net-bots", "10.68.1.6")
    assert answer(source, "net-bots", "10.68.1.6", "GET", "/").status == 404


def test_answer_refuses_a_record_the_source_gives_for_another_address() -> None:
    class Wrong(MetadataSource):
        def instance_for(self, network_id: str, fixed_ip: str) -> InstanceMetadata | None:
            return instance()

    assert answer(Wrong(), "net-bots", "10.68.1.9", "GET", "/").status == 404
    assert answer(Wrong(), "net-other", "10.68.1.5", "GET", "/").status == 404


def test_answer_allows_get_and_head_only() -> None:
    source = StaticMetadataSource([instance()])
    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
        response = answer(source, "net-bots", "10.68.1.5", method, "/openstack/latest/password")
        assert response.status == 405
        assert ("Allow", "GET, HEAD") in response.headers
    head = answer(source, "net-bots", "10.68.1.5", "HEAD", "/latest/meta-data/local-ipv4")
    assert (head.status, head.body) == (200, b"10.68.1.5")


def test_answer_takes_the_path_of_any_request_target_form() -> None:
    source = StaticMetadataSource([instance()])
    for target in ("/latest/meta-data/local-ipv4?x=1",
                   "http://169.254.169.254/latest/meta-data/local-ipv4",
                   "/latest/meta-data/local%2Dipv4"):
        response = answer(source, "net-bots", "10.68.1.5", "GET", target)
        assert (response.status, response.body) == (200, b"10.68.1.5"), target
    for target in ("*", "ftp://169.254.169.254/", "latest"):
        assert answer(source, "net-bots", "10.68.1.5", "GET", target).status == 400


def test_answer_is_500_when_the_source_fails(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(MetadataSource):
        def instance_for(self, network_id: str, fixed_ip: str) -> InstanceMetadata | None:
            raise RuntimeError("the message bus is down")

    response = answer(Broken(), "net-bots", "10.68.1.5", "GET", "/")
    assert response.status == 500
    assert b"bus" not in response.body
    assert "10.68.1.5" in caplog.text and "the message bus is down" in caplog.text


# --- the record --------------------------------------------------------------------------

def test_instance_metadata_checks_its_values() -> None:
    for changes in ({"uuid": "web-1"}, {"fixed_ip": "10.68.2.5"}, {"gateway": "10.0.0.1"},
                    {"cidr": "10.68.1.0/33"}, {"hostname": "Web_1"},
                    {"dns_servers": ("nameserver",)}, {"floating_ip": "x"},
                    {"user_data": "text"}):
        with pytest.raises(InvalidRequest):
            instance(**changes)
    record = instance()
    with pytest.raises(TypeError):
        record.metadata["role"] = "db"  # type: ignore[index]


# --- the guest's reading -----------------------------------------------------------------

def awk(program: str, text: str, *args: str) -> str:
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.fail("busybox is needed (the VM image's awk): apt-get install busybox")
    done = subprocess.run([busybox, "awk", *args, "-f", str(GUEST / program)],
                          input=text, capture_output=True, text=True, timeout=10, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("record, name, fqdn", [
    (instance(), "web-server-1", "web-server-1.bots.labs.test"),
    (instance(name="", public_keys={}), "web-1", "web-1.bots.labs.test"),
])
def test_the_guests_metadata_awk_reads_meta_data_json(
        tmp_path: Path, record: InstanceMetadata, name: str, fqdn: str) -> None:
    keys = tmp_path / "keys"
    flat = awk("json.awk", get("/openstack/latest/meta_data.json", record).body.decode())
    out = awk("metadata.awk", flat, "-F", "\t", "-v", f"keys={keys}")
    assert f"UUID='{UUID}'" in out
    assert f"NAME='{name}'" in out and f"FQDN='{fqdn}'" in out
    assert "PROJECT='bots'" in out and "PROJECT_ID='p-0042'" in out
    assert "SEARCH='bots.labs.test labs.test'" in out
    written = keys.read_text() if keys.exists() else ""
    assert written == "".join(f"{k}\n" for k in record.public_keys.values())
