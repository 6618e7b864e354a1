"""Simulcast through the relay in real Chromium, with the relay in this process so the
test can steer it: a camera published as three VP8 layers arrives at the relay as
three streams, and a viewer receives exactly the layer ``Subscription.set_target``
picks (its decoded frame height follows), switching on a keyframe without a freeze.
No decode, depacketize or encode path of aiortc is entered for the relay's objects.

The pages speak to the relay over a tiny HTTP API served by aiohttp from the relay's
own event loop (in a background thread: sync Playwright owns this one).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest
from aiohttp import web
from aiortc.rtcrtpreceiver import RTCRtpReceiver
from playwright.sync_api import Page

from media.config import RelayConfig
from media.relay import Relay
from tests.web.conftest import launch, wait_js

T = TypeVar("T")

PAGE = """<!doctype html><meta charset="utf-8"><title>simulcast</title>
<video id="v" autoplay muted playsinline width="1280" height="720"></video>
<script>
async function call(path, body) {
  const r = await fetch(path, {method: "POST", body: JSON.stringify(body)});
  if (!r.ok) throw new Error(await r.text());
  return r.json();
}
function gathered(pc) {
  return new Promise((ok) => {
    if (pc.iceGatheringState === "complete") return ok();
    pc.addEventListener("icegatheringstatechange",
      () => pc.iceGatheringState === "complete" && ok());
  });
}
async function publish(pid) {
  const join = await call("/join", {pid});
  const stream = await navigator.mediaDevices.getUserMedia(
    {video: {width: 1280, height: 720, frameRate: 15}});
  const pc = new RTCPeerConnection({iceServers: []});
  const t = pc.addTransceiver(stream.getVideoTracks()[0], {direction: "sendonly",
    sendEncodings: join.simulcast.map((l) => ({...l, scalabilityMode: "L1T1"}))});
  const vp8 = RTCRtpSender.getCapabilities("video").codecs.filter(
    (c) => /vp8|rtx/i.test(c.mimeType));
  t.setCodecPreferences(vp8);
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  const res = await call("/publish",
    {pid, sdp: pc.localDescription.sdp, sources: {[t.mid]: "camera"}});
  await pc.setRemoteDescription({type: "answer", sdp: res.sdp});
  // a busy test host must not make the encoder shrink the layers' resolutions
  const params = t.sender.getParameters();
  params.degradationPreference = "maintain-resolution";
  await t.sender.setParameters(params).catch(() => null);
  window.pc = pc;
  return join.simulcast.length;
}
async function view(pid) {
  await call("/join", {pid});
  const pc = new RTCPeerConnection({iceServers: []});
  pc.ontrack = (e) => {
    if (e.track.kind !== "video") return;
    const v = document.getElementById("v");
    window.slots = (window.slots || 0) + 1;
    if (!v.srcObject) v.srcObject = new MediaStream([e.track]);
  };
  const offer = await call("/subscribe", {pid});
  await pc.setRemoteDescription({type: "offer", sdp: offer.sdp});
  await pc.setLocalDescription(await pc.createAnswer());
  await gathered(pc);
  await call("/answer", {pid, sdp: pc.localDescription.sdp});
  window.pc = pc;
}
async function inbound() {
  const out = {frameHeight: 0, framesDecoded: 0, freezeCount: 0};
  (await window.pc.getStats()).forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "video" && s.framesDecoded) {
      out.frameHeight = s.frameHeight; out.framesDecoded = s.framesDecoded;
      out.freezeCount = s.freezeCount || 0;
    }
  });
  return out;
}
</script>"""


class Harness:
    """The relay and its HTTP API on a loop of their own."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.relay: Relay = self.run(self._relay())
        self.runner: web.AppRunner = self.run(self._serve())

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    def call(self, fn: Any) -> Any:
        async def wrapped() -> Any:
            return fn()
        return self.run(wrapped())

    async def _relay(self) -> Relay:
        return Relay(RelayConfig(host_addresses=("127.0.0.1",)))

    async def _serve(self) -> web.AppRunner:
        relay = self.relay

        async def page(_: web.Request) -> web.Response:
            return web.Response(text=PAGE, content_type="text/html")

        async def join(req: web.Request) -> web.Response:
            body = await req.json(loads=json.loads)
            return web.json_response(await relay.join("s", body["pid"]))

        async def publish(req: web.Request) -> web.Response:
            b = await req.json()
            sdp = await relay.publish_offer("s", b["pid"], b["sdp"], b["sources"])
            return web.json_response({"sdp": sdp})

        async def subscribe(req: web.Request) -> web.Response:
            b = await req.json()
            return web.json_response({"sdp": await relay.subscribe_offer("s", b["pid"])})

        async def answer(req: web.Request) -> web.Response:
            b = await req.json()
            await relay.subscribe_answer("s", b["pid"], b["sdp"])
            return web.json_response({})

        app = web.Application()
        app.router.add_get("/", page)
        for path, handler in (("/join", join), ("/publish", publish),
                              ("/subscribe", subscribe), ("/answer", answer)):
            app.router.add_post(path, handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = runner.addresses[0][1]
        return runner

    def close(self) -> None:
        self.run(self.relay.close())
        self.run(self.runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def harness(monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    entered: list[int] = []
    original = RTCRtpReceiver._handle_rtp_packet

    async def spy(self: RTCRtpReceiver, packet: Any, arrival_time_ms: int) -> None:
        entered.append(id(self))
        await original(self, packet, arrival_time_ms)

    monkeypatch.setattr(RTCRtpReceiver, "_handle_rtp_packet", spy)
    h = Harness()
    yield h
    h.close()
    assert entered == [], "a relay receiver entered aiortc's depacketize/decode path"


def stats(page: Page) -> dict[str, int]:
    value: dict[str, int] = page.evaluate("inbound()")
    return value


def wait_height(page: Page, want: int, limit: float = 20.0) -> dict[str, int]:
    wait_js(page, f"(async () => (await inbound()).frameHeight === {want})()", limit=limit)
    return stats(page)


@pytest.mark.timeout(240)
def test_viewer_gets_the_layer_the_relay_picks(playwright_instance: object,
                                               harness: Harness) -> None:
    browser = launch(playwright_instance)
    try:
        base = f"http://127.0.0.1:{harness.port}/"
        pub_page = browser.new_context().new_page()
        pub_page.goto(base)
        assert pub_page.evaluate("publish('a')") == 3
        router = harness.relay.routers["s"]
        publisher = router.peers["a"]

        def layer_ssrcs() -> list[int | None]:
            pubs = list(publisher.publications.values())
            return [layer.ssrc for layer in pubs[0].layers] if pubs else []

        deadline = 30
        while deadline and None in (harness.call(layer_ssrcs) or [None]):
            pub_page.wait_for_timeout(1000)
            deadline -= 1
        ssrcs = harness.call(layer_ssrcs)
        assert len(ssrcs) == 3, ssrcs
        assert None not in ssrcs, f"the relay did not receive three layers: {ssrcs}"
        pub = next(iter(publisher.publications.values()))
        assert [layer.rid for layer in pub.layers] == ["q", "h", "f"]

        view_page = browser.new_context().new_page()
        view_page.goto(base)
        view_page.evaluate("view('v')")
        harness.call(lambda: harness.relay.set_visible("s", "v", ["a"]))
        viewer = router.peers["v"]
        sub = next(s for s in viewer.subscriptions
                   if s.kind == "video" and s.publication is not None)
        # no tile size known: the lowest layer
        first = wait_height(view_page, 180, 30)
        assert harness.call(lambda: sub.layer.rid) == "q"
        for index, height in ((2, 720), (1, 360), (0, 180)):
            harness.call(lambda i=index: sub.set_target(i))  # type: ignore[misc]
            wait_height(view_page, height)
        wait_js(view_page, f"(async () => (await inbound()).framesDecoded > "
                           f"{first['framesDecoded'] + 30})()")
        metrics = harness.call(router.metrics)
        assert metrics["layer_switches_up"] >= 1
        assert metrics["layer_switches_down"] >= 2
        assert metrics["layer_packets_f"] > 0
        # paused for bandwidth: nothing more is decoded; resumed: it decodes again
        harness.call(lambda: sub.set_target(None))
        view_page.wait_for_timeout(1000)
        paused_at = stats(view_page)["framesDecoded"]
        view_page.wait_for_timeout(1500)
        assert stats(view_page)["framesDecoded"] == paused_at
        harness.call(lambda: sub.set_target(1))
        wait_js(view_page, f"(async () => (await inbound()).framesDecoded > {paused_at + 5})()")
    finally:
        browser.close()
