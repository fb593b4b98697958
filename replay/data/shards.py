"""Token shards in the speedrun's `.bin` format.

A shard is a header of 256 little-endian int32 — ``[0]`` the magic 20240520, ``[1]`` the
version 1, ``[2]`` the number of tokens — followed by that many uint16 tokens. The real
FineWeb shards and the mini track's synthetic corpus share this format, so one loader shape
serves both.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

MAGIC = 20240520
VERSION = 1
HEADER_INTS = 256
HEADER_BYTES = HEADER_INTS * 4


class ShardError(ValueError):
    """A file that is not a valid token shard."""


def write_shard(path: Path, tokens: np.ndarray) -> None:
    """Write ``tokens`` (values < 65536) as a shard, atomically (temp file, then rename)."""
    tokens = np.asarray(tokens)
    if tokens.size and (tokens.min() < 0 or tokens.max() >= 2**16):
        raise ShardError(f"{path}: tokens must fit in uint16")
    header = np.zeros(HEADER_INTS, dtype="<i4")
    header[0], header[1], header[2] = MAGIC, VERSION, tokens.size
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(header.tobytes())
        f.write(tokens.astype("<u2").tobytes())
    os.replace(tmp, path)


def read_header(path: Path) -> int:
    """Validate a shard's header and return its token count."""
    path = Path(path)
    with open(path, "rb") as f:
        raw = f.read(HEADER_BYTES)
    if len(raw) < HEADER_BYTES:
        raise ShardError(f"{path}: shorter than the 1024-byte header")
    header = np.frombuffer(raw, dtype="<i4")
    if header[0] != MAGIC:
        raise ShardError(f"{path}: bad magic {header[0]} (expected {MAGIC})")
    if header[1] != VERSION:
        raise ShardError(f"{path}: unsupported version {header[1]}")
    ntok = int(header[2])
    expected = HEADER_BYTES + 2 * ntok
    if path.stat().st_size != expected:
        raise ShardError(f"{path}: size {path.stat().st_size} != header's {expected} bytes")
    return ntok


def read_shard(path: Path) -> np.ndarray:
    """Return a shard's tokens as a uint16 array."""
    ntok = read_header(path)
    return np.fromfile(path, dtype="<u2", count=ntok, offset=HEADER_BYTES)
