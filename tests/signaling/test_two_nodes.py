"""Two Hearth processes sharing one store: a removal on one is enforced on the other."""

from __future__ import annotations

from pathlib import Path

import pytest

from testkit.live import start_live
from testkit.servers import RedisServer


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
async def test_removed_link_refused_on_another_node(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = None
    if backend == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        url = server.fresh_url()
    node_a = await start_live(tmp_path, backend, url)
    # Same data dir or Redis, and one public URL for both, as behind a proxy.
    node_b = await start_live(tmp_path, backend, url, public_url=node_a.url)
    try:
        dr = await node_a.therapist()
        sid = await dr.session()
        a_id, a_tok = await dr.add(sid, "Ex", "partner")
        t = await node_a.client(await dr.join_token(sid))
        await t.ok("join", {"consent_version": "v"})
        await t.ok("remove", {"participant_id": a_id})
        late = await node_b.client(a_tok, connect=False)
        assert await late.refused() == "revoked"
        # Ending on node A ends the session for links presented to node B too.
        _, b_tok = await dr.add(sid, "Other", "client")
        await t.ok("end_session")
        other = await node_b.client(b_tok, connect=False)
        assert await other.refused() == "session_ended"
        await dr.close()
    finally:
        await node_a.close()
        await node_b.close()
