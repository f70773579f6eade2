"""The frame decoder: any chunking of valid frames decodes the same; hostile
bytes raise only FrameError."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from swarmkit_py.raft.frames import FrameDecoder, FrameError, encode

frames_st = st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=300)), max_size=20)


@given(frames_st, st.lists(st.integers(1, 64), min_size=1))
def test_any_chunking_decodes_the_same_frames(
    frames: list[tuple[int, bytes]], cuts: list[int]
) -> None:
    stream = b"".join(encode(k, p) for k, p in frames)
    decoder = FrameDecoder()
    out: list[tuple[int, bytes]] = []
    pos, i = 0, 0
    while pos < len(stream):
        step = cuts[i % len(cuts)]
        out += decoder.feed(stream[pos : pos + step])
        pos += step
        i += 1
    assert out == frames


@given(st.binary(max_size=2000))
def test_hostile_bytes_raise_only_frame_error(data: bytes) -> None:
    decoder = FrameDecoder(max_frame_bytes=1 << 16)
    try:
        decoder.feed(data)
    except FrameError:
        pass
