"""MixPhases (issue 6): quality-tier buckets, per-phase length filters, max_epochs upsampling (cluster
weighted or not), reusable buckets, exact budgets with book-length documents, the ledger across runs and
the manifest fields. Big cases test the pure planning functions (`plan_mix`, `MixSpec.assign_units`);
the Beam transform is checked against them, and the ledger end to end through shards and manifests."""

from __future__ import annotations

import io
import json
import random
from collections import Counter
from pathlib import Path

import apache_beam as beam
import numpy as np
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.util import assert_that, equal_to

from pipeline.config import ConfigError, config_from_dict
from pipeline.graph import write_json
from pipeline.manifest import iter_segments, load_ledger, read_shard, write_phase_manifests
from tests.beam_testing import fn_api_test_pipeline
from tokenizer import Tokenizer, TokenizerTrainConfig, train_sentencepiece
from transforms.arrow_shards import WriteArrowShards
from transforms.mix import (
    ID,
    SCORE,
    TIER,
    Ledger,
    MixConfig,
    MixPhases,
    MixSpec,
    N,
    PhaseConfig,
    ShortfallError,
    _DenseHistogram,
    check_shortfall,
    cluster_cap,
    plan_mix,
    tier_cutoffs,
    tier_of,
)
from transforms.pack import PackSequences
from transforms.tokenize import TokenizedDoc


def _corpus(per_source: int = 1000, seed: int = 7) -> list[tuple]:
    """Base keys (id, source, n_tokens, quality_score, cluster_size): mostly short documents, 5% books of
    100k-400k tokens; a tenth of web has no quality score; code is never scored."""
    rng = random.Random(seed)
    bases = []
    for source in ("web", "books", "code"):
        for i in range(per_source):
            n = rng.randint(100_000, 400_000) if rng.random() < 0.05 else rng.randint(50, 3_000)
            score = round(rng.random(), 6) if source == "web" and i % 10 else None
            bases.append((f"{source}/{i:05d}", source, n, score, rng.choice([1, 1, 1, 1, 2, 3, 4, 6, 9, 20])))
    return bases


def _assign(phases, cfg, plan, keys, ledger=None):
    """[(phase, bucket, doc id, pass, tokens)] by the plan's assignment rule."""
    spec = MixSpec(phases, cfg, ledger)
    return [(phases[k].name, b.name, key[ID], r, n) for key in keys for k, b, r, n in spec.assign_units(key, plan)]


BIG = [
    PhaseConfig(name="pretrain", tokens=12_000_000, seq_len=4096, weights={"web": 0.5, "books": 0.3, "code": 0.2},
                tiers={"web": {"q0": 2, "q1": 1, "q2": 1}}),
    PhaseConfig(name="long_32k", tokens=3_000_000, seq_len=32768, weights={"web": 0.5, "books": 0.5},
                min_tokens=32768, max_tokens=300_000),
    PhaseConfig(name="anneal", tokens=2_000_000, seq_len=4096, weights={"web": 0.5, "code": 0.5},
                tiers={"web": {"q0": 1}}),
    PhaseConfig(name="code_heavy", tokens=20_000_000, seq_len=4096, weights={"code": 1.0},
                max_epochs={"code": 3}),
]


@pytest.fixture(scope="module")
def big():
    cfg = MixConfig(seed=11, quality_tiers=3)
    plan, keys = plan_mix(_corpus(), BIG, cfg)
    return cfg, plan, keys, _assign(BIG, cfg, plan, keys)


def test_budgets_are_met_exactly_with_book_length_documents(big):
    _, plan, keys, units = big
    assert sum(1 for k in keys if k[N] >= 100_000) > 100  # books, in every source
    realized = Counter()
    for phase, bucket, _, _, n in units:
        realized[(phase, bucket)] += n
    for phase in BIG:
        for bucket, target in phase.targets().items():
            entry = plan["phases"][phase.name][bucket]
            assert target >= 1_000_000 and entry["target"] == target
            assert realized[(phase.name, bucket)] == entry["realized"]
            assert abs(entry["realized"] - target) <= target // 100, (phase.name, bucket)
            assert entry["realized"] == target  # exact: the document at the cut is truncated
    assert plan["phases"]["code_heavy"]["code"]["repeats"][1] > 0  # upsampled into a second pass


def test_documents_repeat_only_when_upsampled_and_never_beyond_max_epochs(big):
    _, plan, keys, units = big
    passes: dict[str, list[tuple[str, int]]] = {}
    for phase, _, doc_id, r, _ in units:
        passes.setdefault(doc_id, []).append((phase, r))
    for doc_id, used in passes.items():
        reps = sorted(r for _, r in used)
        assert reps == list(range(len(reps))), (doc_id, used)   # each pass once, pass r only after r - 1
        assert len(reps) <= 3
        if len(used) > 1:  # a second use is always a repeat of the upsampled bucket
            assert all(phase == "code_heavy" for phase, r in used if r > 0), (doc_id, used)
    multi_phase = [d for d, used in passes.items() if len({p for p, _ in used}) > 1]
    assert multi_phase and all(d.startswith("code/") for d in multi_phase)
    assert plan["phases"]["code_heavy"]["code"]["available_epochs"] > 20_000_000


def test_filters_and_quality_tiers_choose_the_documents(big):
    _, plan, keys, units = big
    by_id = {k[ID]: k for k in keys}
    long_docs = [by_id[d] for phase, _, d, _, _ in units if phase == "long_32k"]
    assert long_docs and all(32768 <= k[N] <= 300_000 for k in long_docs)
    assert any(k[N] > 300_000 for k in keys)
    scores = {t: [by_id[d][SCORE] for p, b, d, _, _ in units if b == f"web@q{t}"] for t in range(3)}
    assert all(s is not None for s in scores[0] + scores[1])
    assert min(scores[0]) >= max(scores[1]) - 0.001 and min(scores[1]) >= max(s for s in scores[2] if s) - 0.001
    assert None in scores[2]  # documents without a score are in the last tier
    web = [k for k in keys if k[ID].startswith("web/")]
    tiers = Counter(k[TIER] for k in web if k[SCORE] is not None)
    assert max(tiers.values()) - min(tiers.values()) <= 0.02 * len(web)  # thirds of the scored documents
    assert all(k[TIER] == 2 for k in web if k[SCORE] is None)


def test_tier_cutoffs_and_tier_of():
    counts = np.zeros(10, dtype=np.int64)
    counts[[1, 4, 5, 9]] = [30, 30, 10, 30]
    assert tier_cutoffs(counts, 3) == [9, 4]            # 30 docs above bin 9, 70 at or above bin 4
    assert [tier_of(s, [9, 4], 10) for s in (0.95, 0.5, 0.1, None)] == [0, 1, 2, 2]
    assert tier_cutoffs(np.zeros(10, dtype=np.int64), 3) == [10, 10]  # nothing scored: all in the last tier
    assert [cluster_cap(s) for s in (None, 1, 2, 3, 4, 7, 8, 1000)] == [1, 1, 2, 2, 3, 3, 4, 10]


def test_upsampling_shortfall_beyond_the_cap_and_cluster_weighting():
    bases = [(f"a/{i}", "a", 100, None, cs) for i, cs in enumerate([1] * 10 + [2] * 10 + [4] * 10)]  # 3,000 tokens
    ups = PhaseConfig(name="u", tokens=5000, seq_len=64, weights={"a": 1.0}, max_epochs={"a": 2})
    plan, keys = plan_mix(bases, [ups], MixConfig(bins=8))
    assert plan["phases"]["u"]["a"]["repeats"] == [3000, 2000] and plan["phases"]["u"]["a"]["realized"] == 5000
    short = PhaseConfig(name="u", tokens=7000, seq_len=64, weights={"a": 1.0}, max_epochs={"a": 2},
                        on_shortfall="error")
    plan, _ = plan_mix(bases, [short], MixConfig(bins=8))
    assert plan["phases"]["u"]["a"]["realized"] == 6000
    with pytest.raises(ShortfallError, match=r"bucket a has 3000 tokens left \(6000 in 2 epoch"):
        check_shortfall(plan, [short])
    weighted = PhaseConfig(name="w", tokens=6000, seq_len=64, weights={"a": 1.0}, max_epochs={"a": 3},
                           cluster_weighted=("a",))
    plan, keys = plan_mix(bases, [weighted], MixConfig(bins=8))
    uses = Counter(d for _, _, d, _, _ in _assign([weighted], MixConfig(bins=8), plan, keys))
    # caps: cluster 1 -> 1 pass, 2 -> 2, 4 -> 3: 10 + 20 + 30 passes of 100 tokens hold all 6,000
    assert plan["phases"]["w"]["a"]["realized"] == 6000
    assert {cs: {uses[k[ID]] for k in keys if k[4] == cs} for cs in (1, 2, 4)} == {1: {1}, 2: {2}, 4: {3}}


def test_reusable_bucket_draws_what_earlier_phases_used():
    bases = [(f"a/{i}", "a", 50 + i, None, 1) for i in range(60)]
    first = PhaseConfig(name="first", tokens=2000, seq_len=64, weights={"a": 1.0})
    again = PhaseConfig(name="again", tokens=2000, seq_len=64, weights={"a": 1.0}, reusable=("a",))
    fresh = PhaseConfig(name="fresh", tokens=1000, seq_len=64, weights={"a": 1.0})
    cfg = MixConfig(seed=5, bins=4)
    plan, keys = plan_mix(bases, [first, again, fresh], cfg)
    units = _assign([first, again, fresh], cfg, plan, keys)
    ids = {p: {d for q, _, d, _, _ in units if q == p} for p in ("first", "again", "fresh")}
    assert ids["first"] & ids["again"]                         # reused
    assert not (ids["fresh"] & (ids["first"] | ids["again"]))  # a later plain phase skips both
    assert all(plan["phases"][p]["a"]["realized"] == plan["phases"][p]["a"]["target"] for p in ids)


def test_histogram_combiner_is_exact_whatever_the_bundling():
    rng = random.Random(2)
    entries = [(rng.choice("ab"), rng.randrange(64), rng.randint(1, 9)) for _ in range(500)]
    fn = _DenseHistogram(64)   # sparse up to 16 digits per key, then dense
    expected = {k: np.bincount([d for kk, d, _ in entries if kk == k], [c for kk, _, c in entries if kk == k], 64)
                for k in "ab"}
    for size in (1, 7, 100, 500):
        accs = []
        for start in range(0, len(entries), size):
            acc = fn.create_accumulator()
            for e in entries[start:start + size]:
                acc = fn.add_input(acc, e)
            accs.append(acc)
        while len(accs) > 1:  # merged in a tree, as a runner may
            accs = [fn.merge_accumulators(accs[i:i + 3]) for i in range(0, len(accs), 3)]
        out = fn.extract_output(accs[0])
        assert {k: v.tolist() for k, v in out.items()} == {k: v.astype(np.int64).tolist() for k, v in expected.items()}


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"tiers": {"b": {"q0": 1}}}, "phases.p.tiers.b: not a source with a positive weight"),
    ({"tiers": {"a": {"top": 1}}}, "phases.p.tiers.a: tiers are named q0, q1"),
    ({"tiers": {"a": {"q0": 0}}}, "phases.p.tiers.a must be non-negative with a positive sum"),
    ({"min_tokens": -1}, "phases.p.min_tokens must be >= 0"),
    ({"min_tokens": 10, "max_tokens": 5}, "phases.p.max_tokens must be >= 1 and >= min_tokens"),
    ({"max_epochs": {"b": 2}}, "phases.p.max_epochs: unknown bucket 'b'"),
    ({"max_epochs": {"a": 0}}, r"phases.p.max_epochs.a must be in \[1, 64\]"),
    ({"reusable": ("a@q0",)}, "phases.p.reusable: unknown bucket 'a@q0'"),
    ({"cluster_weighted": ("x",)}, "phases.p.cluster_weighted: unknown bucket 'x'"),
    ({"weights": {"a@q0": 1}}, "phases.p.weights: keys are sources"),
])
def test_phase_config_errors_name_the_key(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PhaseConfig(**{"name": "p", "tokens": 10, "seq_len": 8, "weights": {"a": 1.0}, **kwargs})


def test_yaml_fields_load_and_are_checked_against_mix():
    raw = {"sources": [{"name": "web", "paths": ["d/*.jsonl"]}, {"name": "books", "paths": ["b/*.jsonl"]}],
           "mix": {"quality_tiers": 3, "previous": ["../run1"]},
           "phases": [{"name": "long", "tokens": 100, "seq_len": 16, "weights": {"web": 0.667, "books": 0.333},
                       "tiers": {"web": {"q0": 1, "q1": 1}}, "min_tokens": 8, "max_epochs": {"books": 4},
                       "reusable": ["books"], "cluster_weighted": ["books"]}]}
    cfg = config_from_dict(raw, Path("/base/configs"))
    phase = cfg.phases[0]
    assert cfg.mix.previous == ("/base/run1",)
    assert phase.targets() == {"books": 33, "web@q0": 33, "web@q1": 33}
    assert (phase.min_tokens, phase.max_tokens, phase.max_epochs, phase.reusable) == (8, None, {"books": 4}, ("books",))
    raw["mix"] = {"quality_tiers": 2}
    raw["phases"][0]["tiers"] = {"web": {"q2": 1}}
    with pytest.raises(ConfigError, match=r"phases.long.tiers.web.q2: mix.quality_tiers is 2 \(tiers q0..q1\)"):
        config_from_dict(raw, Path("/base"))
    with pytest.raises(ConfigError, match="mix.bins must be a power of two"):
        config_from_dict({**raw, "mix": {"bins": 1000}, "phases": BASE_PHASES}, Path("/base"))


BASE_PHASES = [{"name": "p", "tokens": 100, "seq_len": 16, "weights": {"web": 1}}]


# ---------------------------------------------------------------- Beam

def _docs(n_docs: int, seed: int = 3) -> list[TokenizedDoc]:
    rng = random.Random(seed)
    docs = []
    for i in range(n_docs):
        source = ("web", "books")[i % 2]
        n = rng.choice([rng.randint(3, 40)] * 9 + [rng.randint(200, 600)])
        docs.append(TokenizedDoc(id=f"{source}/{i:04d}", source=source, lang="en",
                                 ids=np.arange(n, dtype=np.uint32) % 97 + 4,
                                 quality_score=round(rng.random(), 6) if source == "web" and i % 7 else None,
                                 cluster_size=rng.choice([1, 1, 2, 5])))
    return docs


def _base_of(d: TokenizedDoc) -> tuple:
    return d.id, d.source, d.n_tokens, d.quality_score, d.cluster_size


def test_beam_transform_matches_the_pure_plan():
    phases = [
        PhaseConfig(name="a", tokens=3000, seq_len=64, weights={"web": 0.6, "books": 0.4},
                    tiers={"web": {"q0": 1, "q1": 1}}, validation_fraction=0.1),
        PhaseConfig(name="b", tokens=24000, seq_len=128, weights={"web": 0.5, "books": 0.5}, min_tokens=30,
                    max_epochs={"books": 3, "web": 2}, cluster_weighted=("books",), reusable=("web",)),
    ]
    cfg = MixConfig(seed=9, bins=16, quality_tiers=2)   # few bins: the refinement levels do the work
    docs = _docs(400)
    plan, keys = plan_mix([_base_of(d) for d in docs], phases, cfg)
    expected = sorted(_assign(phases, cfg, plan, keys))
    assert any(r > 0 for *_, r, _ in expected) and any(e["cut"] for e in plan["phases"]["b"].values())
    with fn_api_test_pipeline() as p:
        out = p | beam.Create(docs) | MixPhases(phases, cfg)
        units = out["assigned"] | beam.Map(lambda kv: (kv[0][0], kv[1].source, kv[1].id, kv[1].repeat,
                                                       kv[1].n_tokens))
        assert_that(units, equal_to(expected), label="units")
        assert_that(out["plan"] | beam.Map(lambda pl: json.dumps(pl, sort_keys=True)),
                    equal_to([json.dumps(plan, sort_keys=True)]), label="plan")


@pytest.fixture(scope="module")
def tokenizer():
    texts = ["The river runs past the mill.\n\tdef f(x): return x", "春天来了，花都开了。"] * 20
    return Tokenizer(train_sentencepiece(texts, TokenizerTrainConfig(vocab_size=300, num_threads=1))[0])


def _mix_run(out: Path, docs, phases, cfg, tokenizer, ledger=None) -> dict:
    """The mixing job's graph (mix, pack, write) on TokenizedDocs, then the phase manifests."""
    with fn_api_test_pipeline() as p:
        mixed = p | beam.Create(docs) | MixPhases(phases, cfg, ledger)
        _ = mixed["plan"] | beam.Map(write_json, f"{out}/phases/plan.json")
        packed = mixed["assigned"] | PackSequences(phases, cfg.seed, tokenizer.pad_id)
        _ = packed | WriteArrowShards(str(out), phases)
    return write_phase_manifests(str(out), tuple(phases), cfg, tokenizer)


def _phase_doc_ids(out: Path, phase: str) -> set[str]:
    return {seg[0] for path in sorted((out / "phases" / phase).rglob("*.arrow"))
            for seg in iter_segments(read_shard(str(path)))}


def test_second_run_reads_the_first_runs_ledger_and_reuses_nothing(tmp_path, tokenizer):
    docs = _docs(300, seed=4)
    cfg = MixConfig(seed=2, bins=16, quality_tiers=2)
    a = PhaseConfig(name="A", tokens=2500, seq_len=64, weights={"web": 0.5, "books": 0.5},
                    tiers={"web": {"q0": 1}}, validation_fraction=0.1, pack_buckets=2)
    b = PhaseConfig(name="B", tokens=2000, seq_len=64, weights={"web": 0.5, "books": 0.5}, min_tokens=10,
                    max_epochs={"books": 2})
    out = tmp_path / "run"
    first = _mix_run(out, docs, [a], cfg, tokenizer)["A"]
    assert first["tokens_by_source"]["target"] == first["tokens_by_source"]["realized"] == {"books": 1250,
                                                                                           "web@q0": 1250}
    assert first["epochs_by_source"] == {"books": 1, "web@q0": 1} and first["shortfall"] == {}
    assert first["selection"]["seed"] == 2 and set(first["selection"]["tier_cutoffs"]) == {"web"}
    assert first["consumed"]["web@q0"] and all(e["tier"] == 0 for e in first["consumed"]["web@q0"])
    assert first["previous"] == [] and len(first["config_hash"]) == 16

    ledger = load_ledger((str(out),), (b,), tokenizer.sha256)   # the second run, same output directory
    assert isinstance(ledger, Ledger) and [s["phase"] for s in ledger.sources] == ["A"]
    second = _mix_run(out, docs, [b], MixConfig(seed=2, bins=16, quality_tiers=2, previous=(str(out),)),
                      tokenizer, ledger)["B"]
    assert not _phase_doc_ids(out, "A") & _phase_doc_ids(out, "B")
    assert second["previous"] == list(ledger.sources) and second["tokens_by_source"]["realized"] == {"books": 1000,
                                                                                              "web": 1000}
    # the same selection as one run of [A, B]
    plan, keys = plan_mix([_base_of(d) for d in docs], [a, b], cfg)
    assert {bk: e["realized"] for bk, e in plan["phases"]["B"].items()} == second["tokens_by_source"]["realized"]
    assert sorted(u for u in _assign([a, b], cfg, plan, keys) if u[0] == "B") == sorted(
        _assign([b], cfg, json.loads((out / "phases" / "plan.json").read_text()),
                plan_mix([_base_of(d) for d in docs], [b], cfg, ledger)[1], ledger))
    assert (out / "phases" / "A" / "manifest.json").exists()

    with pytest.raises(ConfigError, match="phase A of .* is also a phase of this run"):
        load_ledger((str(out),), (a,), tokenizer.sha256)
    with pytest.raises(ConfigError, match="used tokenizer .* runs that share a ledger need the same"):
        load_ledger((str(out),), (PhaseConfig(name="C", tokens=1, seq_len=8, weights={"web": 1}),), "0" * 64)
    with pytest.raises(ConfigError, match="mix.previous: no finished phase"):
        load_ledger((str(tmp_path / "nowhere"),), (b,), None)


def test_ledger_ranges_cover_what_the_phase_consumed(tmp_path, tokenizer):
    """A unit is covered by the manifest's ledger iff the phase used it (the cut document whole)."""
    docs = _docs(200, seed=8)
    cfg = MixConfig(seed=6, bins=8)
    phase = PhaseConfig(name="A", tokens=8000, seq_len=64, weights={"web": 1.0}, max_epochs={"web": 2},
                        min_tokens=5)
    out = tmp_path / "r"
    manifest = _mix_run(out, [d for d in docs if d.source == "web"], [phase], cfg, tokenizer)["A"]
    assert manifest["repeats_by_source"]["web"][1] > 0 and manifest["buckets"]["web"]["cut"]["pass"] == 1
    assert manifest["epochs_by_source"] == {"web": 2}
    assert {(e["pass"], e["n_tokens"][0]) for e in manifest["consumed"]["web"]} == {(0, 5), (1, 5)}
    ledger = load_ledger((str(out),), (), None)
    plan, keys = plan_mix([_base_of(d) for d in docs], [phase], cfg)
    used = {(d, r) for _, _, d, r, _ in _assign([phase], cfg, plan, keys)}
    assert any(r == 1 for _, r in used)
    for key in keys:
        for r in range(2):
            assert ledger.consumed(key, r, cfg.seed) == ((key[ID], r) in used), (key, r)


def test_mixing_reads_curated_parts_by_row_group(tmp_path):
    """A curated part is written in row groups of ROW_GROUP_ROWS rows and the mixing job reads it one row
    group per work item: every kept row comes back exactly once, in order, and annotate-mode rows that
    were dropped are skipped."""
    from pipeline.graph import curated_row_groups, read_curated_rows
    from transforms.document import Document
    from transforms.parquet_out import ROW_GROUP_ROWS, part_bytes

    n = 2 * ROW_GROUP_ROWS + 5
    docs = [Document(id=f"d/{i:05d}", source="s", text=f"text {i}",
                     decision="keep" if i % 7 else "rules:too_short") for i in range(n)]
    path = tmp_path / "part-00000-of-00001.parquet"
    path.write_bytes(part_bytes("curated", docs))
    units = curated_row_groups(str(path))
    assert units == [(str(path), 0), (str(path), 1), (str(path), 2)]
    rows = [r for unit in units for r in read_curated_rows(unit)]
    assert [r["id"] for r in rows] == [d.id for d in docs if d.decision == "keep"]
    assert len(rows) == n - len(range(0, n, 7))


def test_row_groups_end_at_a_row_count_or_a_text_size():
    """Row groups (the mixing job's units of work) are bounded in rows and in characters of text, so long
    documents make smaller row groups rather than a few large work items."""
    from transforms.document import Document
    from transforms.parquet_out import ROW_GROUP_TEXT_CHARS, part_bytes, row_group_bounds

    assert row_group_bounds([5] * 5, max_rows=2, max_chars=100) == [(0, 2), (2, 4), (4, 5)]
    assert row_group_bounds([60, 50, 10, 200, 1], max_rows=10, max_chars=100) == [(0, 2), (2, 4), (4, 5)]
    assert row_group_bounds([]) == [(0, 0)]   # an empty part is one empty row group, as before
    third = ROW_GROUP_TEXT_CHARS // 3
    docs = [Document(id=f"d/{i:02d}", source="s", text="x" * (third + 1 if i < 6 else 10)) for i in range(10)]
    meta = pq.ParquetFile(io.BytesIO(part_bytes("curated", docs))).metadata
    assert [meta.row_group(k).num_rows for k in range(meta.num_row_groups)] == [3, 3, 4]
