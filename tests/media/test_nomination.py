"""The relay nominates one candidate pair when it is the controlling agent (its
subscribe leg), so the browser selects the pair the relay sends on."""

from __future__ import annotations

from aioice import stun
from aioice.candidate import Candidate
from aioice.ice import CandidatePair

from media import ice
from testkit.rtc import new_pc


def _pair(conn: object) -> CandidatePair:
    local = Candidate(foundation="1", component=1, transport="udp", priority=1,
                      host="127.0.0.1", port=5000, type="host")
    remote = Candidate(foundation="2", component=1, transport="udp", priority=1,
                       host="127.0.0.1", port=6000, type="host")
    protocol = type("P", (), {"local_candidate": local})()
    return CandidatePair(protocol, remote)  # type: ignore[arg-type]


async def test_controlling_checks_carry_no_use_candidate_until_one_pair_is_chosen() -> None:
    pc = new_pc()
    try:
        pc.addTransceiver("video", direction="sendonly")
        conn = ice._connections(pc)[0]
        conn.ice_controlling = True
        conn.remote_username, conn.remote_password = "u", "p"
        # aioice's own choice: every check nominates (aggressive nomination)
        assert "USE-CANDIDATE" in conn.build_request(
            _pair(conn), nominate=conn.ice_controlling and not conn.remote_is_lite
        ).attributes
        ice.nominate_once(pc)
        conn.remote_is_lite = False  # what aiortc assigns from a browser's answer
        nominate = conn.ice_controlling and not conn.remote_is_lite  # as check_start
        request = conn.build_request(_pair(conn), nominate=nominate)
        assert request.message_method == stun.Method.BINDING
        assert "USE-CANDIDATE" not in request.attributes
        ice.nominate_once(pc)  # idempotent
        assert conn.remote_is_lite
    finally:
        await pc.close()
