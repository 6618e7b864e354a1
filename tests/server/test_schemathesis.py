"""Schemathesis against the served OpenAPI document: no 5xx, invalid bodies get 4xx.

The server runs on its own loop in a thread (schemathesis drives sync HTTP), with a
signed-in therapist so authenticated routes are exercised too.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from server.app import create_app
from server.appkeys import ACCOUNTS
from server.config import load_settings
from testkit.servers import free_port

PASSWORD = "a perfectly long password"


class ThreadServer:
    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = create_app(load_settings({}, {
            "data_dir": data_dir, "public_url": self.url, "tls": False}))
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.ready.wait(20)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.runner = web.AppRunner(self.app)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", self.port)
        self.loop.run_until_complete(site.start())
        self.loop.run_until_complete(self.app[ACCOUNTS].create("dr.fuzz", PASSWORD))
        self.ready.set()
        self.loop.run_forever()

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadServer]:
    s = ThreadServer(tmp_path_factory.mktemp("fuzz"))
    yield s
    s.stop()


@pytest.fixture(scope="module")
def cookie(server: ThreadServer) -> str:
    r = requests.post(f"{server.url}/api/login", json={"username": "dr.fuzz",
                                                        "password": PASSWORD}, timeout=10)
    assert r.status_code == 200
    return str(r.cookies["hearth_login"])


@pytest.fixture(scope="module")
def api_schema(server: ThreadServer) -> Any:
    return schemathesis.openapi.from_url(f"{server.url}/api/openapi.json")


def real_ids(server: ThreadServer, cookie: str) -> dict[str, str]:
    """A session and participant of the fuzzing therapist, so fuzzed bodies reach the domain."""
    headers = {"Cookie": f"hearth_login={cookie}"}
    sid = requests.post(f"{server.url}/api/sessions", json={"title": "fuzz"}, headers=headers,
                        timeout=10).json()["ok"]["id"]
    pid = requests.post(f"{server.url}/api/sessions/{sid}/participants", headers=headers,
                        json={"display_name": "P", "role": "parent"},
                        timeout=10).json()["ok"]["participant_id"]
    home = requests.post(f"{server.url}/api/households", headers=headers, timeout=10, json={
        "label": "F", "members": [{"name": "M", "role": "client"}]}).json()["ok"]
    series = requests.post(f"{server.url}/api/series", headers=headers, timeout=10, json={
        "household_id": home["id"], "weekdays": [0], "start_time": "19:00",
        "first_date": "2027-01-04", "count": 3}).json()["ok"]
    me = requests.get(f"{server.url}/api/me", headers=headers, timeout=10).json()["ok"]
    return {"session_id": sid, "participant_id": pid, "hid": home["id"], "sid": series["id"],
            "mid": home["members"][0]["id"], "index": "1", "account_id": me["account_id"],
            "household_id": home["id"], "pid": "default-couples",
            "note_id": "0000000000000000"}


@pytest.mark.timeout(600)  # some 60 operations x 20 examples on a loaded host
def test_api_never_errors(api_schema: Any, cookie: str, server: ThreadServer) -> None:
    """Every documented operation, fuzzed (valid and invalid inputs): never a 5xx."""
    ids = real_ids(server, cookie)
    checked = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        if operation.path == "/api/logout":
            continue  # would end the fuzzing session's own sign-in

        @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE)
               | operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
        @settings(max_examples=20, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def fuzz(case: Any) -> None:
            if (case.path_parameters and case.body is not None) or case.method == "GET":
                for name in list(case.path_parameters or {}):
                    case.path_parameters[name] = ids[name]
            response = case.call(headers={"Cookie": f"hearth_login={cookie}"}, timeout=10)
            assert response.status_code < 500, (case.operation.path, response.text)

        fuzz()
        checked += 1
    assert checked >= 10
