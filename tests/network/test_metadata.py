"""The metadata service with real namespaces: the bridge driver's networks with its
metadata port, stand-in VMs asking 169.254.169.254 with busybox wget, and the
MetadataServer answering each from its own network's socket."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from labs.network.agent.drivers.bridge.driver import BridgeDriver
from labs.network.agent.metadata.server import (
    InstanceMetadata,
    MetadataServer,
    NamespaceListenError,
    StaticMetadataSource,
)
from labs.network.specs import InvalidRequest, NetworkSpec, PortSpec
from tests.network.conftest import METADATA_PORT, network, port
from tests.network.guests import COMMAND_TIMEOUT, Guest

Guests = Callable[[PortSpec], Guest]
GUEST_FILES = Path(__file__).parents[2] / "src" / "labs" / "vmimage" / "guest"
METADATA_URL = "http://169.254.169.254"
#: Sends argv[1] (a Python bytes literal) to the metadata address, or nothing when it is
#: empty; prints the answer's status line and how long until the server closed.
RAW_CLIENT = """
import ast, socket, sys, time
request = ast.literal_eval(sys.argv[1])
started = time.monotonic()
with socket.create_connection(("169.254.169.254", 80), timeout=5) as c:
    c.sendall(request)
    answer = b""
    while chunk := c.recv(65536):
        answer += chunk
print(answer.split(b"\\r\\n", 1)[0].decode() or "closed", round(time.monotonic() - started, 1))
"""


def record(spec: NetworkSpec, p: PortSpec, **changes: Any) -> InstanceMetadata:
    """The record the cloud would keep for the instance behind port `p`."""
    values: dict[str, Any] = dict(
        uuid=p.instance_id, name=p.hostname, hostname=p.hostname,
        project_id=spec.project_id, project_name=spec.project_id, dns_domain="labs.test",
        network_id=spec.id, cidr=spec.cidr, gateway=spec.gateway, fixed_ip=p.ip, mac=p.mac,
        port_id=p.id, public_keys={"key": f"ssh-ed25519 AAAA{p.hostname} user@host"})
    values.update(changes)
    return InstanceMetadata(**values)


def wget(guest: Guest, path: str, *options: str) -> subprocess.CompletedProcess[bytes]:
    """busybox wget of the metadata service from inside the stand-in VM."""
    return subprocess.run(["ip", "netns", "exec", guest.netns, "busybox", "wget", "-q",
                           *options, "-O", "-", METADATA_URL + path],
                          capture_output=True, timeout=COMMAND_TIMEOUT, check=False)


def fetch(guest: Guest, path: str) -> bytes:
    done = wget(guest, path)
    assert done.returncode == 0, f"wget {path} failed: {done.stderr.decode()}"
    return done.stdout


def fails_with(guest: Guest, path: str, *options: str) -> str:
    """The error busybox wget reports for `path` (non-quiet, so the status shows)."""
    done = subprocess.run(["ip", "netns", "exec", guest.netns, "busybox", "wget", *options,
                           "-O", "/dev/null", METADATA_URL + path],
                          capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False)
    assert done.returncode != 0, f"wget {path} succeeded"
    return done.stderr


def raw(guest: Guest, request: bytes) -> str:
    done = subprocess.run(["ip", "netns", "exec", guest.netns, sys.executable, "-c",
                           RAW_CLIENT, repr(request)],
                          capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture
def source() -> StaticMetadataSource:
    return StaticMetadataSource()


@pytest.fixture
def server(source: StaticMetadataSource) -> Iterator[MetadataServer]:
    with MetadataServer(source, timeout=1.0) as srv:
        yield srv


def serve(server: MetadataServer, driver: BridgeDriver, spec: NetworkSpec) -> None:
    server.add_network(spec.id, driver.namespace(spec.id), spec.gateway, METADATA_PORT)


def test_each_vm_gets_its_own_record_and_strangers_get_404(
        driver: BridgeDriver, make_guest: Guests, source: StaticMetadataSource,
        server: MetadataServer, tmp_path: Path) -> None:
    spec = network("bots", 1)
    driver.ensure_network(spec)
    pa, pb, stranger = port(spec, 5, "web-1"), port(spec, 6, "db-1"), port(spec, 7, "x")
    user_data = b"#!/bin/sh\necho hi\n\x00\x01\xff binary \r\n tail"
    source.add(record(spec, pa, user_data=user_data))
    source.add(record(spec, pb))
    a, b, c = make_guest(pa), make_guest(pb), make_guest(stranger)
    for guest in (a, b, c):
        guest.dhcp()
    serve(server, driver, spec)

    for guest, p in ((a, pa), (b, pb)):
        meta = json.loads(fetch(guest, "/openstack/latest/meta_data.json"))
        assert (meta["uuid"], meta["hostname"]) == (p.instance_id, p.hostname)
        assert meta["meta"] == {"project_name": "bots", "dns_domain": "labs.test"}
        assert fetch(guest, "/latest/meta-data/local-ipv4").decode() == p.ip
        assert fetch(guest, "/latest/meta-data/hostname").decode() == \
            f"{p.hostname}.bots.labs.test"
        links = json.loads(fetch(guest, "/openstack/latest/network_data.json"))["links"]
        assert links[0]["ethernet_mac_address"] == p.mac
    assert fetch(a, "/openstack/latest/user_data") == user_data
    assert fetch(a, "/latest/user-data") == user_data
    assert "404" in fails_with(b, "/openstack/latest/user_data")
    assert "404" in fails_with(a, "/openstack/latest/nope")
    assert fetch(a, "/openstack").decode().endswith("\nlatest")

    # The stranger's port is plugged, but no instance in the source has its address.
    assert "404" in fails_with(c, "/openstack/latest/meta_data.json")
    assert "404" in fails_with(c, "/")

    # The guest's first boot reads it with busybox awk, as the VM image does.
    keys = tmp_path / "keys"
    done = subprocess.run(
        ["ip", "netns", "exec", a.netns, "sh", "-c",
         f"busybox wget -q -O - {METADATA_URL}/openstack/latest/meta_data.json"
         f" | busybox awk -f {GUEST_FILES / 'json.awk'}"
         f" | busybox awk -F '\t' -v keys={keys} -f {GUEST_FILES / 'metadata.awk'}"],
        capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False)
    assert done.returncode == 0, done.stderr
    assert f"UUID='{pa.instance_id}'" in done.stdout
    assert "NAME='web-1'" in done.stdout and "FQDN='web-1.bots.labs.test'" in done.stdout
    assert keys.read_text() == "ssh-ed25519 AAAAweb-1 user@host\n"


def test_the_network_comes_from_the_socket_that_took_the_request(
        driver: BridgeDriver, make_guest: Guests, source: StaticMetadataSource,
        server: MetadataServer) -> None:
    # Two projects whose networks use the same subnet: the same fixed IP on both.
    bots = network("bots", 1)
    tools = NetworkSpec(id=bots.id.replace("bots", "tools"), project_id="tools",
                        cidr=bots.cidr, gateway=bots.gateway, dns_domain="tools.labs.test")
    for spec in (bots, tools):
        driver.ensure_network(spec)
    pa, pt = port(bots, 5, "web-1"), port(tools, 5, "build-1")
    assert pa.ip == pt.ip
    for spec, p in ((bots, pa), (tools, pt)):
        source.add(record(spec, p))
    a, t = make_guest(pa), make_guest(pt)
    a.dhcp()
    t.dhcp()
    serve(server, driver, bots)
    serve(server, driver, tools)

    assert json.loads(fetch(a, "/openstack/latest/meta_data.json"))["uuid"] == pa.instance_id
    meta = json.loads(fetch(t, "/openstack/latest/meta_data.json"))
    assert (meta["uuid"], meta["hostname"], meta["project_id"]) == (
        pt.instance_id, "build-1", "tools")

    server.remove_network(tools.id)
    started = time.monotonic()
    assert "refused" in fails_with(t, "/openstack/latest/meta_data.json")
    assert time.monotonic() - started < 3
    assert json.loads(fetch(a, "/openstack/latest/meta_data.json"))["uuid"] == pa.instance_id
    server.remove_network(tools.id)  # again: fine

    serve(server, driver, tools)
    assert json.loads(fetch(t, "/openstack/latest/meta_data.json"))["uuid"] == pt.instance_id


def test_http_limits_methods_and_slow_callers(
        driver: BridgeDriver, make_guest: Guests, source: StaticMetadataSource,
        server: MetadataServer) -> None:
    spec = network("bots", 1)
    driver.ensure_network(spec)
    p = port(spec, 5, "web-1")
    source.add(record(spec, p))
    guest = make_guest(p)
    guest.dhcp()
    serve(server, driver, spec)

    assert "405" in fails_with(guest, "/openstack/latest/password", "--post-data=secret")
    post = raw(guest, b"POST /openstack/latest/password HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Length: 6\r\n\r\nsecret")
    assert post.startswith("HTTP/1.1 405 Method Not Allowed"), post
    head = raw(guest, b"HEAD /latest/meta-data/local-ipv4 HTTP/1.0\r\n\r\n")
    assert head.startswith("HTTP/1.0 200 OK"), head
    assert raw(guest, b"GET / HTTP/1.1\r\nX: " + b"y" * 9000 + b"\r\n\r\n").startswith(
        "HTTP/1.1 431 ")
    assert raw(guest, b"nonsense\r\n\r\n").startswith("HTTP/1.1 400 ")
    # A body the server does not want is read and dropped, so the answer still arrives.
    big = raw(guest, b"PUT / HTTP/1.1\r\nContent-Length: 20000\r\n\r\n" + b"x" * 20000)
    assert big.startswith("HTTP/1.1 405 "), big
    # A caller that sends nothing is hung up on after the server's timeout (1 s here).
    status, seconds = raw(guest, b"").split()
    assert status == "closed" and float(seconds) < 2.5


def test_add_and_remove_are_idempotent_and_close_stops_everything(
        driver: BridgeDriver, make_guest: Guests, source: StaticMetadataSource) -> None:
    spec = network("bots", 1)
    driver.ensure_network(spec)
    p = port(spec, 5, "web-1")
    source.add(record(spec, p))
    guest = make_guest(p)
    guest.dhcp()
    namespace = driver.namespace(spec.id)
    own_namespace = os.readlink("/proc/thread-self/ns/net")

    server = MetadataServer(source, timeout=1.0)
    try:
        serve(server, driver, spec)
        serve(server, driver, spec)
        assert server.networks() == {spec.id: (namespace, spec.gateway, METADATA_PORT)}
        assert os.readlink("/proc/thread-self/ns/net") == own_namespace
        assert fetch(guest, "/latest/meta-data/instance-id").decode() == \
            "i-" + p.instance_id.replace("-", "")[:8]
        server.remove_network("net-unknown")
        # New values replace the listener: the old port is closed, the new one answers.
        server.add_network(spec.id, namespace, spec.gateway, METADATA_PORT + 1)
        assert server.networks()[spec.id] == (namespace, spec.gateway, METADATA_PORT + 1)
        # VMs reach a listener only through the redirect; from the namespace itself the
        # new one answers (the gateway's address is no instance's).
        direct = f"http://{spec.gateway}:{METADATA_PORT + 1}/latest/meta-data/local-ipv4"
        done = subprocess.run(["ip", "netns", "exec", namespace, "busybox", "wget",
                               "-O", "-", direct], capture_output=True, text=True,
                              timeout=COMMAND_TIMEOUT, check=False)
        assert "404" in done.stderr, done.stderr
        assert "refused" in fails_with(guest, "/latest/meta-data/instance-id")
    finally:
        server.close()
    assert server.networks() == {}
    assert "refused" in fails_with(guest, "/latest/meta-data/instance-id")
    with pytest.raises(NamespaceListenError, match="closed"):
        serve(server, driver, spec)


def test_listening_errors_say_what_to_check(
        driver: BridgeDriver, source: StaticMetadataSource, server: MetadataServer) -> None:
    spec = network("bots", 1)
    driver.ensure_network(spec)
    namespace = driver.namespace(spec.id)
    with pytest.raises(NamespaceListenError, match=r"namespace .*-nowhere does not exist.*"
                                                  r"ip netns list"):
        server.add_network(spec.id, namespace + "-nowhere", spec.gateway, METADATA_PORT)
    with pytest.raises(NamespaceListenError, match=r"10\.68\.1\.77 is on no interface of "
                                                  rf"network namespace {namespace}"):
        server.add_network(spec.id, namespace, "10.68.1.77", METADATA_PORT)
    for bad in ("../../proc/self/ns/net", ""):
        with pytest.raises(InvalidRequest, match="namespace name"):
            server.add_network(spec.id, bad, spec.gateway, METADATA_PORT)
    with pytest.raises(InvalidRequest, match="port"):
        server.add_network(spec.id, namespace, spec.gateway, 0)
    serve(server, driver, spec)
    with pytest.raises(NamespaceListenError, match="is taken by another listener"):
        server.add_network("net-other", namespace, spec.gateway, METADATA_PORT)
    # A change that cannot be made leaves the network served as before.
    with pytest.raises(NamespaceListenError, match="is on no interface"):
        server.add_network(spec.id, namespace, "10.68.1.77", METADATA_PORT)
    assert server.networks() == {spec.id: (namespace, spec.gateway, METADATA_PORT)}


#: Keeps argv[1] connections to the metadata address open for argv[2] seconds, sending
#: one byte to each every 0.2 s and reopening those the server closes; prints how long
#: the longest-lived one stayed open.
HOG = """
import socket, sys, time
wanted, end = int(sys.argv[1]), time.monotonic() + float(sys.argv[2])
held, longest = {}, 0.0
while time.monotonic() < end:
    while len(held) < wanted:
        try:
            c = socket.create_connection(("169.254.169.254", 80), timeout=0.5)
        except OSError:
            break
        c.setblocking(False)
        held[c] = time.monotonic()
    for c, since in list(held.items()):
        try:
            c.send(b"G")
            closed = c.recv(100) == b""
        except BlockingIOError:
            closed = False
        except OSError:
            closed = True
        if closed:
            longest = max(longest, time.monotonic() - since)
            c.close()
            del held[c]
    time.sleep(0.2)
print(round(max([longest, *(time.monotonic() - s for s in held.values())]), 1))
"""


def test_a_vm_holding_connections_denies_metadata_to_no_other_vm(
        driver: BridgeDriver, make_guest: Guests, source: StaticMetadataSource) -> None:
    bots, tools = network("bots", 1), network("tools", 2)
    for spec in (bots, tools):
        driver.ensure_network(spec)
    hog_port, same, other = port(bots, 5, "hog"), port(bots, 6, "web-1"), port(tools, 5, "x")
    for spec, p in ((bots, hog_port), (bots, same), (tools, other)):
        source.add(record(spec, p))
    hog, neighbour, stranger = make_guest(hog_port), make_guest(same), make_guest(other)
    for guest in (hog, neighbour, stranger):
        guest.dhcp()

    with MetadataServer(source) as server:  # the defaults labs up runs with
        serve(server, driver, bots)
        serve(server, driver, tools)
        holding = subprocess.Popen(["ip", "netns", "exec", hog.netns, sys.executable, "-c",
                                    HOG, "100", "7"], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        with holding:
            time.sleep(1.5)  # every slot the hog can get is taken
            for _ in range(3):
                for guest, p in ((neighbour, same), (stranger, other)):
                    started = time.monotonic()
                    assert fetch(guest, "/latest/meta-data/local-ipv4").decode() == p.ip
                    assert time.monotonic() - started < 1.0
                time.sleep(0.5)
            out, err = holding.communicate(timeout=COMMAND_TIMEOUT + 7)
        assert holding.returncode == 0, err
        # Trickling bytes kept no connection past the time allowed for a request's head.
        assert float(out) < 3.0, out
        assert fetch(hog, "/latest/meta-data/local-ipv4").decode() == hog_port.ip
