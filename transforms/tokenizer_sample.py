"""The tokenizer's training sample and held-out documents, picked while the curation job writes curated/.

The launcher's `draw` (tokenizer/train.py) reads curated/ twice in one process: at 1.6T tokens that is
about 20 hours (docs/scale.md). The part of the draw that needs the whole corpus runs here instead:
- `CountSampleCells`: the characters of each cell (the kept documents of a (language, source) that may be
  sampled, and the held-out ones per (source, language)) and the sum of its documents' squared lengths,
  a CombinePerKey; one small dict, written to `tokenizer/sample/cells.json` with the sampling config it
  was counted for.
- `SampleRowsWriter`, called by the curated writer on each part's documents (WriteParquetParts
  `per_part`, so no document crosses a shuffle for it), writes `tokenizer/sample/part-K-of-N.parquet`:
  the part's kept documents whose seeded key is under their cell's cutoff (tokenizer/train.py
  `key_share`: the keys are uniform, so the share is set for the kept characters to reach the budget by 8
  standard deviations, which the squares give; a cell of few documents is kept whole). What a cell keeps
  is a prefix of the key order `draw` takes from: at 200M characters out of 3T, 3% more than the budget.
The launcher (pipeline/tokenizer_step.py `job_sample`) sorts those rows by key and takes each budget
(`pick_from_rows`), which is exactly `draw`'s sample and held-out set, or falls back to `draw` when
cells.json was counted for another sampling config or a cut cell fell short of its budget.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq

from tokenizer.train import (
    HELDOUT,
    Cell,
    CellStats,
    TokenizerTrainConfig,
    doc_cell,
    key_cutoffs,
    sampling_fields,
    under_cutoff,
)
from transforms.atomic import write_atomic
from transforms.document import KEEP, Document
from transforms.parquet_out import part_path

SAMPLE_DIR = "tokenizer/sample"
CELLS_FILE = f"{SAMPLE_DIR}/cells.json"
CELLS_FORMAT = "multiphase-curation/tokenizer-sample/v1"
SAMPLE_SCHEMA = pa.schema([("id", pa.string()), ("source", pa.string()), ("lang", pa.string()),
                           ("text", pa.string())])


def cell_stats(doc: Document, cfg: TokenizerTrainConfig, heldout_only: bool) -> Iterable[tuple[Cell, CellStats]]:
    if doc.text:
        cell = doc_cell(doc.id, doc.source, doc.lang or "und", cfg)
        if cell is not None and (cell[0] == HELDOUT or not heldout_only):
            n = len(doc.text)
            yield cell, (n, n * n)


def _sum_stats(stats: Iterable[CellStats]) -> CellStats:
    chars = squares = 0
    for n, sq in stats:
        chars += n
        squares += sq
    return chars, squares


def cells_json(cells: Mapping[Cell, CellStats], cfg: TokenizerTrainConfig, heldout_only: bool) -> dict[str, Any]:
    return {"format": CELLS_FORMAT, "sampling": sampling_fields(cfg), "heldout_only": heldout_only,
            "cells": [[*cell, *stats] for cell, stats in sorted(cells.items())]}


def cells_from_json(obj: dict[str, Any]) -> dict[Cell, CellStats]:
    return {(a, b, c): (int(n), int(sq)) for a, b, c, n, sq in obj["cells"]}


def _write_cells(cells: dict[Cell, CellStats], path: str, cfg: TokenizerTrainConfig, heldout_only: bool) -> None:
    write_atomic(path, (json.dumps(cells_json(cells, cfg, heldout_only), indent=1, sort_keys=True) + "\n").encode())


class CountSampleCells(beam.PTransform):
    """Kept Documents -> one dict {cell: (characters, sum of squared document lengths)}, also written to
    `path` (cells.json). `heldout_only` (a pinned tokenizer): only the held-out cells, for its fertility
    report."""

    def __init__(self, cfg: TokenizerTrainConfig, path: str, heldout_only: bool = False) -> None:
        super().__init__()
        self._cfg, self._path, self._heldout_only = cfg, path, heldout_only

    def expand(self, docs: beam.PCollection) -> beam.PCollection:
        cells = (
            docs
            | "CellStats" >> beam.FlatMap(cell_stats, self._cfg, self._heldout_only)
            | "SumCells" >> beam.CombinePerKey(_sum_stats)
            | "AsDict" >> beam.combiners.ToDict()
        )
        _ = cells | "WriteCells" >> beam.Map(_write_cells, self._path, self._cfg, self._heldout_only)
        return cells


def sample_part_bytes(items: Iterable[Any], cfg: TokenizerTrainConfig, cells: Mapping[Cell, CellStats]) -> bytes | None:
    """The Parquet bytes of one part's rows for the launcher (sorted by id), None when it has none."""
    cutoffs = key_cutoffs(cells, cfg)
    rows = []
    for doc in items:
        if doc.decision == KEEP:
            lang = doc.lang or "und"
            if under_cutoff(doc.id, doc.source, lang, doc.text, cfg, cutoffs) is not None:
                rows.append({"id": doc.id, "source": doc.source, "lang": lang, "text": doc.text})
    if not rows:
        return None
    rows.sort(key=lambda r: r["id"])
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=SAMPLE_SCHEMA), buf, compression="zstd")
    return buf.getvalue()


class SampleRowsWriter:
    """WriteParquetParts' `per_part` hook: writes a part's sample rows (see the module docstring)."""

    def __init__(self, cfg: TokenizerTrainConfig, directory: str) -> None:
        self._cfg, self._directory = cfg, directory

    def __call__(self, part: int, parts: int, items: list[Any], table: Any, cells: Mapping[Cell, CellStats]) -> None:
        data = sample_part_bytes(items, self._cfg, cells)
        if data is not None:
            write_atomic(part_path(self._directory, part, parts), data)
