"""Headers on every response (404s included), no server version, no caching of API
answers, and /metrics only for the bearer token (or this machine when none is set)."""

from __future__ import annotations

from tests.server.conftest import AppClient

SECURITY = ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy",
            "X-Frame-Options", "Permissions-Policy")


async def test_every_response_carries_the_security_headers(make_client: AppClient) -> None:
    client = await make_client()
    for path in ("/", "/join", "/static/join.js", "/no/such/page", "/static/missing.js",
                 "/api/no-such-route", "/api/sessions", "/healthz"):
        resp = await client.get(path)
        for header in SECURITY:
            assert header in resp.headers, (path, resp.status, header)
        assert resp.headers["Server"] == "Hearth", path  # no Python or aiohttp version
        if path.startswith("/api/"):
            assert resp.headers["Cache-Control"] == "no-store", path
    assert (await client.get("/no/such/page")).status == 404


async def test_metrics_need_the_bearer_token(make_client: AppClient) -> None:
    client = await make_client(metrics_token="s3cret-metrics-token-0123456789")
    assert (await client.get("/metrics")).status == 401
    wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401
    ok = await client.get("/metrics",
                          headers={"Authorization": "Bearer s3cret-metrics-token-0123456789"})
    assert ok.status == 200
    assert "hearth_" in await ok.text()


async def test_metrics_without_a_token_only_for_this_machine(make_client: AppClient) -> None:
    client = await make_client()
    assert (await client.get("/metrics")).status == 200  # loopback scraper
    proxied = await client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.5"})
    assert proxied.status == 401  # came through a proxy from elsewhere
