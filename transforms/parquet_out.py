"""WriteParquetParts: deterministic Parquet output for `curated/` and `rejected/`.

Rows go to part `hash(id) % parts`, each part is sorted by id and written by one worker as
`part-KKKKK-of-NNNNN.parquet` through Beam's FileSystems (local or remote). Every part is written, even
an empty one, so the file set depends only on the config; the bytes depend only on the rows. (Beam's own
sinks name and split files by bundle, which varies with the runner and worker count.)
Input: `Document` (curated) or `Rejected`, one PCollection or a dict of them by label. Output: the part numbers written.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam import pvalue
from apache_beam.io.filesystems import FileSystems

from transforms.atomic import write_atomic
from transforms.document import Document, Rejected
from transforms.hashing import hash64
from transforms.shuffle import decoded_group, encode_value

CURATED_SCHEMA = pa.schema([
    ("id", pa.string()), ("source", pa.string()), ("text", pa.string()), ("lang", pa.string()),
    ("lang_score", pa.float64()), ("script", pa.string()), ("lang_mixed", pa.bool_()),
    ("lang_shares", pa.map_(pa.string(), pa.float64())), ("meta", pa.map_(pa.string(), pa.string())),
    ("url", pa.string()), ("crawl_date", pa.string()),
    ("license", pa.string()), ("quality_score", pa.float64()), ("cluster_id", pa.string()),
    ("cluster_size", pa.int64()), ("location", pa.string()), ("decision", pa.string()),
    ("scores", pa.map_(pa.string(), pa.float64())),
])
REJECTED_SCHEMA = pa.schema([
    ("id", pa.string()), ("source", pa.string()), ("stage", pa.string()), ("reason", pa.string()),
    ("location", pa.string()), ("text", pa.string()), ("detail", pa.string()),
    ("chars", pa.int64()), ("lang", pa.string()), ("lang_score", pa.float64()), ("quality_score", pa.float64()),
    ("scores", pa.map_(pa.string(), pa.float64())),
])


def document_row(doc: Document) -> dict[str, Any]:
    row = dataclasses.asdict(doc)
    row["scores"] = sorted(doc.scores.items())
    row["lang_shares"] = sorted(doc.lang_shares.items())
    row["meta"] = sorted(doc.meta.items())
    return row


def rejected_row(rej: Rejected) -> dict[str, Any]:
    row = dataclasses.asdict(rej)
    row["scores"] = sorted(rej.scores.items())
    return row


def part_path(directory: str, part: int, parts: int) -> str:
    return FileSystems.join(directory, f"part-{part:05d}-of-{parts:05d}.parquet")


# A Parquet row group is the unit the mixing job reads (and tokenizes) in parallel (pipeline/graph.py), so
# a part is never one work item a single worker must finish: a row group ends at ROW_GROUP_ROWS rows or
# once its texts reach ROW_GROUP_TEXT_CHARS characters, whichever comes first, so that the units are of
# about equal work whatever the documents' sizes (2,048 books are tens of MB, 2,048 forum posts one).
ROW_GROUP_ROWS = 2048
ROW_GROUP_TEXT_CHARS = 1 << 20


def row_group_bounds(text_chars: list[int], max_rows: int = ROW_GROUP_ROWS,
                     max_chars: int = ROW_GROUP_TEXT_CHARS) -> list[tuple[int, int]]:
    """[start, end) row ranges: consecutive, each at most `max_rows` rows, ending at the first row that
    takes its texts to `max_chars` characters or more (so a row group holds at least one row)."""
    bounds, start, chars = [], 0, 0
    for i, n in enumerate(text_chars):
        chars += n
        if i + 1 - start >= max_rows or chars >= max_chars:
            bounds.append((start, i + 1))
            start, chars = i + 1, 0
    if start < len(text_chars) or not bounds:
        bounds.append((start, len(text_chars)))
    return bounds


# A WriteParquetParts `per_part` hook is called with (part, parts, the part's items, the part's Arrow table
# as written, the value of its side input or None).
PartHook = Callable[[int, int, list[Any], pa.Table, Any], None]


class _WritePartFn(beam.DoFn):
    def __init__(self, directory: str, parts: int, kind: str,
                 hooks: Sequence[tuple[PartHook, bool]] = ()) -> None:
        super().__init__()
        self._directory, self._parts, self._kind, self._hooks = directory, parts, kind, tuple(hooks)

    # `side` has no annotation: Beam checks the hints, and `*side: Any` would have to be a tuple
    def process(self, element: tuple[int, Iterable[Any]], *side) -> Iterable[int]:
        part, items = element
        if self._hooks:
            items = list(items)   # decoded once for the hooks and the part
        table = part_table(self._kind, items)
        write_atomic(part_path(self._directory, part, self._parts), part_table_bytes(table))
        values = iter(side)
        for hook, has_side in self._hooks:
            hook(part, self._parts, items, table, next(values) if has_side else None)
        yield part


def part_table(kind: str, items: Iterable[Any]) -> pa.Table:
    """One part's records as rows, sorted by id (then stage, location, reason), in an Arrow table."""
    to_row, schema = (document_row, CURATED_SCHEMA) if kind == "curated" else (rejected_row, REJECTED_SCHEMA)
    rows = sorted((to_row(it) for it in items),
                  key=lambda r: (r["id"], r.get("stage") or "", r["location"], r.get("reason") or ""))
    return pa.Table.from_pylist(rows, schema=schema)


def part_table_bytes(table: pa.Table) -> bytes:
    """The Parquet bytes of a part's table, in row groups of about equal text (`row_group_bounds`)."""
    chars = pc.fill_null(pc.utf8_length(table.column("text")), 0).to_pylist()
    buf = io.BytesIO()
    with pq.ParquetWriter(buf, table.schema, compression="zstd") as writer:
        for start, end in row_group_bounds(chars):
            writer.write_table(table.slice(start, end - start), row_group_size=ROW_GROUP_ROWS)
    return buf.getvalue()


def part_bytes(kind: str, items: Iterable[Any]) -> bytes:
    """The Parquet bytes of one part."""
    return part_table_bytes(part_table(kind, items))


def _write_part(directory: str, part: int, parts: int, kind: str, items: Iterable[Any]) -> str:
    return write_atomic(part_path(directory, part, parts), part_bytes(kind, items))


def _write_if_empty(part: int, written: dict[int, bool], directory: str, parts: int, kind: str) -> Iterable[int]:
    if part not in written:
        _write_part(directory, part, parts, kind, ())
        yield part


def part_of(seed: int, doc_id: str, parts: int) -> int:
    """The part of curated/ or rejected/ that holds the rows of `doc_id`."""
    return hash64(seed, doc_id) % parts


def _key_by_part(item: Document | Rejected, seed: int, parts: int, compress: bool) -> tuple[int, bytes]:
    return part_of(seed, item.id, parts), encode_value(item, compress)


class WriteParquetParts(beam.PTransform):
    """Writes Documents (kind `curated`) or Rejected (kind `rejected`) into `parts` sorted Parquet files.

    Input: one PCollection or a dict {label: PCollection}. Each input is keyed by part and pickled where it is
    produced (fused with its producer), so the one Flatten before the GroupByKey moves opaque bytes (the
    project's local runner writes each input straight into the group, pipeline/local_runner.py; Beam's own
    FnApiRunner materializes a multi-input Flatten, and one per stage that drops documents would copy
    every rejected document again). Parts that get no item are written empty by a
    small step after the others (a side input of the parts written), not by flattening a placeholder
    per part into the data. `compress`: zstd for large items in the shuffle (transforms/shuffle.py).
    `per_part`: (hook, side input or None) pairs: each `PartHook` also sees each non-empty part's items and
    table where the part is written (the tokenizer's sample rows, transforms/tokenizer_sample.py; the
    report's counts, pipeline/report_stats.py)."""

    def __init__(self, directory: str, parts: int, kind: str, seed: int, compress: bool = True,
                 per_part: Sequence[tuple[PartHook, pvalue.AsSideInput | None]] = ()) -> None:
        super().__init__()
        if kind not in ("curated", "rejected"):
            raise ValueError(f"unknown parquet output kind {kind!r}")
        self._directory, self._parts, self._kind, self._seed = directory, parts, kind, seed
        self._compress, self._per_part = compress, tuple(per_part)

    def expand(self, items: beam.PCollection | Mapping[str, beam.PCollection]) -> beam.PCollection:
        inputs = {"": items} if isinstance(items, beam.PCollection) else dict(items)
        hooks = [(hook, side is not None) for hook, side in self._per_part]
        sides = [side for _, side in self._per_part if side is not None]
        keyed = [pc | f"{label}KeyByPart" >> beam.Map(_key_by_part, self._seed, self._parts, self._compress)
                 for label, pc in sorted(inputs.items())]
        if len(keyed) > 1:
            keyed = [tuple(keyed) | "AllItems" >> beam.Flatten()]
        written = (
            keyed[0]
            | "GroupByPart" >> beam.GroupByKey()
            | "DecodePart" >> beam.Map(decoded_group)
            | "WritePart" >> beam.ParDo(_WritePartFn(self._directory, self._parts, self._kind, hooks), *sides)
        )
        empty = keyed[0].pipeline | "EveryPart" >> beam.Create(range(self._parts))
        seen = written | "PartSeen" >> beam.Map(lambda part: (part, True))
        return (
            (written, empty | "WriteEmptyParts" >> beam.FlatMap(
                _write_if_empty, pvalue.AsDict(seen), self._directory, self._parts, self._kind))
            | "PartsWritten" >> beam.Flatten()
        )
