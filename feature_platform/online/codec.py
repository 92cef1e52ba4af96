"""Encoding of a stored feature row's values.

A view's values for one entity are stored as ONE msgpack map ``{feature_name: value}``
(field ``v`` of the entity's hash). Names are stored so that adding or removing a feature
needs no rewrite of old values (a feature missing from an old value reads as NOT_FOUND).
Types: int64 -> msgpack int, float64 -> float 64, string -> str, bool -> bool, null -> nil,
timestamp -> msgpack Timestamp extension (-1), read back as UTC ``datetime``. A map whose
encoding exceeds :data:`COMPRESS_THRESHOLD` bytes is stored as the byte ``0xc1`` followed
by its zlib (level 1) compression; ``0xc1`` is the one byte msgpack never uses, so the
two forms cannot be confused.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any

import msgpack

COMPRESS_THRESHOLD = 1024
COMPRESSED_MARKER = 0xC1
_MARKER_BYTE = bytes([COMPRESSED_MARKER])


def encode_values(values: Mapping[str, object], compress_above: int = COMPRESS_THRESHOLD) -> bytes:
    """The stored form of one row's feature values (compressed above ``compress_above`` bytes)."""
    blob: bytes = msgpack.packb(values, datetime=True)
    if len(blob) > compress_above:
        return _MARKER_BYTE + zlib.compress(blob, 1)
    return blob


def decode_values(blob: bytes) -> dict[str, Any]:
    """The feature values of a stored blob (the inverse of :func:`encode_values`)."""
    if blob[0] == COMPRESSED_MARKER:
        blob = zlib.decompress(blob[1:])
    return msgpack.unpackb(blob, timestamp=3)
