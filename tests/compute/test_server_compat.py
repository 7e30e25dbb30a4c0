"""Nova's answers to what Nova accepts: server actions with `{}` or `null` bodies and
unknown actions, pause and unpause, the status filter, access IPs."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa

from labs.compute import models, states
from tests.compute.conftest import Plane
from tests.fuzzing import mariadb_only  # noqa: F401 -- one engine: MariaDB


def act(plane: Plane, sid: str, body: Any, who: str = "alice",
        version: str = "2.100") -> httpx.Response:
    return plane.call("POST", f"/servers/{sid}/action", who, json=body, version=version)


def bad_request(resp: httpx.Response) -> str:
    assert resp.status_code == 400, resp.text
    return str(resp.json()["badRequest"]["message"])


def test_actions_take_null_or_empty_values_and_unknown_ones_are_refused(plane: Plane) -> None:
    sid = plane.create()["id"]
    assert act(plane, sid, {"os-stop": {}}).status_code == 202
    plane.wait(sid, "SHUTOFF")
    # Nova reads no value of os-start: anything goes
    assert act(plane, sid, {"os-start": {"whatever": 1}}, version="2.1").status_code == 202
    plane.wait(sid, "ACTIVE")
    for body in ({"lock": {}}, {"unlock": {}}, {"lock": None}, {"unlock": None}):
        assert act(plane, sid, body).status_code == 202, body
    # before 2.73 a lock's reason is not read; from 2.73 it is checked
    assert act(plane, sid, {"lock": {"locked_reason": "x"}}, version="2.72").status_code == 202
    assert plane.show(sid)["locked_reason"] is None
    assert act(plane, sid, {"unlock": {}}).status_code == 202
    assert "locked_reason" in bad_request(act(plane, sid, {"lock": {"locked_reason": 5}}))
    assert bad_request(act(plane, sid, {"foo": {}})) == "There is no such action: foo"
    # ... also for a reader, as Nova finds the action before it asks the policy
    assert bad_request(act(plane, sid, {"foo": None}, "ann")) == "There is no such action: foo"
    assert bad_request(act(plane, sid, {"os-stop": {}, "os-start": {}})) == (
        "Malformed request body: too many body keys")
    bad_request(act(plane, sid, {}))
    bad_request(act(plane, sid, {"reboot": {}}))
    bad_request(act(plane, sid, {"reboot": {"type": "HARD", "extra": 1}}))
    assert act(plane, sid, {"os-stop": {}}, "ann").status_code == 403
    assert act(plane, sid, {"os-stop": {}}, "bob").status_code == 404
    assert plane.show(sid)["status"] == "ACTIVE"


def test_pause_and_unpause(plane: Plane) -> None:
    sid = plane.create()["id"]
    assert act(plane, sid, {"pause": None}).status_code == 202
    shown = plane.wait(sid, "PAUSED")
    assert shown["OS-EXT-STS:vm_state"] == "paused"
    assert shown["OS-EXT-STS:power_state"] == 3
    again = act(plane, sid, {"pause": {}})
    assert again.status_code == 409
    assert again.json()["conflictingRequest"]["message"] == (
        f"Cannot 'pause' instance {sid} while it is in vm_state paused")
    assert act(plane, sid, {"os-stop": None}).status_code == 409
    assert act(plane, sid, {"reboot": {"type": "SOFT"}}).status_code == 409
    listed = plane.ok("GET", "/servers?status=PAUSED")["servers"]
    assert [s["id"] for s in listed] == [sid]
    # a reader, another project: refused; an admin may
    assert act(plane, sid, {"unpause": {}}, "ann").status_code == 403
    assert act(plane, sid, {"unpause": {}}, "bob").status_code == 404
    assert act(plane, sid, {"unpause": {}}, "admin").status_code == 202
    shown = plane.wait(sid, "ACTIVE")
    assert shown["OS-EXT-STS:power_state"] == 1
    assert act(plane, sid, {"unpause": None}).status_code == 409
    # a locked server is not paused by its owner
    assert act(plane, sid, {"lock": None}).status_code == 202
    assert act(plane, sid, {"pause": None}).status_code == 409
    assert act(plane, sid, {"unlock": None}).status_code == 202
    # a hard reboot brings a paused server back
    assert act(plane, sid, {"pause": None}).status_code == 202
    plane.wait(sid, "PAUSED")
    assert act(plane, sid, {"reboot": {"type": "HARD"}}).status_code == 202
    assert plane.wait(sid, "ACTIVE")["OS-EXT-STS:power_state"] == 1
    actions = plane.ok("GET", f"/servers/{sid}/os-instance-actions")["instanceActions"]
    assert [a["action"] for a in actions] == [
        "reboot", "pause", "unlock", "lock", "unpause", "pause", "create"]
    event = plane.ok("GET", f"/servers/{sid}/os-instance-actions/{actions[4]['request_id']}",
                     "admin")["instanceAction"]["events"]
    assert [(e["event"], e["result"]) for e in event] == [
        ("compute_unpause_instance", "Success")]


def test_status_filter_matches_vm_states_as_nova(plane: Plane) -> None:
    """Right after a stop the server is still ACTIVE (powering off): not SHUTOFF."""
    going, stopped, running = (plane.create(name=n)["id"] for n in ("going", "off", "on"))
    assert act(plane, stopped, {"os-stop": None}).status_code == 202
    plane.wait(stopped, "SHUTOFF")
    with plane.service.db.transaction() as tx:  # as the API leaves it before the agent acts
        tx.execute(sa.update(models.Instance).where(models.Instance.id == going)
                   .values(task_state=states.POWERING_OFF))
    def ids(status: str) -> set[str]:
        return {s["id"] for s in plane.ok("GET", f"/servers?status={status}")["servers"]}
    assert ids("SHUTOFF") == {stopped}
    assert ids("shutoff") == {stopped}
    assert ids("ACTIVE") == {going, running}
    assert plane.show(going)["status"] == "ACTIVE"
    assert ids("REBOOT") == set() and ids("PAUSED") == set()
    assert plane.call("GET", "/servers?status=NOPE").status_code == 400
    assert plane.ok("GET", "/servers?status=NOPE", version="2.37")["servers"] == []


def test_access_ips(plane: Plane) -> None:
    server = plane.create(accessIPv4="192.0.2.10", accessIPv6="2001:db8::10")
    sid = server["id"]
    assert (server["accessIPv4"], server["accessIPv6"]) == ("192.0.2.10", "2001:db8::10")
    changed = plane.ok("PUT", f"/servers/{sid}", json={"server": {
        "accessIPv4": "198.51.100.7"}})["server"]
    assert (changed["accessIPv4"], changed["accessIPv6"]) == ("198.51.100.7", "2001:db8::10")
    plain = plane.create(name="plain")
    assert (plain["accessIPv4"], plain["accessIPv6"]) == ("", "")
    # an admin filters by them (a regular expression, as Nova); others are not filtered
    found = plane.ok("GET", "/servers?all_tenants=1&access_ip_v4=^198\\.51", "admin")
    assert [s["id"] for s in found["servers"]] == [sid]
    found = plane.ok("GET", "/servers?all_tenants=1&access_ip_v6=2001:db8::10", "admin")
    assert [s["id"] for s in found["servers"]] == [sid]
    mine = plane.ok("GET", "/servers?access_ip_v4=^198\\.51")["servers"]
    assert {s["id"] for s in mine} == {sid, plain["id"]}
    # bad addresses: 400, and nothing made or changed
    before = len(plane.ok("GET", "/servers")["servers"])
    for fields in ({"accessIPv4": "2001:db8::1"}, {"accessIPv4": "300.1.1.1"},
                   {"accessIPv6": "192.0.2.1"}, {"accessIPv6": "fe80::1%eth0"},
                   {"accessIPv4": ""}, {"accessIPv4": 5}):
        resp = plane.call("POST", "/servers", json={"server": {
            "name": "bad", "imageRef": plane.image_id, "flavorRef": "1", "networks": "none",
            **fields}})
        assert resp.status_code == 400, (fields, resp.text)
        resp = plane.call("PUT", f"/servers/{sid}", json={"server": fields})
        assert resp.status_code == 400, (fields, resp.text)
    assert len(plane.ok("GET", "/servers")["servers"]) == before
    assert plane.show(sid)["accessIPv4"] == "198.51.100.7"
    assert plane.call("PUT", f"/servers/{sid}", "ann", json={"server": {
        "accessIPv4": "192.0.2.1"}}).status_code == 403
    assert plane.call("PUT", f"/servers/{sid}", "bob", json={"server": {
        "accessIPv4": "192.0.2.1"}}).status_code == 404
    # a rebuild sets them too (a bad one is refused before the server moves)
    bad = act(plane, sid, {"rebuild": {"imageRef": plane.image_id, "accessIPv4": "x"}})
    assert bad.status_code == 400, bad.text
    assert plane.show(sid)["OS-EXT-STS:task_state"] is None
    rebuilt = act(plane, sid, {"rebuild": {"imageRef": plane.image_id,
                                           "accessIPv4": "192.0.2.99"}})
    assert rebuilt.status_code == 202, rebuilt.text
    assert rebuilt.json()["server"]["accessIPv4"] == "192.0.2.99"
    body: dict[str, Any] = plane.wait(sid, "ACTIVE")
    assert body["accessIPv4"] == "192.0.2.99"
