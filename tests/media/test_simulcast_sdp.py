"""The publish answer: which simulcast RIDs an offer may send, the receive side
added to aiortc's answer, and Opus in-band FEC (pure text work, no aiortc)."""

from __future__ import annotations

import pytest

from media.errors import MediaError
from media.sdp import REPAIRED_RID_URI, RID_URI, opus_fec, simulcast_answer, simulcast_offer

RIDS = ("q", "h", "f")


def offer(simulcast: str = "a=simulcast:send q;h;f", rids: tuple[str, ...] = RIDS,
          rid_ext: bool = True) -> str:
    lines = [
        "v=0", "o=- 1 2 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0 1",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111", "a=mid:0", "a=sendonly",
        "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid", "a=rtpmap:111 opus/48000/2",
        "m=video 9 UDP/TLS/RTP/SAVPF 96 97", "a=mid:1", "a=sendonly",
        "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
    ]
    if rid_ext:
        lines += [f"a=extmap:10 {RID_URI}", f"a=extmap:11 {REPAIRED_RID_URI}"]
    lines += ["a=rtpmap:96 VP8/90000", "a=rtpmap:97 rtx/90000", "a=fmtp:97 apt=96"]
    lines += [f"a=rid:{r} send" for r in rids]
    if simulcast:
        lines.append(simulcast)
    return "\r\n".join(lines) + "\r\n"


ANSWER = "\r\n".join([
    "v=0", "o=- 3 4 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0 1",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111", "c=IN IP4 127.0.0.1", "a=recvonly", "a=mid:0",
    "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid", "a=rtpmap:111 opus/48000/2",
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97", "c=IN IP4 127.0.0.1", "a=recvonly", "a=mid:1",
    "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid", "a=rtpmap:96 VP8/90000",
    "a=rtpmap:97 rtx/90000", "a=fmtp:97 apt=96",
]) + "\r\n"


def section(sdp: str, index: int) -> list[str]:
    return [line for line in sdp.split("m=")[index + 1].split("\r\n") if line]


def test_offer_names_its_layers_in_the_relays_order() -> None:
    sims = simulcast_offer(offer("a=simulcast:send f;h;q"), RIDS)
    assert list(sims) == ["1"]
    sim = sims["1"]
    assert (sim.rids, sim.rid_ext, sim.repaired_rid_ext) == (("q", "h", "f"), 10, 11)


def test_paused_and_alternative_rids_count_by_their_first_name() -> None:
    sims = simulcast_offer(offer("a=simulcast:send ~q;h,x;f recv z"), RIDS)
    assert sims["1"].rids == ("q", "h", "f")


def test_fewer_layers_than_configured_are_taken() -> None:
    assert simulcast_offer(offer("a=simulcast:send q;h", rids=("q", "h")), RIDS)["1"].rids \
        == ("q", "h")


def test_no_simulcast_line_is_a_single_layer() -> None:
    assert simulcast_offer(offer(simulcast=""), RIDS) == {}


@pytest.mark.parametrize("line", [
    "a=simulcast:send q;h;f;x",  # a layer the relay does not know (and one too many)
    "a=simulcast:send q;q",  # the same layer twice
    "a=simulcast:send ",  # nothing to send
])
def test_unknown_or_extra_layers_are_refused(line: str) -> None:
    with pytest.raises(MediaError) as err:
        simulcast_offer(offer(line), RIDS)
    assert err.value.code == "bad_simulcast"


def test_simulcast_needs_the_rid_extension() -> None:
    with pytest.raises(MediaError) as err:
        simulcast_offer(offer(rid_ext=False), RIDS)
    assert err.value.code == "bad_simulcast"


def test_simulcast_offered_while_off_is_refused() -> None:
    with pytest.raises(MediaError) as err:
        simulcast_offer(offer(), ())
    assert err.value.code == "bad_simulcast"


def test_answer_gains_the_receive_side_of_the_video_section_only() -> None:
    out = simulcast_answer(ANSWER, simulcast_offer(offer(), RIDS))
    audio, video = section(out, 0), section(out, 1)
    assert section(ANSWER, 0) == audio
    assert f"a=extmap:10 {RID_URI}" in video
    assert f"a=extmap:11 {REPAIRED_RID_URI}" in video
    # the extensions join aiortc's own, the RIDs and simulcast close the section
    assert video.index(f"a=extmap:10 {RID_URI}") == \
        video.index("a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid") + 1
    assert video[-4:] == ["a=rid:q recv", "a=rid:h recv", "a=rid:f recv",
                          "a=simulcast:recv q;h;f"]
    assert out.endswith("\r\n")
    assert "\r\n\r\n" not in out
    assert [line for line in ANSWER.split("\r\n") if line] == \
        [line for line in out.split("\r\n") if line and "rid:" not in line
         and "stream-id" not in line
         and "simulcast" not in line]


def test_answer_without_simulcast_is_unchanged() -> None:
    assert simulcast_answer(ANSWER, {}) == ANSWER


def test_the_answer_asks_for_opus_in_band_fec_on_the_audio_section_only() -> None:
    out = opus_fec(ANSWER)
    audio, video = section(out, 0), section(out, 1)
    assert audio[audio.index("a=rtpmap:111 opus/48000/2") + 1] == \
        "a=fmtp:111 minptime=10;useinbandfec=1"
    assert video == section(ANSWER, 1)
    assert out.endswith("\r\n")
    assert "\r\n\r\n" not in out
    assert opus_fec(out) == out  # asked once


def test_opus_parameters_already_there_gain_fec_and_keep_their_own() -> None:
    answer = ANSWER.replace("a=rtpmap:111 opus/48000/2\r\n",
                            "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 stereo=1\r\n")
    assert "a=fmtp:111 stereo=1;useinbandfec=1" in section(opus_fec(answer), 0)
    kept = answer.replace("stereo=1", "useinbandfec=0")
    assert opus_fec(kept) == kept  # a choice already made is left alone
