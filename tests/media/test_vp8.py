"""VP8 payload descriptor numbering across layer switches (pure)."""

from __future__ import annotations

from media.vp8 import Vp8Munger, ids, rewrite


def descriptor(pid: int | None, tl0: int | None = None, wide: bool = True,
               tid: bool = False) -> bytes:
    """X=1 descriptor (S=1, partition 0) with the given fields, then a keyframe tag."""
    x = (0x80 if pid is not None else 0) | (0x40 if tl0 is not None else 0) | \
        (0x20 if tid else 0)
    out = bytearray([0x90, x])
    if pid is not None:
        out += bytes([0x80 | (pid >> 8), pid & 0xFF]) if wide else bytes([pid & 0x7F])
    if tl0 is not None:
        out.append(tl0)
    if tid:
        out.append(0x40)
    return bytes(out) + b"\x00payload"


def test_ids_read_both_widths_and_tl0() -> None:
    assert ids(descriptor(0x1234, 7), 0) == (0x1234, 15, 7)
    assert ids(descriptor(100, None, wide=False), 0) == (100, 7, -1)
    assert ids(descriptor(None, 9), 0) == (-1, 0, 9)
    assert ids(b"\x10\x00", 0) == (-1, 0, -1)  # no X byte
    assert ids(b"\x90", 0) == (-1, 0, -1)  # truncated


def test_rewrite_moves_only_the_numbers_and_wraps_in_each_width() -> None:
    data = b"head" + descriptor(0x7FFE, 0xFF, tid=True)
    out = rewrite(data, 4, 3, 2)
    assert ids(out, 0) == (1, 15, 1)  # 0x7FFE + 3 wraps to 1; 0xFF + 2 to 1
    assert out[0] == 0x90
    assert out[-8:] == b"\x00payload"
    assert out[5] == 0x40  # TID byte untouched
    short = descriptor(126, None, wide=False)
    assert ids(rewrite(short, 0, 5, 0), 0) == (3, 7, -1)
    plain = b"\x10\x00frame"
    assert rewrite(plain, 0, 9, 9) == plain


def test_a_switch_continues_the_numbers_sent() -> None:
    m = Vp8Munger()
    assert m.start(descriptor(500, 20), 0) is False  # first source: nothing to continue
    m.leave(descriptor(510, 25), 0)  # the old layer's last packet as sent
    assert m.resume
    assert m.start(descriptor(32000, 250), 0) is True
    assert not m.resume
    assert ids(m.payload(descriptor(32000, 250), 0), 0) == (511, 15, 26)
    # the new layer wraps its own 15-bit and 8-bit counters; the output follows
    assert ids(m.payload(descriptor(5, 3), 0), 0) == ((511 + 5 + 0x8000 - 32000) % 0x8000,
                                                      15, (26 + 3 + 256 - 250) % 256)


def test_switching_back_continues_from_the_rewritten_numbers() -> None:
    m = Vp8Munger()
    m.start(descriptor(100, 1), 0)
    m.leave(descriptor(110, 4), 0)
    m.start(descriptor(0x7FFF, 0xFF), 0)  # the second layer, numbers about to wrap
    sent = ids(m.payload(descriptor(2, 1), 0), 0)  # after its wrap
    m.leave(descriptor(2, 1), 0)
    assert (m.last_pid, m.last_tl0) == (sent[0], sent[2])
    assert m.start(descriptor(120, 5), 0)
    assert ids(m.payload(descriptor(120, 5), 0), 0) == ((sent[0] + 1) % 0x8000, 15,
                                                        (sent[2] + 1) % 256)


def test_offsets_that_happen_to_be_zero_need_no_rewrite() -> None:
    m = Vp8Munger()
    m.leave(descriptor(41, 9), 0)
    assert m.start(descriptor(42, 10), 0) is False
    m.reset()
    assert (m.last_pid, m.last_tl0, m.active, m.resume) == (-1, -1, False, False)


def test_the_fast_path_agrees_with_rewrite() -> None:
    m = Vp8Munger()
    m.pid_offset, m.tl0_offset = 0x7F00, 200
    for data in (descriptor(0x7FFE, 0xFF), descriptor(3, None), descriptor(9, 1, tid=True),
                 descriptor(100, 5, wide=False), descriptor(None, 5), b"\x10\x00frame"):
        assert m.payload(b"xx" + data, 2) == rewrite(b"xx" + data, 2, 0x7F00, 200)
