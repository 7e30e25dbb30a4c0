"""``If-Match: revision_number=N`` on a floating IP's change is checked on its locked row
in the transaction that changes the association (compute's side): of two changes racing
at one revision, one passes and the other gets Neutron's 412 (MariaDB: real row locks)."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from labs.network import models
from tests.compute.conftest import Plane
from tests.network.api_helpers import error
from tests.network.test_api_floatingips import ok, port_of, public_id


def put(plane: Plane, fip_id: str, port_id: str | None, revision: int) -> httpx.Response:
    return plane.client.request(
        "PUT", f"/network/v2.0/floatingips/{fip_id}",
        json={"floatingip": {"port_id": port_id}},
        headers={"X-Auth-Token": plane.token("alice"),
                 "If-Match": f"revision_number={revision}"})


def waiting_on_floating_ips(plane: Plane) -> int:
    """How many other connections are inside a statement on floating IPs (while the
    test holds the row's lock: waiting for it)."""
    db = plane.service.db
    with db.engine.connect() as conn:
        return int(conn.execute(sa.text(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = DATABASE() "
            "AND ID <> CONNECTION_ID() AND COMMAND = 'Query' "
            "AND INFO LIKE '%floating_ip%FOR UPDATE%'")).scalar() or 0)


@pytest.mark.parametrize("db_url", ["mariadb"], indirect=True)
def test_two_updates_at_one_revision(plane: Plane) -> None:
    one, two = (plane.create(name=n, networks="auto")["id"] for n in ("one", "two"))
    first, second = port_of(plane, one), port_of(plane, two)
    fip = ok(plane, "POST", "/floatingips", json={"floatingip": {
        "floating_network_id": public_id(plane)}})["floatingip"]
    revision = fip["revision_number"]
    answers: dict[str, httpx.Response] = {}

    def update(port: dict[str, Any]) -> None:
        answers[port["id"]] = put(plane, fip["id"], port["id"], revision)

    racers = [threading.Thread(target=update, args=(p,)) for p in (first, second)]
    with plane.service.db.transaction() as tx:  # hold the row: both pass the early check
        tx.execute(sa.select(models.FloatingIp).where(
            models.FloatingIp.address == fip["floating_ip_address"]).with_for_update())
        for racer in racers:
            racer.start()
        deadline = time.monotonic() + 20
        while waiting_on_floating_ips(plane) < 2:
            assert time.monotonic() < deadline, "the updates never both waited"
            assert all(r.is_alive() for r in racers), answers
            time.sleep(0.05)
    for racer in racers:
        racer.join(30)
    codes = sorted(r.status_code for r in answers.values())
    assert codes == [200, 412], {k: v.text for k, v in answers.items()}
    (won,) = [k for k, v in answers.items() if v.status_code == 200]
    (lost,) = [v for v in answers.values() if v.status_code == 412]
    error(lost, 412, "RevisionNumberConstraintFailed")
    now = ok(plane, "GET", f"/floatingips/{fip['id']}")["floatingip"]
    assert (now["port_id"], now["revision_number"]) == (won, revision + 1)
    holder, other = (one, two) if won == first["id"] else (two, one)
    assert floating_of(plane, holder) == [fip["floating_ip_address"]]
    assert floating_of(plane, other) == []


def floating_of(plane: Plane, server_id: str) -> list[str]:
    """The floating addresses a server's ``addresses`` show."""
    return [a["addr"] for net in plane.show(server_id)["addresses"].values() for a in net
            if a["OS-EXT-IPS:type"] == "floating"]


def test_a_move_and_stale_revisions(plane: Plane) -> None:
    """A port change moves the address from one server to another in one step; a
    stale revision changes nothing."""
    one, two = (plane.create(name=n, networks="auto")["id"] for n in ("one", "two"))
    first, second = port_of(plane, one), port_of(plane, two)
    fip = ok(plane, "POST", "/floatingips", json={"floatingip": {
        "floating_network_id": public_id(plane), "port_id": first["id"]}})["floatingip"]
    error(put(plane, fip["id"], second["id"], fip["revision_number"] + 5), 412,
          "RevisionNumberConstraintFailed")
    moved = put(plane, fip["id"], second["id"], fip["revision_number"])
    assert moved.status_code == 200, moved.text
    assert moved.json()["floatingip"]["port_id"] == second["id"]
    assert moved.json()["floatingip"]["revision_number"] == fip["revision_number"] + 1
    assert floating_of(plane, one) == []  # the server it left no longer shows it
    assert floating_of(plane, two) == [fip["floating_ip_address"]]
    error(put(plane, fip["id"], None, fip["revision_number"]), 412,
          "RevisionNumberConstraintFailed")
    gone = plane.client.request("DELETE", f"/network/v2.0/floatingips/{fip['id']}", headers={
        "X-Auth-Token": plane.token("alice"), "If-Match": "revision_number=0"})
    error(gone, 412, "RevisionNumberConstraintFailed")
