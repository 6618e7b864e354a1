"""A fake camera that costs what a real one does: a solid colour (the person, read at
the centre of a tile) under a textured band that moves every frame, so the encoder
has real work at every layer and a layer's bit rate is not a solid colour's few
kbit/s. Chromium loops the file (``--use-file-for-fake-video-capture``)."""

from __future__ import annotations

import random
from pathlib import Path


def moving_y4m(path: Path, rgb: tuple[int, int, int], *, width: int = 1280,
               height: int = 720, fps: int = 10, frames: int = 20, block: int = 16) -> Path:
    """The top quarter is grey blocks of ``block`` pixels sliding sideways by one
    ``width / frames`` step per frame (seamless over the loop); the rest is ``rgb``
    (BT.601 limited range, 4:2:0)."""
    r, g, b = rgb
    y = round(16 + (65.738 * r + 129.057 * g + 25.064 * b) / 256)
    cb = round(128 + (-37.945 * r - 74.494 * g + 112.439 * b) / 256)
    cr = round(128 + (112.439 * r - 94.154 * g - 18.285 * b) / 256)
    band = (height // 4) // block * block
    rng = random.Random(1)
    # One texture row per block row, twice the width so that a shifted window wraps.
    rows = []
    for _ in range(band // block):
        row = b"".join(bytes([rng.randrange(40, 220)]) * block for _ in range(width // block))
        rows.append(row + row)
    solid = bytes([y]) * (width * (height - band))
    chroma = bytes([cb]) * (width * height // 4) + bytes([cr]) * (width * height // 4)
    step = width // frames
    with path.open("wb") as fh:
        fh.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for i in range(frames):
            shift = i * step
            top = b"".join(row[shift:shift + width] * block for row in rows)
            fh.write(b"FRAME\n" + top + solid + chroma)
    return path
