"""The network API fuzzed from its OpenAPI document (see tests/fuzzing.py)."""

from __future__ import annotations

import pytest

from labs.network.api import build_api
from labs.network.topology import subnet_id_of
from tests.fuzzing import (
    Fuzz,
    check_document,
    fuzz,
    mariadb_only,  # noqa: F401 -- this module's db_url
    neutron_shape,
    serve,
)
from tests.network.api_helpers import V2, Net, net_fixture  # noqa: F401


@pytest.mark.fuzz
def test_fuzz_network(net: Net) -> None:
    ids = [n.id for n in net.networks.values()] + [net.external_id()]
    known = {"network_id": ids, "subnet_id": [subnet_id_of(i) for i in ids],
             "alias": ["external-net", "net-mtu"]}
    callers = {"admin": {"X-Auth-Token": net.token("admin")},
               "member of b": {"X-Auth-Token": net.token("bob")}}
    doc = net.client.get(f"{V2}/openapi.json").json()
    check_document(doc, build_api(net.service, net.cloud.identity.tokens))
    with serve(net.client.app) as url:
        fuzz(Fuzz(f"{url}/network", callers, neutron_shape, known), doc)
