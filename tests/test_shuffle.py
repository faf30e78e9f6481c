"""Cheap document shuffles (transforms/shuffle.py) and the compact pickling of Document and Rejected."""

import pickle
import random

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.util import assert_that, equal_to

from tests.beam_testing import fn_api_test_pipeline
from transforms.document import DOCUMENT_FIELDS, SCORE_NAMES, Document, Rejected, pack_scores, unpack_scores
from transforms.parquet_out import WriteParquetParts, part_of
from transforms.shuffle import COMPRESS_MIN_BYTES, GroupEncoded, decode_value, encode_value

DOC = Document(id="s/1", source="s", text="春天来了 text", location="f:1", url="https://a.example/x", lang="zh",
               lang_score=0.9, lang_shares={"zh": 0.8, "en": 0.2}, meta={"k": "v"}, scores={"x": 1.5},
               cluster_size=3, raw=b"<p>")


def test_document_and_rejected_pickle_as_field_tuples():
    data = pickle.dumps(DOC, protocol=5)
    back = pickle.loads(data)
    assert back == DOC and type(back) is Document
    assert back.__dict__ == DOC.__dict__
    for name in ("lang_shares", "cluster_size", "quality_score"):  # field names are not in the bytes
        assert name.encode() not in data
    rej = Rejected.from_document(DOC.dropped("rules", "too_short", "n_words=3"), keep_text=True)
    assert pickle.loads(pickle.dumps(rej, protocol=5)) == rej
    assert decode_value(encode_value(DOC)) == DOC
    assert len(DOCUMENT_FIELDS) == len(DOC.__dict__)


def test_scores_pickle_as_indexed_names_and_float64s_in_their_order():
    scores = {"n_words": 12.0, "blocklist:gambling": 0.0, "pii_email": 2.0, "quality_score": 0.123456789,
              "dup_5gram_char_frac": float("inf")}
    packed = pack_scores(scores)
    # 2-byte header length; header: index, 0xFF + length + name, index, index, index; then 5 float64s
    name = b"blocklist:gambling"
    header = bytes([SCORE_NAMES.index("n_words"), 0xFF, len(name), 0]) + name + bytes(
        [SCORE_NAMES.index("pii_email"), SCORE_NAMES.index("quality_score"), SCORE_NAMES.index("dup_5gram_char_frac")])
    assert packed[:2] == len(header).to_bytes(2, "little") and packed[2:2 + len(header)] == header
    assert len(packed) == 2 + len(header) + 5 * 8
    back = unpack_scores(packed)
    assert back == scores and list(back) == list(scores)         # same names, same order, same floats
    assert unpack_scores(pack_scores({"quality_score": 0.5})) == {"quality_score": 0.5}
    for plain in ({}, {"x": 1}, {"x": True}, {"x": None}, {1: 0.5}, {"x" * 70_000: 0.5}):  # kept as they are
        assert pack_scores(plain) is plain and unpack_scores(plain) is plain
    doc = Document(id="s/2", source="s", text="t", scores=scores)
    data = pickle.dumps(doc, protocol=5)
    assert b"n_words" not in data and name in data
    typical = doc.replace(scores={n: k / 7 for k, n in enumerate(SCORE_NAMES[:27])})  # what the rules give
    as_dict = pickle.dumps(tuple(typical.__dict__.values()), protocol=5)   # its fields, the scores as a dict
    assert len(pickle.dumps(typical, protocol=5)) < len(as_dict) - 400
    back_doc = pickle.loads(data)
    assert back_doc == doc and list(back_doc.scores) == list(scores) and type(back_doc.scores) is dict
    rej = Rejected.from_document(doc.dropped("rules", "too_short"), keep_text=False)
    back_rej = pickle.loads(pickle.dumps(rej, protocol=5))
    assert back_rej == rej and list(back_rej.scores) == list(scores)


def test_large_values_cross_the_shuffle_compressed_small_and_incompressible_ones_as_pickles():
    small = encode_value(DOC)
    assert len(small) < COMPRESS_MIN_BYTES and small == pickle.dumps(DOC, protocol=5)
    page = b"<html><body>" + b"<div class='nav'><a href='/x'>menu</a></div>" * 400 + b"</body></html>"
    html_doc = Document(id="w/1", source="w", text="", location="f.warc.gz:0", url="https://a.example/", raw=page)
    packed = encode_value(html_doc)
    assert packed[:1] == b"Z" and len(packed) < len(pickle.dumps(html_doc, protocol=5)) / 10
    assert decode_value(packed) == html_doc
    noise = random.Random(0).randbytes(4 * COMPRESS_MIN_BYTES)   # does not compress: stays a pickle
    assert encode_value(noise) == pickle.dumps(noise, protocol=5) and decode_value(encode_value(noise)) == noise


def test_uncompressed_encoding_is_the_pickle_and_decodes_the_same():
    page = b"<html>" + b"<div class='nav'><a href='/x'>menu</a></div>" * 400 + b"</html>"
    html_doc = Document(id="w/1", source="w", text="", location="f.warc.gz:0", raw=page)
    plain = encode_value(html_doc, compress=False)
    assert plain == pickle.dumps(html_doc, protocol=5) and len(plain) > COMPRESS_MIN_BYTES
    assert decode_value(plain) == html_doc == decode_value(encode_value(html_doc))


def test_shuffles_are_compressed_except_on_beams_local_runner():
    from pipeline.graph import compress_shuffles
    from pipeline.run import make_pipeline

    assert not compress_shuffles(make_pipeline([]))                                   # FnApiRunner, in_memory
    assert not compress_shuffles(make_pipeline(["--direct_running_mode=multi_processing"]))
    assert not compress_shuffles(make_pipeline(["--runner=DirectRunner"]))
    assert compress_shuffles(make_pipeline(["--runner=PortableRunner", "--job_endpoint=embed"]))


@pytest.mark.parametrize("compress", [True, False])
def test_group_encoded_groups_and_each_group_is_reiterable(compress):
    page = b"<p>" + b"<div class='nav'>menu</div>" * 600   # large: compressed when `compress`
    docs = [Document(id=f"s/{i}", source="s", text=f"t{i % 3}", raw=page if i % 2 else None) for i in range(9)]

    def twice(kv):
        key, group = kv
        first = sorted(d.id for d in group)
        assert first == sorted(d.id for d in group)  # a second pass sees the same documents
        return key, first

    with fn_api_test_pipeline() as p:
        out = (p | beam.Create(docs) | beam.Map(lambda d: (d.text, d)) | GroupEncoded(compress) | beam.Map(twice))
        assert_that(out, equal_to([("t0", ["s/0", "s/3", "s/6"]), ("t1", ["s/1", "s/4", "s/7"]),
                                   ("t2", ["s/2", "s/5", "s/8"])]))


def test_write_parquet_parts_from_several_inputs_writes_every_part(tmp_path):
    a = [Document(id=f"a/{i}", source="a", text="x") for i in range(3)]
    b = [Document(id="b/1", source="b", text="y")]
    parts = 6
    with fn_api_test_pipeline() as p:
        written = {"A": p | "A" >> beam.Create(a), "B": p | "B" >> beam.Create(b)} | WriteParquetParts(
            str(tmp_path), parts, "curated", seed=3)
        assert_that(written, equal_to(list(range(parts))))
    files = sorted(tmp_path.glob("part-*.parquet"))
    assert [f.name for f in files] == [f"part-{k:05d}-of-{parts:05d}.parquet" for k in range(parts)]
    by_part = {k: pq.read_table(files[k]).column("id").to_pylist() for k in range(parts)}
    assert sorted(i for ids in by_part.values() for i in ids) == ["a/0", "a/1", "a/2", "b/1"]
    for k, ids in by_part.items():
        assert all(part_of(3, i, parts) == k for i in ids)
    used = {part_of(3, i, parts) for i in ("a/0", "a/1", "a/2", "b/1")}
    assert {k for k, ids in by_part.items() if not ids} == set(range(parts)) - used  # empty parts are files too
    assert len(used) < parts
