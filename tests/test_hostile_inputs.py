"""End to end on hostile inputs (issue 7): `curate run` over the generated corpus of tests/hostile_corpus.py
(invalid UTF-8, cut gzip/zstd/WARC/Parquet files, NULs and control characters, a 50 MB line, empty files,
wrong types, lone surrogates, broken WARC headers, zero-length documents, duplicate ids) must exit 0, keep
or reject every record exactly as the ground truth says, and reconcile per source and per file."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from pipeline.cli import main
from tests.hostile_corpus import write_hostile_corpus
from tests.output_checks import check_layout, check_reconciled, check_shards, rejected_rows

BIG_LINE_MB = 50
PHASE = "hostile"


def _config(corpus: Path, truth: dict) -> dict:
    names = list(truth["sources"])
    sources = [{"name": name, **entry, "paths": [str(corpus / p) for p in entry["paths"]], "license": "CC0-1.0"}
               for name, entry in truth["sources"].items()]
    return {
        "run": {"name": "hostile", "parts": 2, "rejected_text_fraction": 1.0},
        "sources": sources,
        "read": truth["read"],
        # no stage after reading may drop a well-formed document: every language, low scores as `und`,
        # no rule sets (each rejection the corpus expects is the hostile input's own)
        "langid": {"keep": "all", "on_low_score": "und"},
        "rules": {"default": []},
        "tokenizer": {"train": {"vocab_size": 400}},
        "phases": [{"name": PHASE, "tokens": 4000, "seq_len": 256, "pack_buckets": 2, "validation_fraction": 0.1,
                    "on_shortfall": "shrink", "weights": {name: 1 / len(names) for name in names}}],
    }


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    truth = write_hostile_corpus(base / "corpus", big_line_mb=BIG_LINE_MB)
    config = base / "hostile.yaml"
    config.write_text(yaml.safe_dump(_config(base / "corpus", truth), sort_keys=False), encoding="utf-8")
    out = base / "out"
    start = time.perf_counter()
    status = main(["run", "--config", str(config), "--output", str(out)])
    seconds = time.perf_counter() - start
    assert status == 0, "curate run failed on the hostile corpus"
    print(f"\ncurate run on the hostile corpus: {seconds:.1f} s")
    for path in (base / "corpus" / "big").glob("*"):  # 100 MB: not kept in the pytest temp directories
        path.unlink()
    return {"truth": truth, "out": out, "seconds": seconds}


def _curated_rows(out: Path) -> list[dict]:
    import pyarrow.parquet as pq

    return pq.read_table(sorted(str(p) for p in (out / "curated").glob("part-*.parquet"))).to_pylist()


def _key(source: str, location: str, doc_id: str, outcome: str, stage: str | None, reason: str | None) -> tuple:
    return source, location, doc_id, outcome, stage, reason


def test_every_record_is_kept_or_rejected_exactly_as_expected(hostile):
    truth, out = hostile["truth"], hostile["out"]
    expected = Counter(_key(c["source"], c["location"], c["id"], c["outcome"], c["stage"], c["reason"])
                       for c in truth["cases"])
    got = Counter(_key(r["source"], r["location"], r["id"], "kept", None, None) for r in _curated_rows(out))
    got += Counter(_key(r["source"], r["location"], r["id"], "rejected", r["stage"], r["reason"])
                   for r in rejected_rows(out))
    missing, unexpected = expected - got, got - expected
    assert not missing and not unexpected, {"missing": sorted(missing, key=str),
                                            "unexpected": sorted(unexpected, key=str)}


def test_kept_records_have_their_exact_repaired_text(hostile):
    truth, out = hostile["truth"], hostile["out"]
    curated: dict[tuple[str, str], list[dict]] = {}
    for row in _curated_rows(out):
        curated.setdefault((row["source"], row["location"]), []).append(row)
    for case in truth["cases"]:
        if case["outcome"] != "kept":
            continue
        (row,) = curated[(case["source"], case["location"])]
        if case["text"] is not None:
            assert row["text"] == case["text"], case["case"]
        if case["contains"] is not None:
            assert case["contains"] in row["text"], case["case"]
        assert row["decision"] == "keep" and row["license"] == "CC0-1.0", case["case"]


def test_the_big_record_is_read_and_cut_below_max_doc_chars(hostile):
    truth, out = hostile["truth"], hostile["out"]
    (row,) = [r for r in _curated_rows(out) if r["id"] == "big/huge"]
    assert 0 < len(row["text"]) <= truth["read"]["max_doc_chars"]
    assert dict(row["meta"])["cut_from_chars"] == str(BIG_LINE_MB << 20)
    (broken,) = [r for r in rejected_rows(out) if r["location"] == "big.jsonl:3"]
    assert broken["reason"] == "invalid_json" and broken["text"].startswith('{"id": "huge-broken"')
    assert len(broken["text"]) <= 2000   # a dead letter keeps the start of the line, not 50 MB


def test_rejected_rows_name_stage_reason_and_location(hostile):
    truth, out = hostile["truth"], hostile["out"]
    for row in rejected_rows(out):
        assert row["id"] and row["source"] and row["stage"] and row["reason"] and row["location"], row
        assert row["id"].startswith(row["source"] + "/"), row
    details = {(c["source"], c["location"], c["reason"]): c["detail"] for c in truth["cases"] if c["detail"]}
    assert details, "the corpus names the survivor of each duplicate id"
    got = {(r["source"], r["location"], r["reason"]): r["detail"] for r in rejected_rows(out)}
    assert {k: got[k] for k in details} == details


def test_ids_are_unique_in_curated(hostile):
    ids = Counter(r["id"] for r in _curated_rows(hostile["out"]))
    assert [i for i, n in ids.items() if n > 1] == []


def test_records_read_per_file_and_per_source_reconcile(hostile):
    truth, out = hostile["truth"], hostile["out"]
    counts = json.loads((out / "counts" / "records_read.json").read_text(encoding="utf-8"))
    assert {(c["source"], c["file"]): c["records"] for c in counts} == {
        (source, file): n for source, files in truth["files"].items() for file, n in files.items()}
    report = check_reconciled(out)   # per source: read == curated rows + rejected rows, report["reconciled"]
    for source, files in truth["files"].items():
        cases = [c for c in truth["cases"] if c["source"] == source]
        entry = report["sources"][source]
        assert entry["read"] == sum(files.values()) == len(cases), source
        assert entry["kept"] == entry["curated_rows"] == sum(c["outcome"] == "kept" for c in cases), source
        assert entry["rejected_rows"] == sum(c["outcome"] == "rejected" for c in cases), source
        assert entry["dead_letters"] == sum(c["stage"] == "read" for c in cases), source
        assert entry["dropped"] == dict(Counter(f"{c['stage']}:{c['reason']}" for c in cases
                                                if c["outcome"] == "rejected")), source
    assert report["reconciled"] is True and report["problems"] == []


def test_tokenizer_and_phase_shards_are_built_from_what_was_kept(hostile):
    out = hostile["out"]
    check_layout(out, [PHASE])
    manifest = check_shards(out, PHASE)   # every segment decodes to its curated document's text
    assert 0 < manifest["tokens"] <= 4000 and manifest["_doc_ids"]   # a small corpus: shrunk, not failed
    assert {s.split("/", 1)[0] for s in manifest["_doc_ids"]} <= set(hostile["truth"]["sources"])
    sidecar = json.loads((out / "tokenizer" / "tokenizer.json").read_text(encoding="utf-8"))
    assert sidecar["sample"]["documents"] > 0
