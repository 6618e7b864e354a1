"""TURN REST credentials, and Prometheus metrics that carry no ids or names."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from server.turn import client_ice_servers, turn_credentials
from tests.server.conftest import AppClient
from tests.server.test_login import PASSWORD, signup


def test_turn_credentials_match_coturn_scheme() -> None:
    user, cred = turn_credentials("s3cret", "p123", lifetime=600, now=1000)
    assert user == "1600:p123"
    expected = base64.b64encode(hmac.new(b"s3cret", b"1600:p123", hashlib.sha1).digest())
    assert cred == expected.decode()
    _other_user, other_cred = turn_credentials("other", "p123", lifetime=600, now=1000)
    assert other_cred != cred


def test_client_ice_servers_only_turn_gets_credentials() -> None:
    servers = client_ice_servers(("stun:stun.clinic.lan:3478", "turn:turn.clinic.lan:3478"),
                                 "s", "p1")
    assert servers[0] == {"urls": ["stun:stun.clinic.lan:3478"]}
    assert servers[1]["username"].endswith(":p1")
    assert client_ice_servers((), "s", "p1") == []


async def test_metrics_endpoint_has_no_identifying_labels(make_client: AppClient) -> None:
    client = await make_client()
    name = await signup(client)
    await client.post("/api/login", json={"username": name, "password": PASSWORD})
    await client.post("/api/login", json={"username": name, "password": "wrong password!"})
    body = await (await client.get("/metrics")).text()
    assert "hearth_signaling_events_total" in body
    assert "hearth_media_forwarded_packets_total 0.0" in body
    assert "hearth_connections 0.0" in body
    assert "hearth_media_downlink_bps_gcount 0.0" in body
    labels = set(re.findall(r'(\w+)="', body))
    assert labels <= {"event", "outcome", "code", "cause", "le", "layer", "direction"}
    assert name not in body
