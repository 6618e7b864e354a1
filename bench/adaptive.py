"""Adaptive simulcast as a family feels it, in real Chromium: six people, one of them
(Grandma) on a slow downlink.

Six pages, each publishing a fake camera with a moving band (testkit/camera.py) as
the relay's simulcast layers, and a therapist socket that admits them. Five pages
share one Chromium on the host; Grandma's runs in a network namespace whose link to
the host is limited by a ``tbf`` token bucket (testkit/netns.py). Then:

1. **1 Mbit/s downlink:** per window, every tile on Grandma's page: frames decoded
   per second, the share of the window spent frozen (``totalFreezesDuration``), the
   layer received (``frameHeight``), paused or not;
2. **300 kbit/s downlink:** the bits per second Grandma's page receives against an
   unlimited page's (video and audio ``bytesReceived``, and the whole connection's);
3. **layer switch:** on an unlimited 1920x1080 page in grid view (tiles of 360p), one
   tile shrunk to 80x45 CSS pixels and grown back: from the resize to the first
   decoded frame of the new layer (``requestVideoFrameCallback``; includes the page's
   250 ms debounce of sizes).

A window in which any unlimited page lost a packet is rejected (counted, not turned
into numbers): the figures are about Grandma's link only. Bounded in count and time.
A benchmark: it asserts nothing. Needs root. Writes its section of docs/benchmarks.md.

    .venv/bin/python -m bench.adaptive --repeats 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.doc import pct, replace_section
from testkit.browser import CHROMIUM_ARGS, launch
from testkit.camera import moving_y4m
from testkit.netns import network
from testkit.slowlink import Family, join, lost, received_bps
from testkit.tiles import receiving, window

BEGIN, END = "<!-- adaptive:begin -->", "<!-- adaptive:end -->"
SLOW = "Grandma"
NAMES = ["Alex", "Blair", "Casey", "Dana", "Eli", SLOW]
WINDOW_S = 12.0
SETTLE_S = 12.0

# Every frame a tile decodes: (page ms, frame height), from requestVideoFrameCallback.
WATCH = """(key) => {
  const v = document.querySelector(`#stage figure[data-key="${key}"] video`);
  window.__switchFrames = [];
  const each = (now, meta) => {
    window.__switchFrames.push([now, meta.height]);
    if (window.__switchFrames.length > 5000) window.__switchFrames.splice(0, 2500);
    v.requestVideoFrameCallback(each);
  };
  v.requestVideoFrameCallback(each);
}"""
RESIZE = """([key, w, h]) => {
  const v = document.querySelector(`#stage figure[data-key="${key}"] video`);
  if (w) {
    v.style.setProperty('width', `${w}px`, 'important');
    v.style.setProperty('height', `${h}px`, 'important');
  } else {
    v.style.removeProperty('width');
    v.style.removeProperty('height');
  }
  return performance.now();
}"""
CONNECTION = """async () => {
  let bytes = 0;
  for (const pc of (window.__hearthPcs || [])) {
    if (pc.connectionState === 'closed') continue;
    (await pc.getStats()).forEach((s) => {
      if (s.type === 'candidate-pair' && s.nominated) bytes += s.bytesReceived || 0;
    });
  }
  return [performance.now(), bytes];
}"""


def measure(pages: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any],
                                              dict[str, Any]]:
    """One window: (readings before, after, connection bytes before, after) per page."""
    before = {n: receiving(p) for n, p in pages.items()}
    conn0 = {n: p.evaluate(CONNECTION) for n, p in pages.items()}
    time.sleep(WINDOW_S)
    after = {n: receiving(p) for n, p in pages.items()}
    conn1 = {n: p.evaluate(CONNECTION) for n, p in pages.items()}
    return before, after, conn0, conn1


def clean(pages: dict[str, Any], before: dict[str, Any], after: dict[str, Any]) -> bool:
    """No unlimited page lost a packet in the window."""
    return all(lost(after[n]) == lost(before[n]) for n in pages if n != SLOW)


def switch_times(page: Any, key: str, repeats: int) -> dict[str, list[float]]:
    """Shrink one tile to 80x45 and grow it back ``repeats`` times: ms from each resize
    to the first decoded frame of another height."""
    out: dict[str, list[float]] = {"down": [], "up": [], "missed": []}
    page.evaluate(WATCH, key)
    time.sleep(1.0)
    for _ in range(repeats):
        for way, size in (("down", (80, 45)), ("up", (0, 0))):
            frames = page.evaluate("() => window.__switchFrames")
            height = frames[-1][1] if frames else 0
            at = float(page.evaluate(RESIZE, [key, *size]))
            deadline = time.monotonic() + 15
            took = None
            while time.monotonic() < deadline and took is None:
                time.sleep(0.2)
                new = [t for t, h in page.evaluate("() => window.__switchFrames")
                       if t >= at and h != height]
                took = new[0] - at if new else None
            if took is None:
                out["missed"].append(1.0)
            else:
                out[way].append(took)
            time.sleep(3.0)  # the new layer holds before the next switch
    return out


def run(repeats: int, camera_size: tuple[int, int] = (1280, 720), fps: int = 10
        ) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="hearth-bench-adaptive-"))
    results: dict[str, Any] = {"tiles": [], "bytes": [], "rejected": 0, "switch": {},
                               "load": [], "layers": {},
                               "camera": f"{camera_size[0]}x{camera_size[1]}", "fps": fps}
    from playwright.sync_api import sync_playwright

    with network("ba", 219, "tun") as ns, sync_playwright() as p:
        family = Family(ns, tmp, NAMES)
        browsers = []
        try:
            camera = moving_y4m(tmp / "camera.y4m", (220, 30, 30), width=camera_size[0],
                                height=camera_size[1], fps=fps)
            secure = f"--unsafely-treat-insecure-origin-as-secure={family.server.url}"
            args = [secure, f"--use-file-for-fake-video-capture={camera}"]
            host = launch(p, args)
            browsers.append(host)
            inside = p.chromium.launch(executable_path=ns.chromium(tmp, nice=True),
                                       args=[*CHROMIUM_ARGS, *args])
            browsers.append(inside)
            # the first page is wide enough that its grid tiles take 360p (the switch)
            pages = {n: join(inside if n == SLOW else host, family.links[n],
                             (1920, 1080) if n == NAMES[0] else (1280, 800)) for n in NAMES}
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                if all(sum(1 for t in receiving(pg)["tiles"].values() if t["framesDecoded"]) >= 5
                       for pg in pages.values()):
                    break
                time.sleep(1.0)
            else:
                raise RuntimeError("the six pages never decoded each other")

            def windows(rate: int, keep: Any) -> None:
                ns.limit(rate, down=True)
                time.sleep(SETTLE_S)
                done = attempts = 0
                while done < repeats and attempts < 2 * repeats:
                    attempts += 1
                    results["load"].append(os.getloadavg()[0])
                    before, after, c0, c1 = measure(pages)
                    if not clean(pages, before, after):
                        results["rejected"] += 1
                        continue
                    keep(before, after, c0, c1)
                    done += 1

            def one_mbps(before: Any, after: Any, c0: Any, c1: Any) -> None:
                tiles, _ = window(before[SLOW], after[SLOW])
                for key, t in tiles.items():
                    paused = bool(after[SLOW]["tiles"][key]["paused"])
                    results["tiles"].append({"key": key, "fps": t.fps, "frozen": t.frozen,
                                             "height": t.frame_height, "paused": paused,
                                             "kbps": t.bps / 1000})
                    results["layers"].setdefault(t.frame_height, 0)
                    results["layers"][t.frame_height] += 1

            def limited(before: Any, after: Any, c0: Any, c1: Any) -> None:
                def conn(n: str) -> float:
                    seconds = max(1e-3, (c1[n][0] - c0[n][0]) / 1000)
                    return float((c1[n][1] - c0[n][1]) * 8 / seconds)
                others = [n for n in pages if n != SLOW]
                results["bytes"].append({
                    "slow": received_bps(before[SLOW], after[SLOW]),
                    "others": statistics.median(received_bps(before[n], after[n])
                                                for n in others),
                    "slow_conn": conn(SLOW),
                    "others_conn": statistics.median(conn(n) for n in others)})

            windows(1_000_000, one_mbps)
            windows(300_000, limited)
            ns.limit(None)
            time.sleep(SETTLE_S)
            viewer = pages[NAMES[0]]
            # in grid view: in speaker view the tile could stop being the speaker's
            # between two resizes and get the lowest layer for that reason
            viewer.get_by_role("button", name="Grid view").click()
            time.sleep(SETTLE_S)
            key = next(k for k in receiving(viewer)["tiles"] if k.endswith(":camera"))
            results["switch"] = switch_times(viewer, key, repeats)
        finally:
            for b in browsers:
                b.close()
            family.close()
    return results


def write(results: dict[str, Any], command: str) -> str:
    tiles = results["tiles"]
    shown = [t for t in tiles if not t["paused"]]
    frozen = [t["frozen"] * 100 for t in shown]
    fps = [t["fps"] for t in shown]
    layers = ", ".join(f"{h}p: {n}" for h, n in sorted(results["layers"].items()))
    load = results["load"]

    def ms(values: list[float]) -> str:
        if not values:
            return "— | — | 0"
        return f"{statistics.median(values):.0f} ms | {pct(values, 0.9):.0f} ms | {len(values)}"

    b = results["bytes"]
    ratio = [x["slow"] / x["others"] for x in b if x["others"]]
    conn_ratio = [x["slow_conn"] / x["others_conn"] for x in b if x["others_conn"]]
    sw = results["switch"]
    section = "\n".join([
        BEGIN, "## Adaptive simulcast: a family with one slow downlink (real Chromium)", "",
        f"Command: `{command}` on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, on 2 cores "
        f"(1-minute load average during the windows: "
        f"{min(load, default=0):.1f} to {max(load, default=0):.1f}). Six Chromium pages, "
        f"each publishing a {results['camera']} fake camera with a moving band "
        f"({results['fps']} fps) as the relay's "
        "simulcast layers; five share a Chromium on the host, Grandma's runs in a network "
        "namespace whose downlink is limited by a `tbf` token bucket. "
        f"Windows of {WINDOW_S:.0f} s after {SETTLE_S:.0f} s to settle; a window in which "
        "an unlimited page lost a packet is rejected "
        f"({results['rejected']} rejected).", "",
        "### Grandma on 1 Mbit/s: her five tiles", "",
        f"- tiles decoding: {sum(1 for t in tiles if t['fps'] > 0)} of {len(tiles)} "
        f"tile-windows; paused for bandwidth: {sum(1 for t in tiles if t['paused'])};",
        f"- frames per second of a shown tile: median {statistics.median(fps) if fps else 0:.1f},"
        f" lowest {min(fps, default=0):.1f};",
        f"- time frozen: median {statistics.median(frozen) if frozen else 0:.1f}%, worst "
        f"{max(frozen, default=0):.1f}% of a window; tiles frozen over 5%: "
        f"{sum(1 for f in frozen if f > 5)};",
        f"- layers received (decoded height: tile-windows): {layers or '—'}.", "",
        "### Grandma on 300 kbit/s against the unlimited pages", "",
        "| Received (kbit/s) | Grandma | Unlimited page (median) | Ratio |", "|---|---|---|---|",
        *(f"| media (video + audio), window {i + 1} | {x['slow'] / 1000:.0f} | "
          f"{x['others'] / 1000:.0f} | {x['slow'] / x['others']:.2f} |"
          for i, x in enumerate(b) if x["others"]),
        *(f"| whole connection, window {i + 1} | {x['slow_conn'] / 1000:.0f} | "
          f"{x['others_conn'] / 1000:.0f} | {x['slow_conn'] / x['others_conn']:.2f} |"
          for i, x in enumerate(b) if x["others_conn"]),
        "",
        f"Median ratio: media {statistics.median(ratio) if ratio else 0:.2f}, whole "
        f"connection {statistics.median(conn_ratio) if conn_ratio else 0:.2f}.", "",
        "### Layer switch to the first decoded frame of the new layer", "",
        "| Tile resized (unlimited page, grid view) | Median | p90 | Samples |",
        "|---|---|---|---|",
        f"| to 80x45 (down) | {ms(sw.get('down', []))} |",
        f"| back to its place in the grid (up) | {ms(sw.get('up', []))} |", "",
        f"Switches with no frame of another height within 15 s: {len(sw.get('missed', []))}. "
        "Includes the page's 250 ms debounce before it reports a tile's size.",
        END,
    ])
    replace_section(BEGIN, END, section)
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description="adaptive simulcast with a slow viewer")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--camera", default="1280x720", help="fake camera size, WxH")
    parser.add_argument("--fps", type=int, default=10)
    args = parser.parse_args()
    w, h = (int(x) for x in args.camera.split("x"))
    results = run(max(1, min(args.repeats, 10)), (w, h), max(1, min(args.fps, 30)))
    command = f"python -m bench.adaptive --repeats {args.repeats}"
    if (args.camera, args.fps) != ("1280x720", 10):
        command += f" --camera {args.camera} --fps {args.fps}"
    print(write(results, command))


if __name__ == "__main__":
    main()
