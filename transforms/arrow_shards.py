"""WriteArrowShards: packed rows -> Arrow IPC stream files, one per (phase, split, bucket).

Input: ((phase, split, bucket), PackedRows). Output: the written paths. Files:
`phases/<phase>/shard-BBBBB-of-NNNNN.arrow` and `phases/<phase>/validation/shard-00000-of-00001.arrow`.
Schema (DESIGN.md, Shards): input_ids fixed_size_list<uint32>[seq_len], cu_seqlens list<int32>,
doc_ids list<string>, sources list<string>, doc_offsets list<int32>. Each shard is written under a
temporary name and renamed when complete, so a shard file under its final name is always whole;
`manifest.json` is written after all shards by the launcher (pipeline/manifest.py), so its presence means
the phase is complete.
Metrics namespace `shards`: `files`, `rows`.
"""

from __future__ import annotations

from collections.abc import Iterable

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems

from transforms.atomic import write_atomic
from transforms.counters import CountingDoFn, StageCounters
from transforms.mix import VALIDATION, PhaseConfig
from transforms.pack import PackedRows

STAGE = "shards"
BATCH_ROWS = 256


def shard_schema(seq_len: int) -> pa.Schema:
    return pa.schema([
        ("input_ids", pa.list_(pa.uint32(), seq_len)),
        ("cu_seqlens", pa.list_(pa.int32())),
        ("doc_ids", pa.list_(pa.string())),
        ("sources", pa.list_(pa.string())),
        ("doc_offsets", pa.list_(pa.int32())),
    ])


def shard_relpath(phase: str, split: str, bucket: int, buckets: int) -> str:
    name = f"shard-{bucket:05d}-of-{buckets:05d}.arrow"
    return f"phases/{phase}/validation/{name}" if split == VALIDATION else f"phases/{phase}/{name}"


def shard_bytes(packed: PackedRows) -> bytes:
    schema = shard_schema(packed.seq_len)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema) as writer:
        for start in range(0, packed.rows, BATCH_ROWS):
            end = min(start + BATCH_ROWS, packed.rows)
            flat = pa.array(packed.input_ids[start:end].reshape(-1), type=pa.uint32())
            writer.write_batch(pa.record_batch([
                pa.FixedSizeListArray.from_arrays(flat, packed.seq_len),
                pa.array(packed.cu_seqlens[start:end], type=pa.list_(pa.int32())),
                pa.array(packed.doc_ids[start:end], type=pa.list_(pa.string())),
                pa.array(packed.sources[start:end], type=pa.list_(pa.string())),
                pa.array(packed.doc_offsets[start:end], type=pa.list_(pa.int32())),
            ], schema=schema))
    return sink.getvalue().to_pybytes()


class _WriteShardFn(CountingDoFn):
    def __init__(self, output: str, phases: Iterable[PhaseConfig]) -> None:
        super().__init__()
        self._output = output
        self._buckets = {p.name: p.pack_buckets for p in phases}
        self._counters = StageCounters(STAGE)

    def process(self, element: tuple[tuple[str, str, int], PackedRows]) -> Iterable[str]:
        (phase, split, bucket), packed = element
        buckets = 1 if split == VALIDATION else self._buckets[phase]
        path = FileSystems.join(self._output, shard_relpath(phase, split, bucket, buckets))
        write_atomic(path, shard_bytes(packed))   # a retried or duplicated bundle never sees a half file
        self._counters.inc("files")
        self._counters.inc("rows", packed.rows)
        yield path


class WriteArrowShards(beam.PTransform):
    def __init__(self, output: str, phases: Iterable[PhaseConfig]) -> None:
        super().__init__()
        self._output, self._phases = output, tuple(phases)

    def expand(self, packed: beam.PCollection) -> beam.PCollection:
        return packed | "WriteShard" >> beam.ParDo(_WriteShardFn(self._output, self._phases))
