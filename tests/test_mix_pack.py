import apache_beam as beam
import numpy as np
import pyarrow as pa
import pytest
from apache_beam.testing.util import assert_that, equal_to

from tests.beam_testing import fn_api_test_pipeline
from transforms.arrow_shards import shard_bytes
from transforms.mix import (
    MixConfig,
    MixPhases,
    MixSpec,
    PhaseConfig,
    ShortfallError,
    check_shortfall,
    plan_mix,
    unit_hash,
)
from transforms.pack import PackSequences, pack_documents
from transforms.tokenize import TokenizedDoc

P1 = PhaseConfig(name="p1", tokens=100, seq_len=8, weights={"a": 0.5, "b": 0.5})
P2 = PhaseConfig(name="p2", tokens=40, seq_len=8, weights={"a": 1.0})


def _doc(i, n, source="a"):
    return TokenizedDoc(id=f"{source}/{i}", source=source, lang="en", ids=np.arange(n, dtype=np.uint32) + 10)


def _base(i, n, source="a"):
    return (f"{source}/{i}", source, n, None, 1)


def _taken(plan, keys, phases, cfg):
    """{(phase, bucket): tokens} and {doc id: [(phase, pass)]} by the plan's assignment rule."""
    spec = MixSpec(phases, cfg)
    tokens, uses = {}, {}
    for key in keys:
        for k, bucket, r, n in spec.assign_units(key, plan):
            tokens[(phases[k].name, bucket.name)] = tokens.get((phases[k].name, bucket.name), 0) + n
            uses.setdefault(key[0], []).append((phases[k].name, r))
    return tokens, uses


def test_plan_cuts_budgets_exactly_and_phases_do_not_overlap():
    bases = [_base(i, 10 + i % 7) for i in range(40)] + [_base(i, 30, "b") for i in range(6)]
    cfg = MixConfig(seed=1, bins=16)
    plan, keys = plan_mix(bases, [P1, P2], cfg)
    assert {b: (e["target"], e["realized"]) for b, e in plan["phases"]["p1"].items()} == {"a": (50, 50), "b": (50, 50)}
    assert plan["phases"]["p2"]["a"]["realized"] == 40
    tokens, uses = _taken(plan, keys, [P1, P2], cfg)
    assert tokens == {("p1", "a"): 50, ("p1", "b"): 50, ("p2", "a"): 40}
    assert all(len(u) == 1 for u in uses.values())  # one phase per document
    # p2 starts after everything p1 used, the whole cut document included (its tail is discarded)
    used_by_p1 = sum(k[2] for k in keys if k[1] == "a" and ("p1", 0) in uses.get(k[0], []))
    assert plan["phases"]["p2"]["a"]["available"] == sum(k[2] for k in keys if k[1] == "a") - used_by_p1
    assert plan["phases"]["p1"]["a"]["take"] == "cut" and plan["phases"]["p1"]["a"]["cut"][3] >= 1


def test_shortfall_is_recorded_in_the_plan():
    plan, _ = plan_mix([_base(0, 10)], [P2], MixConfig(bins=4))
    entry = plan["phases"]["p2"]["a"]
    assert (entry["realized"], entry["target"], entry["take"]) == (10, 40, "all")


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
    plan, _ = plan_mix([_base(0, 10)], [P2], MixConfig(bins=4))
    check_shortfall(plan, [P2])  # shrink: recorded, no error
    strict = PhaseConfig(name="p2", tokens=40, seq_len=8, weights={"a": 1.0}, on_shortfall="error")
    with pytest.raises(ShortfallError, match=r"bucket a has 10 tokens left \(10 in 1 epoch"):
        check_shortfall(plan, [strict])


def test_pack_orders_repeats_of_a_document_by_their_own_hash():
    phase = PhaseConfig(name="p", tokens=100, seq_len=4, weights={"a": 1.0}, pack_buckets=1)
    docs = [TokenizedDoc(id=f"a/{i}", source="a", lang="en", ids=np.full(4, i, dtype=np.uint32), repeat=r)
            for i in range(8) for r in range(2)]
    expected = [d.id for d in sorted(docs, key=lambda d: (unit_hash(3, "order", d.id, d.repeat), d.id, d.repeat))]
    assert sum(a == b for a, b in zip(expected, expected[1:], strict=False)) < 8  # (id-only order: all 8 adjacent)
    with fn_api_test_pipeline() as p:
        packed = (p | beam.Create([(("p", "train", 0), d) for d in docs])
                  | PackSequences([phase], seed=3, pad_id=0))
        assert_that(packed | beam.Map(lambda kv: [ids[0] for ids in kv[1].doc_ids]), equal_to([expected]))


def test_pack_order_of_duplicate_ids_does_not_depend_on_arrival_order():
    from transforms.pack import _PackFn

    phase = PhaseConfig(name="p", tokens=100, seq_len=4, weights={"a": 1.0}, pack_buckets=1)
    twins = [TokenizedDoc(id="a/1", source="a", lang="en", ids=np.full(3, v, dtype=np.uint32)) for v in (7, 9)]
    fn = _PackFn([phase], 3, 0)
    first = next(iter(fn.process((("p", "train", 0), twins))))[1]
    second = next(iter(fn.process((("p", "train", 0), twins[::-1]))))[1]
    assert shard_bytes(first) == shard_bytes(second)
