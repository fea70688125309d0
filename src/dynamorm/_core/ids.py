"""Random identifiers without the ``uuid`` module (its import loads ``platform`` and compiles
its regular expressions: a few milliseconds of every cold start that writes)."""

from __future__ import annotations

import os


def random_uuid() -> str:
    """A random (version 4) UUID in its canonical text form, from ``os.urandom``."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
