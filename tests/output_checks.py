"""Checks of a finished run's output directory, shared by the end-to-end tests."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq

from pipeline.manifest import iter_segments, read_shard
from tokenizer.wrapper import Tokenizer

LAYOUT = ["curated", "rejected", "counts/records_read.json", "tokenizer/tokenizer.model",
          "tokenizer/tokenizer.json", "report/report.json", "report/report.html", "report/near_dedup_audit.json",
          "run_manifest.json"]


def curated_table(out: Path) -> dict[str, dict]:
    table = pq.read_table(sorted(str(p) for p in (out / "curated").glob("part-*.parquet")))
    return {row["id"]: row for row in table.to_pylist()}


def rejected_rows(out: Path) -> list[dict]:
    return pq.read_table(sorted(str(p) for p in (out / "rejected").glob("part-*.parquet"))).to_pylist()


def check_layout(out: Path, phases: list[str]) -> None:
    for rel in LAYOUT:
        assert (out / rel).exists(), rel
    for phase in phases:
        assert (out / "phases" / phase / "manifest.json").exists(), phase


def check_shards(out: Path, phase: str) -> dict:
    """Every shard: sha256 as in the manifest, fixed-size uint32 rows, valid cu_seqlens, and every segment
    decodes to exactly the curated text at its doc_offset. Returns the manifest and the set of doc ids."""
    manifest = json.loads((out / "phases" / phase / "manifest.json").read_text())
    tok = Tokenizer((out / manifest["tokenizer"]["path"]).read_bytes())
    assert hashlib.sha256(tok.model_bytes).hexdigest() == manifest["tokenizer"]["sha256"]
    curated = curated_table(out)
    encoded: dict[str, list[int]] = {}
    seq_len = manifest["seq_len"]
    doc_ids = set()
    files = [(out / "phases" / phase / s["file"], s) for s in manifest["shards"]]
    files += [(out / "phases" / phase / "validation" / s["file"], s) for s in manifest["validation"]["shards"]]
    for path, entry in files:
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"], path
        table = read_shard(str(path))
        assert table.num_rows == entry["rows"]
        assert str(table.schema.field("input_ids").type) == f"fixed_size_list<item: uint32>[{seq_len}]"
        for ids, cu in zip(table.column("input_ids").to_pylist(), table.column("cu_seqlens").to_pylist(),
                           strict=True):
            assert len(ids) == seq_len
            assert cu[0] == 0 and cu[-1] <= seq_len and all(a < b for a, b in zip(cu, cu[1:], strict=False))
            assert all(t == manifest["tokenizer"]["pad_id"] for t in ids[cu[-1]:])
        for doc_id, _source, offset, seg in iter_segments(table):
            doc_ids.add(doc_id)
            row = curated[doc_id]
            assert row["decision"] == "keep"
            if doc_id not in encoded:
                encoded[doc_id] = tok.encode_document(row["text"]).tolist()
            full = encoded[doc_id]
            assert full[offset:offset + len(seg)] == seg, (doc_id, offset)
            if offset == 0:
                assert seg[0] == tok.bos_id
    for doc_id, ids in encoded.items():  # and each whole document decodes to its curated text
        assert tok.decode(ids[1:-1]) == curated[doc_id]["text"]
    manifest["_doc_ids"] = doc_ids
    return manifest


def check_reconciled(out: Path) -> dict:
    report = json.loads((out / "report" / "report.json").read_text())
    counts = json.loads((out / "counts" / "records_read.json").read_text())
    assert report["reconciled"], report["problems"]
    curated, rejected = curated_table(out), rejected_rows(out)
    for source, entry in report["sources"].items():
        read = sum(c["records"] for c in counts if c["source"] == source)
        n_cur = sum(1 for r in curated.values() if r["source"] == source)
        n_rej = sum(1 for r in rejected if r["source"] == source)
        assert read == entry["read"] == n_cur + n_rej, source
    return report
