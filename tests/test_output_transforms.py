"""TestPipeline tests for the transforms that write or feed outputs, and the report's reconciliation."""

import json

import apache_beam as beam
import numpy as np
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.util import assert_that, equal_to

from pipeline.manifest import iter_segments, read_shard
from pipeline.report import build_report
from tests.beam_testing import fn_api_test_pipeline
from tokenizer import Tokenizer, TokenizerTrainConfig, train_sentencepiece
from transforms.arrow_shards import WriteArrowShards
from transforms.document import Document, Rejected
from transforms.mix import TRAIN, VALIDATION, PhaseConfig
from transforms.pack import PackSequences
from transforms.parquet_out import WriteParquetParts
from transforms.tokenize import TokenizedDoc, TokenizeDocuments

PHASE = PhaseConfig(name="p", tokens=100, seq_len=8, weights={"a": 1.0}, pack_buckets=2, validation_fraction=0.1)


@pytest.fixture(scope="module")
def tokenizer():
    texts = ["The river runs past the mill.\n\tdef f(x): return x", "春天来了，花都开了。"] * 20
    return Tokenizer(train_sentencepiece(texts, TokenizerTrainConfig(vocab_size=300, num_threads=1))[0])


def test_tokenize_documents_frames_and_counts(tokenizer):
    rows = [{"id": "a/1", "source": "a", "lang": "en", "text": "The river."},
            {"id": "a/2", "source": "a", "lang": None, "text": "春天"}]
    expected = [(r["id"], r["lang"] or "und", tokenizer.encode_document(r["text"]).tolist()) for r in rows]
    with fn_api_test_pipeline() as p:
        out = p | beam.Create(rows) | TokenizeDocuments(tokenizer)
        assert_that(out | beam.Map(lambda d: (d.id, d.lang, d.ids.tolist())), equal_to(expected))


def test_pack_sequences_and_write_shards_cover_every_bucket(tmp_path):
    docs = [TokenizedDoc(id=f"a/{i}", source="a", lang="en", ids=np.arange(5, dtype=np.uint32) + i)
            for i in range(6)]
    assigned = [((PHASE.name, TRAIN, i % 2), d) for i, d in enumerate(docs[:4])]
    assigned.append(((PHASE.name, VALIDATION, 0), docs[4]))
    with fn_api_test_pipeline() as p:
        packed = p | beam.Create(assigned) | PackSequences([PHASE], seed=1, pad_id=0)
        summary = packed | beam.Map(lambda kv: (kv[0], kv[1].rows, sum(c[-1] for c in kv[1].cu_seqlens)))
        assert_that(summary, equal_to([(("p", TRAIN, 0), 2, 10), (("p", TRAIN, 1), 2, 10),
                                       (("p", VALIDATION, 0), 1, 5)]), label="packed")
        _ = packed | WriteArrowShards(str(tmp_path), [PHASE])
    names = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.arrow"))
    assert names == ["phases/p/shard-00000-of-00002.arrow", "phases/p/shard-00001-of-00002.arrow",
                     "phases/p/validation/shard-00000-of-00001.arrow"]
    segments = [s for n in names for s in iter_segments(read_shard(str(tmp_path / n)))]
    assert sorted({s[0] for s in segments}) == [f"a/{i}" for i in range(5)]


def test_write_parquet_parts_is_sorted_complete_and_order_independent(tmp_path):
    docs = [Document(id=f"s/{i:02d}", source="s", text=f"t{i}", scores={"b": 1.0, "a": 2.0}) for i in range(20)]
    for name, items in (("fwd", docs), ("rev", docs[::-1])):
        with fn_api_test_pipeline() as p:
            _ = p | beam.Create(items) | WriteParquetParts(str(tmp_path / name), 3, "curated", seed=5)
    for part in range(3):
        fwd = (tmp_path / "fwd" / f"part-{part:05d}-of-00003.parquet").read_bytes()
        assert fwd == (tmp_path / "rev" / f"part-{part:05d}-of-00003.parquet").read_bytes()
    ids = [r["id"] for part in range(3)
           for r in pq.read_table(tmp_path / "fwd" / f"part-{part:05d}-of-00003.parquet").to_pylist()]
    assert sorted(ids) == [d.id for d in docs]


class _Seen:
    """A WriteParquetParts hook that records what it is called with (one file per part: hooks run on workers)."""

    def __init__(self, folder, name):
        self.folder, self.name = folder, name

    def __call__(self, part, parts, items, table, side):
        from transforms.parquet_out import part_table_bytes

        record = {"ids": sorted(d.id for d in items), "table_ids": table.column("id").to_pylist(), "side": side,
                  "same_bytes": part_table_bytes(table) == (self.folder / f"part-{part:05d}-of-{parts:05d}.parquet"
                                                           ).read_bytes()}
        (self.folder.parent / f"{self.name}-{part}.json").write_text(json.dumps(record))


def test_write_parquet_parts_calls_its_hooks_with_each_part_as_written(tmp_path):
    docs = [Document(id=f"s/{i:02d}", source="s", text=f"t{i}" * i) for i in range(20)]
    rej = [Rejected(id="s/x", source="s", stage="read", reason="invalid_json", location="f:1", text=None)]
    out = tmp_path / "out"
    with fn_api_test_pipeline() as p:
        side = p | "Side" >> beam.Create([{"n": 3}])
        hooks = [(_Seen(out, "a"), beam.pvalue.AsSingleton(side)), (_Seen(out, "b"), None)]
        _ = p | beam.Create(docs) | WriteParquetParts(str(out), 3, "curated", seed=5, per_part=hooks)
        _ = (p | "Rej" >> beam.Create(rej)
             | "WriteRej" >> WriteParquetParts(str(tmp_path / "rej"), 1, "rejected", seed=5,
                                               per_part=[(_Seen(tmp_path / "rej", "r"), None)]))
    seen = {f.stem: json.loads(f.read_text()) for f in tmp_path.glob("*.json")}
    assert sorted(seen) == ["a-0", "a-1", "a-2", "b-0", "b-1", "b-2", "r-0"]
    assert sorted(i for k in ("a-0", "a-1", "a-2") for i in seen[k]["ids"]) == [d.id for d in docs]
    for k in range(3):
        assert seen[f"a-{k}"]["ids"] == seen[f"a-{k}"]["table_ids"] == seen[f"b-{k}"]["ids"]
        assert seen[f"a-{k}"]["side"] == {"n": 3} and seen[f"b-{k}"]["side"] is None
    assert all(r["same_bytes"] for r in seen.values()) and seen["r-0"]["ids"] == ["s/x"]


def test_write_parquet_parts_writes_empty_parts(tmp_path):
    with fn_api_test_pipeline() as p:
        rej = [Rejected(id="s/1", source="s", stage="read", reason="invalid_json", location="f:1")]
        _ = p | beam.Create(rej) | WriteParquetParts(str(tmp_path), 4, "rejected", seed=1)
    assert sum(pq.read_table(f).num_rows for f in sorted(tmp_path.glob("part-*.parquet"))) == 1
    assert len(list(tmp_path.glob("part-*.parquet"))) == 4


def test_report_flags_counts_that_do_not_add_up(tmp_path):
    with fn_api_test_pipeline() as p:
        _ = (p | "docs" >> beam.Create([Document(id="s/1", source="s", text="x")])
             | "cur" >> WriteParquetParts(str(tmp_path / "curated"), 1, "curated", seed=1))
        _ = (p | "rej" >> beam.Create([Rejected(id="s/2", source="s", stage="read", reason="invalid_json",
                                                location="f:2")])
             | "wrej" >> WriteParquetParts(str(tmp_path / "rejected"), 1, "rejected", seed=1))
    (tmp_path / "counts").mkdir()
    counts = tmp_path / "counts" / "records_read.json"
    counts.write_text(json.dumps([{"source": "s", "file": "f", "records": 2}]))
    report = build_report(str(tmp_path), "filter", {}, 1)
    assert report["reconciled"] and report["sources"]["s"]["dead_letters"] == 1
    counts.write_text(json.dumps([{"source": "s", "file": "f", "records": 3}]))  # one record lost
    report = build_report(str(tmp_path), "filter", {}, 1)
    assert not report["reconciled"]
    assert report["problems"] == ["s: read 3 != curated 1 + rejected 1"]


def test_write_atomic_replaces_the_file_and_leaves_no_temporary(tmp_path):
    from transforms.atomic import write_atomic

    path = str(tmp_path / "out" / "x.json")
    (tmp_path / "out").mkdir()
    write_atomic(path, b"first")
    write_atomic(path, b"second")
    assert (tmp_path / "out" / "x.json").read_bytes() == b"second"
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["x.json"]


def test_drop_examples_sample_the_smallest_seeded_hashes_per_reason_across_inputs(tmp_path):
    from pipeline.graph import DEAD, _dead_example, _doc_example, _DropExamples

    def doc(k: int, decision: str) -> Document:
        return Document(id=f"s/{k}", source="s", text=f"text {k} " * 50, location=f"f:{k}", decision=decision)

    rules = [doc(k, "FilterRules:too_short" if k % 3 else "FilterRules:symbols") for k in range(40)]
    safety = [doc(k, "FilterRules:too_short") for k in range(40, 50)]   # a reason two inputs share
    dead = [Rejected(id=f"s/d{k}", source="s", stage="read", reason="bad_json", location=f"f:d{k}",
                     text="{" * 400 if k % 2 else None) for k in range(7)]
    path = str(tmp_path / "examples.json")
    with fn_api_test_pipeline() as p:
        inputs = {"FilterRules": p | "R" >> beam.Create(rules), "FilterSafety": p | "S" >> beam.Create(safety),
                  DEAD: p | "D" >> beam.Create(dead)}
        _ = inputs | _DropExamples(seed=7, n=3, chars=20, path=path)
    examples = [_doc_example(d, 7, 20) for d in rules + safety] + [_dead_example(r, 7, 20) for r in dead]
    expected = {}
    for reason in sorted({r for r, _ in examples}):
        smallest = sorted(e for r, e in examples if r == reason)[:3]
        expected[reason] = [{"id": i, "source": s, "location": loc, "text": t} for _, i, s, loc, t in smallest]
    got = json.loads(open(path, encoding="utf-8").read())
    assert got == expected and set(got) == {"FilterRules:too_short", "FilterRules:symbols", "read:bad_json"}
    assert got["read:bad_json"][0]["text"] in ("", "{" * 20)
