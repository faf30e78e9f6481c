"""Cheap shuffles of whole documents.

A GroupByKey costs more than the bytes it moves: Beam's default coder pickles each `Document` with its
class and every field name, and the FnApiRunner's grouping table decodes and re-encodes every shuffled
value in its one runner process, which is serial however many workers run. `GroupEncoded` shuffles
`(key, value)` as `(key, bytes)`: the value is pickled on the sending worker (a `Document` or `Rejected`
pickles as a tuple of its field values, its scores as indexed names and float64s: `__reduce__` and
`pack_scores` in transforms/document.py), the runner moves opaque bytes, and the grouped side unpickles
lazily while it iterates, each pass anew (GroupByKey results are re-iterable and `fold_group` reads a
group twice), so a hot key is never held decoded; a small group is unpickled once.

Measured on 5,000 kept documents of the 20 MB benchmark corpus (mean text 1,301 characters): Beam's
default coder 5.9 us to encode a Document and 9.3 us to decode it (2,156 bytes); the field tuple 4.1 us
and 5.5 us (1,922 bytes).

A pickled value of at least COMPRESS_MIN_BYTES crosses the shuffle zstd-compressed (level 1, Arrow's
codec; pyarrow is a dependency anyway) when that makes it smaller: the whole-document shuffles are the
pipeline's largest (raw WARC HTML at the id and URL groups, text later), shuffle services bill by the
byte, and compression runs on the sending and receiving workers, in parallel, never in the runner.
Format: a pickle (protocol 5 starts with 0x80), or b"Z" + the pickle's length (8 bytes, little endian)
+ its zstd frame. `decode_value` reads both, so whether values are compressed is the sender's choice.

Compression is for shuffles that move bytes between machines (Dataflow's shuffle service bills them;
Flink spills and sends them). A local run's shuffles are lists in the runner's memory, where zstd is
CPU spent for nothing: the transforms take `compress` (default True) and the graph turns it off on
Beam's local runner (pipeline/graph.py: `compress_shuffles`). On the 100 MB benchmark's curated
documents, the encoding took 0.46 s with compression and 0.13 s without, per whole-document shuffle.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
import pyarrow as pa

_PROTOCOL = 5
COMPRESS_MIN_BYTES = 8192
_ZSTD = b"Z"
_HEADER = len(_ZSTD) + 8          # the marker and the pickle's length
_CODEC = pa.Codec("zstd", compression_level=1)


def encode_value(value: Any, compress: bool = True) -> bytes:
    data = pickle.dumps(value, protocol=_PROTOCOL)
    if not compress or len(data) < COMPRESS_MIN_BYTES:
        return data
    packed = _CODEC.compress(data, asbytes=True)
    if len(packed) + _HEADER >= len(data):  # incompressible (token ids, already-compressed bytes): as it is
        return data
    return _ZSTD + len(data).to_bytes(8, "little") + packed


def decode_value(data: bytes) -> Any:
    if data[:1] != _ZSTD:
        return pickle.loads(data)
    size = int.from_bytes(data[1:_HEADER], "little")
    return pickle.loads(_CODEC.decompress(memoryview(data)[_HEADER:], decompressed_size=size, asbytes=True))


SMALL_GROUP = 16


class DecodedValues:
    """A re-iterable view of a group's pickled values. A small group (at most SMALL_GROUP values, when the
    runner hands over a sized collection: most groups hold one document) is unpickled once and kept;
    a larger one is unpickled anew on each pass, so a hot key is never held decoded."""

    __slots__ = ("_values", "_decoded")

    def __init__(self, values: Iterable[bytes]) -> None:
        self._values = values
        try:
            small = len(values) <= SMALL_GROUP  # type: ignore[arg-type]
        except TypeError:  # a lazily fetched (state-backed) iterable: large by construction
            small = False
        self._decoded = [decode_value(v) for v in values] if small else None

    def __iter__(self) -> Iterator[Any]:
        if self._decoded is not None:
            return iter(self._decoded)
        return map(decode_value, self._values)


def encode_pair(kv: tuple[Any, Any], compress: bool = True) -> tuple[Any, bytes]:
    """(key, value) -> (key, `encode_value(value)`): what a shuffle of pickled values is fed."""
    return kv[0], encode_value(kv[1], compress)


def decoded_group(kv: tuple[Any, Iterable[bytes]]) -> tuple[Any, DecodedValues]:
    return kv[0], DecodedValues(kv[1])


class GroupEncoded(beam.PTransform):
    """`(key, value)` -> `(key, re-iterable of value)`: a GroupByKey whose values cross the shuffle as
    pickled bytes. Keys stay as they are (str or int: Beam's coder for them is already cheap, and a
    GroupByKey needs them deterministic). `compress`: zstd for large values (see the module docstring)."""

    def __init__(self, compress: bool = True) -> None:
        super().__init__()
        self._compress = compress

    def expand(self, pcoll: beam.PCollection) -> beam.PCollection:
        return (
            pcoll
            | "Encode" >> beam.Map(encode_pair, self._compress)
            | "Group" >> beam.GroupByKey()
            | "Decode" >> beam.Map(decoded_group)
        )
