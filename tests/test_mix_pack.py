import apache_beam as beam
import numpy as np
import pyarrow as pa
import pytest
from apache_beam.testing.util import assert_that, equal_to

from tests.beam_testing import fn_api_test_pipeline
from transforms.arrow_shards import shard_bytes
from transforms.mix import MixConfig, MixPhases, PhaseConfig, ShortfallError, plan_phases
from transforms.pack import pack_documents
from transforms.tokenize import TokenizedDoc

P1 = PhaseConfig(name="p1", tokens=100, seq_len=8, weights={"a": 0.5, "b": 0.5})
P2 = PhaseConfig(name="p2", tokens=40, seq_len=8, weights={"a": 1.0})


def _doc(i, n, source="a"):
    return TokenizedDoc(id=f"{source}/{i}", source=source, lang="en", ids=np.arange(n, dtype=np.uint32) + 10)


def test_plan_walks_bins_in_order_and_phases_do_not_overlap():
    hist = [(("a", b), 10) for b in range(20)] + [(("b", b), 30) for b in range(4)]
    plan = plan_phases(hist, [P1, P2], bins=20)
    assert plan["p1"]["a"] == {"start": 0, "end": 5, "target": 50, "realized": 50, "available": 200}
    assert plan["p1"]["b"] == {"start": 0, "end": 2, "target": 50, "realized": 60, "available": 120}
    assert plan["p2"]["a"] == {"start": 5, "end": 9, "target": 40, "realized": 40, "available": 150}


def test_shortfall_is_recorded_in_the_plan():
    assert plan_phases([(("a", 0), 10)], [P2], bins=4)["p2"]["a"]["realized"] == 10


def test_pack_splits_documents_across_rows_with_offsets():
    packed = pack_documents([_doc(1, 5), _doc(2, 7), _doc(3, 2)], seq_len=6, pad_id=0)
    assert packed.rows == 3
    assert packed.cu_seqlens == [[0, 5, 6], [0, 6], [0, 2]]
    assert packed.doc_ids == [["a/1", "a/2"], ["a/2"], ["a/3"]]
    assert packed.doc_offsets == [[0, 0], [1], [0]]
    assert packed.input_ids[2].tolist() == [10, 11, 0, 0, 0, 0]


def test_shard_schema_and_memory_map_read(tmp_path):
    packed = pack_documents([_doc(1, 5), _doc(2, 9)], seq_len=4, pad_id=3)
    path = tmp_path / "s.arrow"
    path.write_bytes(shard_bytes(packed))
    with pa.memory_map(str(path)) as src:
        table = pa.ipc.open_stream(src).read_all()
    assert table.schema.field("input_ids").type == pa.list_(pa.uint32(), 4)
    assert table.num_rows == 4
    assert table.column("cu_seqlens").to_pylist()[-1] == [0, 2]


def test_mix_transform_assigns_each_document_to_at_most_one_phase():
    docs = [_doc(i, 10) for i in range(30)] + [_doc(i, 10, "b") for i in range(10)]
    with fn_api_test_pipeline() as p:
        out = p | beam.Create(docs) | MixPhases([P1, P2], MixConfig(seed=1, bins=64))
        ids = out["assigned"] | beam.Map(lambda kv: kv[1].id)
        counts = (ids | beam.combiners.Count.PerElement() | beam.Map(lambda kv: kv[1])
                  | beam.Distinct())
        assert_that(counts, equal_to([1]), label="once")
        tokens = (out["assigned"] | beam.Map(lambda kv: (kv[0][0], kv[1].n_tokens)) | beam.CombinePerKey(sum))
        assert_that(tokens, equal_to([("p1", 100), ("p2", 40)]), label="budgets")


def test_check_shortfall_raises_only_for_error_phases():
    from transforms.mix import check_shortfall

    plan = plan_phases([(("a", 0), 10)], [P2], bins=4)
    check_shortfall(plan, [P2])  # shrink: recorded, no error
    strict = PhaseConfig(name="p2", tokens=40, seq_len=8, weights={"a": 1.0}, on_shortfall="error")
    with pytest.raises(ShortfallError, match="source a has 10 tokens left"):
        check_shortfall(plan, [strict])
