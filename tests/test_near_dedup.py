import dataclasses
import random

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.util import assert_that, equal_to

from tests.beam_testing import fn_api_test_pipeline
from transforms.document import Document
from transforms.near_dedup import (
    ALL_PAIRS_MAX_BUCKET,
    DeduplicateNearDuplicates,
    NearDedupConfig,
    bucket_edges,
    candidate_probability,
    choose_bands,
    estimated_jaccard,
    exact_jaccard,
    minhash_inputs,
    minhash_template,
    s_curve,
    shingle_hashes,
    shingles,
    signature,
    survivor_rank,
    text_signature,
)

WORDS = ("river stone light harbour market bread winter garden letter window village teacher bridge "
         "morning lantern orchard meadow valley history kitchen").split()


def _text(seed, n=120):
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) + str(rng.randrange(1000)) for _ in range(n)) + "."


def _edit(text, k, seed):
    words = text.split()
    rng = random.Random(seed)
    for i in rng.sample(range(len(words)), k):
        words[i] = "edited" + str(i)
    return " ".join(words)


def test_shingles_word_ngrams_fold_case_punctuation_and_digits():
    assert shingles("The Cat, sat 12 on the mat!", 5, 5) == sorted(
        s.encode() for s in ["the cat sat 00 on", "cat sat 00 on the", "sat 00 on the mat"])


def test_shingles_chinese_are_character_ngrams():
    assert shingles("今天天气很好，我们去", 5, 5) == sorted(
        s.encode() for s in ["今天天气很", "天天气很好", "天气很好我", "气很好我们", "很好我们去"])


def test_short_text_is_one_shingle():
    assert shingles("two words", 5, 5) == [b"two words"]


SHINGLE_TEXTS = [
    "The Cat, sat 12 on the mat!", "two words", "", "!!! ???", "今天天气很好，我们去公园散步吧",
    "Mixed\u3000spaces\xa0and\u2009thin\tspaces\x1cand separators in one line of text here",
    "English text with 中文 inside it, still mostly spaced words to shingle by word",
    "日本語の文章です。東京は晴れ。", "x", "a " * 40,
]


@pytest.mark.parametrize("text", SHINGLE_TEXTS)
def test_shingle_hashes_are_the_readable_shingles_hashed(text):
    readable = shingles(text, 5, 5)
    hashed = shingle_hashes(text, 5, 5)
    assert len(hashed) == (0 if readable == [b""] else len(readable))
    assert list(hashed) == sorted(set(hashed.tolist()))  # sorted, distinct


def test_exact_jaccard_equals_jaccard_of_the_readable_shingles():
    cfg = NearDedupConfig()
    texts = [_text(1), _edit(_text(1), 5, 1), _edit(_text(1), 30, 2), "今天天气很好，我们去公园散步吧",
             "今天天气很好，我们去公园跑步吧", *SHINGLE_TEXTS[5:7]]
    for a in texts:
        for b in texts:
            sa, sb = set(shingles(a, 5, 5)), set(shingles(b, 5, 5))
            assert exact_jaccard(a, b, cfg) == pytest.approx(len(sa & sb) / len(sa | sb))


@pytest.mark.parametrize("size", [0, 1, 511, 512, 513, 5000])
@pytest.mark.parametrize("num_perm", [128, 16])
def test_signature_is_datasketchs_update_batch(size, num_perm):
    """The blocked NumPy signature gives datasketch's own MinHash values (its permutations, affine32 scheme
    and 32-bit fmix) bit for bit, across block boundaries."""
    from datasketch import MinHash

    cfg = NearDedupConfig(num_perm=num_perm, bands=num_perm // 8, rows=8, seed=7)
    rng = np.random.default_rng(size)
    inputs = minhash_inputs(rng.integers(0, 2**64, size=size, dtype=np.uint64))
    reference = MinHash(num_perm=num_perm, seed=7, hashfunc=int)
    reference.update_batch(inputs.tolist())
    assert reference.scheme == "affine32"
    assert signature(inputs, cfg) == reference.hashvalues.astype(np.uint32).tobytes()
    assert signature(inputs, cfg, minhash_template(cfg)) == signature(inputs, cfg)
    legacy = MinHash(num_perm=num_perm, seed=7, hashfunc=int, scheme="legacy")
    with pytest.raises(ValueError, match="affine32"):
        signature(inputs, cfg, legacy)


def _pair_on_the_wrong_side(cfg, estimate_above):
    """A (base, edited) pair whose MinHash estimate is on the other side of the threshold from its exact
    Jaccard (a coarse 16-value signature makes one easy to find; the search is deterministic)."""
    base = _text(21, n=60)
    for seed in range(2000):
        edited = _edit(base, 4 + seed % 8, seed)
        exact = exact_jaccard(base, edited, cfg)
        est = estimated_jaccard(text_signature("s/a", base, cfg), text_signature("s/b", edited, cfg))
        if (est >= cfg.threshold > exact) if estimate_above else (exact >= cfg.threshold > est):
            return base, edited
    raise AssertionError("no such pair found")


@pytest.mark.parametrize("estimate_above", [True, False])
def test_exact_verification_decides_on_the_shingle_sets(estimate_above):
    estimated_cfg = NearDedupConfig(num_perm=16, bands=16, rows=1, threshold=0.6, max_rounds=2)
    exact_cfg = dataclasses.replace(estimated_cfg, verify="exact")
    base, edited = _pair_on_the_wrong_side(estimated_cfg, estimate_above)
    docs = [Document(id="s/a", source="s", text=base), Document(id="s/b", source="s", text=edited)]
    with fn_api_test_pipeline() as p:
        created = p | beam.Create(docs)
        for name, cfg in [("estimated", estimated_cfg), ("exact", exact_cfg)]:
            out = created | name >> DeduplicateNearDuplicates(cfg)
            clustered = estimate_above if name == "estimated" else not estimate_above
            assert_that(out["kept"] | f"{name}Sizes" >> beam.Map(lambda d: d.cluster_size),
                        equal_to([2] if clustered else [1, 1]), label=f"{name}Kept")


def test_only_candidates_payloads_and_ranks_reach_the_later_joins():
    from apache_beam.pvalue import TaggedOutput

    from transforms.near_dedup import RANK, _candidate_payload

    def plain(outputs):
        return [(o.tag, o.value) if isinstance(o, TaggedOutput) else o for o in outputs]

    assert plain(_candidate_payload((7, [("node", None), ("sig", (b"p7", (-1.0, "s/7"))), ("node", None)]))) == [
        (7, b"p7"), (RANK, (7, (-1.0, "s/7")))]
    assert list(_candidate_payload((8, [("sig", (b"p8", ("s/8",)))]))) == []   # in no candidate pair
    assert list(_candidate_payload((9, [("node", None)]))) == []              # no payload: nothing to verify
    read = []

    def star_centre():  # one marker per edge: read only until the payload and one marker are seen
        for k, item in enumerate([("sig", (b"c", ("s/c",))), *[("node", None)] * 1000]):
            read.append(k)
            yield item
    assert plain(_candidate_payload((1, star_centre()))) == [(1, b"c"), (RANK, (1, ("s/c",)))] and len(read) == 2


def test_small_buckets_give_every_pair_hot_ones_a_star():
    assert list(bucket_edges([5, 3, 9])) == [(3, 5), (3, 9), (5, 9)]
    assert list(bucket_edges([])) == [] and list(bucket_edges([4])) == []
    hot = list(range(ALL_PAIRS_MAX_BUCKET + 5, 2, -1))   # larger than the all-pairs limit
    assert list(bucket_edges(hot)) == [(3, m) for m in hot if m != 3]


def test_s_curve_midpoint_near_0_7_for_16x8():
    assert candidate_probability(0.5, 16, 8) < 0.1
    assert candidate_probability(0.7, 16, 8) == pytest.approx(0.6133, abs=1e-4)
    assert candidate_probability(0.9, 16, 8) > 0.99


def test_bands_chosen_from_threshold_favour_recall():
    assert choose_bands(128, 0.7) == (17, 5)
    cfg = NearDedupConfig(bands=None, rows=None, threshold=0.8)
    assert (cfg.bands, cfg.rows) == (13, 7) and cfg.bands * cfg.rows <= cfg.num_perm
    curve = s_curve(cfg.bands, cfg.rows)
    assert curve["0.8"] >= 0.95 and curve["0.5"] < 0.1


def test_survivor_prefers_quality_then_newest_then_length_then_id():
    a = Document(id="s/a", source="s", text="x" * 10, quality_score=0.9, crawl_date="2019-01-01")
    b = Document(id="s/b", source="s", text="x" * 5, quality_score=0.5, crawl_date="2024-04-25T16:24:44Z")
    c = Document(id="s/c", source="s", text="x" * 20, quality_score=0.5, crawl_date="2023-05-17")
    d = Document(id="s/d", source="s", text="x" * 30, quality_score=0.5)          # no date: oldest
    e = Document(id="s/e", source="s", text="x" * 30, quality_score=0.5)
    assert sorted([e, d, c, b, a], key=survivor_rank) == [a, b, c, d, e]
    by_length = sorted([e, d, c, b, a], key=lambda doc: survivor_rank(doc, ("length",)))
    assert [doc.id for doc in by_length] == ["s/d", "s/e", "s/c", "s/a", "s/b"]


def test_unknown_survivor_key_is_a_config_error():
    with pytest.raises(ValueError, match="unknown key 'age'"):
        NearDedupConfig(survivor_priority=("age",))


@pytest.mark.parametrize("bad", [{"bands": 17}, {"threshold": 0}, {"max_rounds": 0}, {"bands": None},
                                 {"verify": "fuzzy"}, {"word_ngram": 0}, {"char_ngram": 257}])
def test_config_validation(bad):
    with pytest.raises(ValueError):
        NearDedupConfig(**bad)


def test_transform_clusters_chains_and_keeps_the_longest():
    base, other = _text(1), _text(2)
    near1 = _edit(base, 2, 1)              # ~0.9 Jaccard with base
    near2 = _edit(near1, 2, 2) + " tail"   # chain: base ~ near1 ~ near2
    docs = [Document(id="s/a", source="s", text=base), Document(id="s/b", source="s", text=near1),
            Document(id="s/c", source="s", text=near2), Document(id="s/d", source="s", text=other)]
    winner = min(docs[:3], key=survivor_rank).id
    losers = sorted({"s/a", "s/b", "s/c"} - {winner})
    with fn_api_test_pipeline() as p:
        out = p | beam.Create(docs) | DeduplicateNearDuplicates(NearDedupConfig(max_rounds=3))
        assert_that(out["kept"] | beam.Map(lambda d: (d.id, d.cluster_size)), equal_to([(winner, 3), ("s/d", 1)]),
                    label="kept")
        assert_that(out[DeduplicateNearDuplicates.REJECTED] | beam.Map(lambda d: (d.id, d.decision,
                                                                                  d.meta["duplicate_of"])),
                    equal_to([(i, "near_dedup:near_duplicate", winner) for i in losers]), label="rejected")


def test_band_collision_alone_does_not_remove_a_document():
    # 1 band of 1 row: almost any two documents share the band; verification must keep them apart.
    a, b = _text(3), _edit(_text(3), 60, 9)  # about half the words changed: Jaccard far below 0.7
    docs = [Document(id="s/a", source="s", text=a), Document(id="s/b", source="s", text=b)]
    cfg = NearDedupConfig(num_perm=4, bands=4, rows=1, max_rounds=2)
    with fn_api_test_pipeline() as p:
        out = p | beam.Create(docs) | DeduplicateNearDuplicates(cfg)
        assert_that(out["kept"] | beam.Map(lambda d: d.id), equal_to(["s/a", "s/b"]), label="kept")


def _window_docs(n_docs, width, shift):
    rng = random.Random(5)
    words = [rng.choice(WORDS) + str(rng.randrange(100_000)) for _ in range(width + shift * n_docs)]
    return [Document(id=f"s/{i:02d}", source="s", text=" ".join(words[i * shift:i * shift + width]) + ".")
            for i in range(n_docs)]


@pytest.mark.parametrize("verify", ["estimated", "exact"])
def test_a_long_chain_ends_up_in_one_cluster(verify):
    # windows of 200 words shifted by 20: neighbours share ~0.8 of their 5-grams, documents two apart ~0.6,
    # so the cluster exists only through the chain A~B~C~...~L
    docs = _window_docs(12, 200, 20)
    cfg = NearDedupConfig(max_rounds=12, verify=verify)
    with fn_api_test_pipeline() as p:
        out = p | beam.Create(docs) | DeduplicateNearDuplicates(cfg)
        assert_that(out["kept"] | beam.Map(lambda d: d.cluster_size), equal_to([12]), label="one survivor")
        assert_that(out[DeduplicateNearDuplicates.REJECTED] | beam.combiners.Count.Globally(), equal_to([11]),
                    label="eleven dropped")


def test_too_few_rounds_for_a_chain_fail_loudly():
    docs = _window_docs(12, 200, 20)
    with pytest.raises(Exception, match="did not converge in 2 rounds"):
        with fn_api_test_pipeline() as p:
            _ = p | beam.Create(docs) | DeduplicateNearDuplicates(NearDedupConfig(max_rounds=2))


def test_a_hot_bucket_is_one_star_cluster():
    text = _text(7)
    docs = [Document(id=f"s/{i:03d}", source="s", text=text) for i in range(300)]  # one hot bucket per band
    with fn_api_test_pipeline() as p:
        out = p | beam.Create(docs) | DeduplicateNearDuplicates(NearDedupConfig(max_rounds=2))
        assert_that(out["kept"] | beam.Map(lambda d: (d.id, d.cluster_size)), equal_to([("s/000", 300)]), label="kept")
        assert_that(out[DeduplicateNearDuplicates.REJECTED] | beam.combiners.Count.Globally(), equal_to([299]),
                    label="dropped")


def test_audit_samples_clusters_with_exact_and_estimated_jaccard():
    docs = _window_docs(6, 200, 20)                       # one chain cluster
    base = _text(11)
    docs += [Document(id="t/0", source="t", text=base), Document(id="t/1", source="t", text=_edit(base, 3, 4))]
    cfg = NearDedupConfig(max_rounds=6, audit_clusters=5, audit_members=3)
    with fn_api_test_pipeline() as p:
        out = p | beam.Create(docs) | DeduplicateNearDuplicates(cfg)
        summary = out[DeduplicateNearDuplicates.AUDIT] | beam.Map(
            lambda records: sorted((r["cluster_size"], len(r["sampled_members"]),
                                    all(0 <= m["exact_jaccard"] <= 1 for m in r["sampled_members"]),
                                    any(m["below_threshold"] for m in r["sampled_members"])) for r in records))
        # the chain's far members are below the threshold against the survivor; the edited pair is not
        assert_that(summary, equal_to([[(2, 1, True, False), (6, 3, True, True)]]))


def test_audit_flattens_only_cluster_members():
    # A multi-input Flatten is a materialized copy in the FnApiRunner: the audit must filter each output to
    # cluster members first, or every kept document would be copied once more.
    from apache_beam.pipeline import PipelineVisitor

    p = beam.Pipeline()
    _ = p | beam.Create([Document(id="s/a", source="s", text="a b c")]) | "NearDedup" >> DeduplicateNearDuplicates(
        NearDedupConfig(max_rounds=1, audit_clusters=2))
    flattens = []

    class Visitor(PipelineVisitor):
        def visit_transform(self, node):
            if isinstance(node.transform, beam.Flatten) and node.full_label.count("/") == 2 \
                    and node.full_label.startswith("NearDedup/Audit/"):
                flattens.append(sorted(pc.producer.full_label for pc in node.inputs))

    p.visit(Visitor())
    assert flattens == [["NearDedup/Audit/DroppedInClusters", "NearDedup/Audit/KeptInClusters"]]


def test_documents_without_words_are_not_near_duplicates_of_each_other():
    docs = [Document(id="s/a", source="s", text="!!! ???"), Document(id="s/b", source="s", text="*** ---")]
    with fn_api_test_pipeline() as p:
        out = p | beam.Create(docs) | DeduplicateNearDuplicates(NearDedupConfig(max_rounds=2))
        assert_that(out["kept"] | beam.Map(lambda d: d.id), equal_to(["s/a", "s/b"]))


@pytest.mark.parametrize(("date", "number"), [
    ("2024-04-25T16:24:44Z", 20240425162444), ("2023-05-17", 20230517000000), ("2023-05-17\u00b2", 20230517000000),
    ("17/05/2023", 0), (None, 0)])
def test_dates_order_like_iso_and_never_crash(date, number):
    from transforms.near_dedup import _date_number

    assert _date_number(date) == number
