"""The startup self-test finds every private name the relay relies on, and names what is missing."""

from __future__ import annotations

import aioice.ice
import pytest
from aiortc.rtcrtpsender import RTCRtpSender

from media.errors import MediaError
from media.selftest import check_internals, check_internals_async


def test_internals_present() -> None:
    check_internals()


async def test_internals_present_inside_a_loop() -> None:
    await check_internals_async()


def test_missing_sender_hook_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(RTCRtpSender, "_retransmit")
    with pytest.raises(MediaError) as err:
        check_internals()
    assert err.value.code == "internals_changed"
    assert "RTCRtpSender._retransmit" in str(err.value)


def test_changed_signature_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    async def get_component_candidates(self: object, addresses: list[str]) -> None:
        return None

    monkeypatch.setattr(aioice.ice.Connection, "get_component_candidates",
                        get_component_candidates)
    with pytest.raises(MediaError) as err:
        check_internals()
    assert "get_component_candidates" in str(err.value)


def test_version_drift_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    import media.selftest as st

    monkeypatch.setitem(st.EXPECTED_VERSIONS, "aiortc", "0.0.1")
    with pytest.raises(MediaError, match=r"aiortc is 1\.16\.0"):
        check_internals()
