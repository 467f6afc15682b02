"""The images behind the join and feedback imagemaps, drawn here so LINE_IMAGEMAP_BASE_URL works without any
static files: LINE fetches ``<base>/<kind>/<width>`` for widths 1040, 700, 460, 300 and 240 and scales the tap area
(the whole square) with it. A plain PNG (no imaging library): a coloured square with a white "play" triangle for
the join link and a white bar for the feedback link."""

from __future__ import annotations

import functools
import struct
import zlib

WIDTHS = (1040, 700, 460, 300, 240)
COLOURS = {"join_link": (6, 199, 85), "feedback_link": (40, 110, 220)}  # LINE green; a calm blue
WHITE = (255, 255, 255)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _inside(kind: str, x: float, y: float) -> bool:
    """Is (x, y), both 0..1, on the white mark?"""
    if kind == "join_link":  # a triangle pointing right, centred
        return 0.38 <= x <= 0.68 and abs(y - 0.5) <= (0.68 - x) * 0.6
    return 0.25 <= x <= 0.75 and 0.45 <= y <= 0.55


@functools.lru_cache(maxsize=16)
def png(kind: str, width: int) -> bytes:
    if kind not in COLOURS or width not in WIDTHS:
        raise KeyError(f"no imagemap image {kind}/{width}")
    rows = bytearray()
    for j in range(width):
        rows.append(0)  # filter: none
        for i in range(width):
            rows += bytes(WHITE if _inside(kind, i / width, j / width) else COLOURS[kind])
    header = struct.pack(">IIBBBBB", width, width, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + _chunk(b"IEND", b"")
    )
