"""SDP facts the relay reads: payload types, sources, announced SSRCs (pure)."""

from __future__ import annotations

from types import SimpleNamespace as NS

import pytest

from media.errors import MediaError
from media.sdp import announced_ssrcs, check_publish, default_source, has_candidates, payload_types


def codec(mime: str, pt: int, apt: int | None = None) -> NS:
    return NS(mimeType=mime, payloadType=pt, parameters={} if apt is None else {"apt": apt})


def test_payload_types_pair_rtx_by_apt() -> None:
    codecs = [codec("video/VP8", 96), codec("video/rtx", 98, apt=100), codec("video/rtx", 97, 96)]
    assert payload_types(codecs) == (96, 97)
    assert payload_types([codec("audio/opus", 111)]) == (111, None)


def test_default_sources() -> None:
    assert [default_source("audio", 0), default_source("video", 0),
            default_source("video", 1)] == ["mic", "camera", "screen"]


def test_announced_ssrcs_prefer_the_fid_group() -> None:
    fid = NS(semantic="FID", items=["11", "22"])
    assert announced_ssrcs(NS(ssrc_group=[fid], ssrc=[NS(ssrc=33)])) == (11, 22)
    assert announced_ssrcs(NS(ssrc_group=[], ssrc=[NS(ssrc=33)])) == (33, None)
    assert announced_ssrcs(NS(ssrc_group=[], ssrc=[])) == (None, None)


def m(kind: str, mid: str) -> NS:
    return NS(kind=kind, rtp=NS(muxId=mid))


def test_publish_sources_must_match_an_mline_of_their_kind() -> None:
    media = [m("audio", "0"), m("video", "1")]
    check_publish(media, {"0": "mic", "1": "camera"})
    for sources in ({"0": "camera"}, {"1": "radio"}, {"9": "mic"}):
        with pytest.raises(MediaError) as err:
            check_publish(media, sources)
        assert err.value.code == "bad_source"
    with pytest.raises(MediaError) as err:
        check_publish([m("application", "0")], {})
    assert err.value.code == "bad_sdp"


def test_has_candidates() -> None:
    assert has_candidates("v=0\r\na=candidate:1 1 udp 1 127.0.0.1 5000 typ host\r\n")
    assert not has_candidates("v=0\r\n")
