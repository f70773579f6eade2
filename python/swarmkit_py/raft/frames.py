"""Length-prefixed frames between nodes: 4-byte big-endian length, 1-byte kind,
payload. The decoder never raises on bad input except `FrameError`, which the
transport answers by closing that one connection."""

from __future__ import annotations

import struct

KIND_RAFT = 1
# First frame on a connection: msgpack {"id": sender's raft ID, "addr": its address}.
KIND_HELLO = 2
MAX_FRAME_BYTES = 512 * 1024 * 1024
_HEADER = struct.Struct(">IB")


class FrameError(Exception):
    """The peer sent something that is not a valid frame."""


def encode(kind: int, payload: bytes) -> bytes:
    return _HEADER.pack(len(payload) + 1, kind) + payload


class FrameDecoder:
    """Accumulates bytes and yields complete `(kind, payload)` frames."""

    def __init__(self, max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        self._buf = bytearray()
        self._max = max_frame_bytes

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self._buf += data
        frames: list[tuple[int, bytes]] = []
        buf = self._buf
        pos = 0
        end = len(buf)
        while end - pos >= 4:
            (length,) = struct.unpack_from(">I", buf, pos)
            if length == 0:
                raise FrameError("frame of length 0")
            if length > self._max:
                raise FrameError(f"frame of {length} bytes exceeds the {self._max}-byte limit")
            if end - pos - 4 < length:
                break
            kind = buf[pos + 4]
            frames.append((kind, bytes(buf[pos + 5 : pos + 4 + length])))
            pos += 4 + length
        if pos:
            del buf[:pos]
        return frames
