"""Seeded, process-independent hashing: every random choice in the pipeline is one of these.

Python's `hash()` is salted per process, so it must never decide anything. xxh3 is stable across
platforms and versions of the xxhash package.
"""

from __future__ import annotations

import hashlib

import xxhash

_SEP = b"\x1f"


def hash64(seed: int, *parts: str | int) -> int:
    """Unsigned 64-bit hash of (seed, parts...)."""
    data = _SEP.join(str(p).encode("utf-8") for p in parts)
    return xxhash.xxh3_64_intdigest(data, seed=seed & 0xFFFFFFFFFFFFFFFF)


def unit_interval(seed: int, *parts: str | int) -> float:
    """A deterministic number in [0, 1) for (seed, parts...)."""
    return hash64(seed, *parts) / 2.0**64


def doc_key(doc_id: str) -> int:
    """64-bit key of a document id, used where shuffles should carry compact keys, not documents."""
    return xxhash.xxh3_64_intdigest(doc_id.encode("utf-8"))


def content_hash(text: str) -> str:
    """128-bit hex digest of a (normalized) text, for exact dedup."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()
