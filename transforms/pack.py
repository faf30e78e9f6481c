"""PackSequences: per (phase, split, bucket), order documents by a seeded hash and pack them to seq_len.

Input: ((phase, split, bucket), TokenizedDoc) from MixPhases. Output: ((phase, split, bucket), PackedRows).
No step orders the whole corpus: each pack bucket (a fixed number per phase, from the config) is sorted
on its own by (seeded hash of (id, pass), id, pass), so repeats of an upsampled document land apart.
Documents are concatenated (each already framed by BOS/EOS) and cut into rows of `seq_len`; a document
that crosses a row boundary continues in the next row with `doc_offsets` > 0 (so no BOS there). The last
row of a bucket is padded with the pad id.
Every expected bucket yields an element, empty or not, so every shard file exists.
Metrics namespace `pack`: `rows`, `segments`, `pad_tokens`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Sequence

import apache_beam as beam
import numpy as np

from transforms.counters import CountingDoFn, StageCounters
from transforms.mix import TRAIN, VALIDATION, PhaseConfig, unit_hash
from transforms.shuffle import decoded_group, encode_pair, encode_value
from transforms.tokenize import TokenizedDoc

STAGE = "pack"


@dataclasses.dataclass(frozen=True, eq=False)
class PackedRows:
    seq_len: int
    input_ids: np.ndarray            # (rows, seq_len) uint32
    cu_seqlens: list[list[int]]
    doc_ids: list[list[str]]
    sources: list[list[str]]
    doc_offsets: list[list[int]]

    @property
    def rows(self) -> int:
        return int(self.input_ids.shape[0])


def pack_documents(docs: Sequence[TokenizedDoc], seq_len: int, pad_id: int) -> PackedRows:
    """Greedy sequential packing of docs, in the given order, into rows of exactly seq_len tokens."""
    rows_ids: list[np.ndarray] = []
    cu, ids_, srcs, offs = [], [], [], []
    row = np.full(seq_len, pad_id, dtype=np.uint32)
    fill, row_cu, row_ids, row_srcs, row_offs = 0, [0], [], [], []

    def flush() -> None:
        nonlocal row, fill, row_cu, row_ids, row_srcs, row_offs
        rows_ids.append(row)
        cu.append(row_cu), ids_.append(row_ids), srcs.append(row_srcs), offs.append(row_offs)
        row = np.full(seq_len, pad_id, dtype=np.uint32)
        fill, row_cu, row_ids, row_srcs, row_offs = 0, [0], [], [], []

    for doc in docs:
        offset = 0
        while offset < doc.n_tokens:
            take = min(seq_len - fill, doc.n_tokens - offset)
            row[fill:fill + take] = doc.ids[offset:offset + take]
            fill += take
            row_cu.append(fill)
            row_ids.append(doc.id)
            row_srcs.append(doc.source)
            row_offs.append(offset)
            offset += take
            if fill == seq_len:
                flush()
    if fill:
        flush()
    input_ids = np.stack(rows_ids) if rows_ids else np.zeros((0, seq_len), dtype=np.uint32)
    return PackedRows(seq_len, input_ids, cu, ids_, srcs, offs)


def expected_buckets(phases: Sequence[PhaseConfig]) -> list[tuple[str, str, int]]:
    keys = []
    for phase in phases:
        keys += [(phase.name, TRAIN, b) for b in range(phase.pack_buckets)]
        if phase.validation_fraction > 0:
            keys.append((phase.name, VALIDATION, 0))
    return keys


class _PackFn(CountingDoFn):
    def __init__(self, phases: Sequence[PhaseConfig], seed: int, pad_id: int) -> None:
        super().__init__()
        self._seq_len = {p.name: p.seq_len for p in phases}
        self._seed, self._pad_id = seed, pad_id
        self._counters = StageCounters(STAGE)

    def process(self, element: tuple[tuple, Iterable[TokenizedDoc | None]]) -> Iterator[tuple[tuple, PackedRows]]:
        key, docs = element
        # A bucket's size is fixed by the config (phase tokens / pack_buckets), not by how hot a key is.
        # repeats of a document (MixPhases upsampling) get their own place: unit_hash of (id, pass)
        ordered = sorted((d for d in docs if d is not None),
                         key=lambda d: (unit_hash(self._seed, "order", d.id, d.repeat), d.id, d.repeat,
                                        d.ids.tobytes()))  # the content breaks ties of duplicate ids
        packed = pack_documents(ordered, self._seq_len[key[0]], self._pad_id)
        self._counters.inc("rows", packed.rows)
        self._counters.inc("segments", sum(len(s) for s in packed.doc_ids))
        self._counters.inc("pad_tokens", packed.rows * packed.seq_len - sum(c[-1] for c in packed.cu_seqlens))
        yield key, packed


class PackSequences(beam.PTransform):
    """Packs each (phase, split, bucket). Output: ((phase, split, bucket), PackedRows) for every bucket."""

    def __init__(self, phases: Sequence[PhaseConfig], seed: int, pad_id: int, compress: bool = True) -> None:
        super().__init__()
        self._phases, self._seed, self._pad_id = tuple(phases), seed, pad_id
        self._compress = compress   # zstd for large documents in the shuffle (transforms/shuffle.py)

    def expand(self, assigned: beam.PCollection) -> beam.PCollection:
        every = assigned.pipeline | "EveryBucket" >> beam.Create(
            [(k, encode_value(None)) for k in expected_buckets(self._phases)])
        return (
            # pickled where produced, so the Flatten into the group moves bytes
            (assigned | "Encode" >> beam.Map(encode_pair, self._compress), every)
            | "WithEmptyBuckets" >> beam.Flatten()                 # ((phase, split, bucket), doc | None)
            | "GroupByBucket" >> beam.GroupByKey()
            | "Decode" >> beam.Map(decoded_group)
            | "Pack" >> beam.ParDo(_PackFn(self._phases, self._seed, self._pad_id))
        )
