"""ScoreQuality: model-based quality (InternLM-style): a supervised fastText classifier trained on
high-quality (`__label__hq`) vs low-quality (`__label__lq`) examples (`curate train-quality`,
pipeline/train_quality.py) scores every document; the score decides by threshold or by top fraction.

Input/output: `Document` with `quality_score` (and `scores["quality_score"]`) = the model's probability
of `__label__hq`, clamped to [0, 1] and rounded to 6 decimals; tagged `REJECTED`: documents marked
`quality:low_quality` (score < `threshold`) or `quality:below_top_fraction` (outside the top
`top_fraction` of their source), with `meta["drop_detail"]` = the score. With neither set every document
is kept and scored (the score is still there for near-dedup survivors and offline tuning); with
`model: null` the stage is off (documents pass unchanged). `sources` limits the classifier to the
sources it was trained for (a web-page classifier would score code as low quality); documents of other
sources pass unscored.

Features: `quality_features` is the one preprocessing of training and scoring: the first `max_chars`
characters, lowercased, every unspaced-script character (Han, kana, Thai: transforms/scripts.py) its own
token, all whitespace runs (newlines included) one space. fastText splits words on ASCII whitespace only,
so without this a Chinese sentence would be one "word". A model's sidecar (`<model>.json`) records its
`max_chars` and features version; `check_model` refuses a mismatch.

Top fraction, exact and independent of bundling and worker count: documents are ordered by a 64-bit rank,
the score in millionths (20 bits) above 44 bits of a seeded hash of the id (so ties in score are broken
by the hash, the id breaks ties in both). Each source keeps its `round(top_fraction x n)` highest ranks
(half up). The cut-off rank is found by radix selection: a histogram per source of the rank's top 16 bits
(fixed bins, combined with CombinePerKey) gives the cut-off bin and how many documents to take from it;
the next 16 bits of the documents in that bin narrow it again (RANK_LEVELS histograms), and the few
documents left in the last bin (about n / 2^28 even if every score is the same) are ordered exactly.
Each histogram is a side input of the next; the cut-off reaches the deciding DoFn as a side input.
Metrics namespace `quality`: `docs_in`, `kept`, `dropped:<reason>`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from fractions import Fraction
from typing import Any

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.utils import shared

from transforms.counters import CountingDoFn, StageCounters
from transforms.document import Document
from transforms.hashing import hash64
from transforms.langid import load_model
from transforms.scripts import UNSPACED_CHAR

STAGE = "quality"
HQ_LABEL = "__label__hq"
LQ_LABEL = "__label__lq"
FEATURES_VERSION = "quality_features_v1"   # bump when quality_features changes: old models then refuse to load
DEFAULT_MAX_CHARS = 10_000
SCORE_DECIMALS = 6
SIDECAR_SUFFIX = ".json"

RANK_BITS = 64
_SCORE_SCALE = 10**SCORE_DECIMALS          # score in millionths: 0 .. 1_000_000 < 2^20
_SCORE_BITS = 20
_HASH_BITS = RANK_BITS - _SCORE_BITS       # 44 bits of the seeded id hash below the score
RANK_DIGIT_BITS = 16                       # bits per histogram level (65,536 fixed bins)
RANK_LEVELS = 3                            # histograms before the last bin is ordered exactly

_UNSPACED = re.compile(f"({UNSPACED_CHAR.pattern})")


class QualityModelError(ValueError):
    """The quality model cannot be used (missing file, or trained with other features); one line."""


@dataclasses.dataclass(frozen=True)
class QualityConfig:
    model: str | None = None              # resolved path or URI of the fastText .bin; None = stage off
    threshold: float | None = None        # drop documents with quality_score < threshold
    top_fraction: float | None = None     # keep the top fraction of each source by score
    max_chars: int = DEFAULT_MAX_CHARS    # must be the model's (checked against its sidecar)
    batch_size: int = 64                  # documents per fastText call
    seed: int = 20231                     # orders documents of equal score (top_fraction)
    sources: tuple[str, ...] = ()         # sources the classifier applies to (empty = all); others pass

    def __post_init__(self) -> None:
        if self.threshold is not None and self.top_fraction is not None:
            raise ValueError("quality.threshold and quality.top_fraction are exclusive: set at most one")
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"quality.threshold must be in [0, 1], got {self.threshold}")
        if self.top_fraction is not None and not 0.0 < self.top_fraction <= 1.0:
            raise ValueError(f"quality.top_fraction must be in (0, 1], got {self.top_fraction}")
        if (self.threshold is not None or self.top_fraction is not None) and self.model is None:
            raise ValueError("quality.model is required when quality.threshold or quality.top_fraction is set")
        if self.max_chars < 1:
            raise ValueError(f"quality.max_chars must be >= 1, got {self.max_chars}")
        if self.batch_size < 1:
            raise ValueError(f"quality.batch_size must be >= 1, got {self.batch_size}")

    @property
    def enabled(self) -> bool:
        return self.model is not None


# ---------------------------------------------------------------- features and scores (pure)

def quality_features(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """The classifier's input line: the first `max_chars` characters, lowercased, each unspaced-script
    character a token of its own, whitespace runs (newlines included) one space, no edge spaces."""
    text = _UNSPACED.sub(r" \1 ", text[:max_chars].lower())
    return " ".join(text.split())


def hq_probabilities(model: Any, features: Sequence[str]) -> list[float]:
    """P(__label__hq) of each feature line, clamped to [0, 1] and rounded to SCORE_DECIMALS."""
    if not features:
        return []
    labels, probs = model.predict(list(features), k=-1, threshold=0.0)
    out = []
    for labs, ps in zip(labels, probs, strict=True):
        p = next((float(p) for lab, p in zip(labs, ps, strict=True) if lab == HQ_LABEL), 0.0)
        out.append(round(min(max(p, 0.0), 1.0), SCORE_DECIMALS))
    return out


def score_texts(model: Any, texts: Sequence[str], max_chars: int = DEFAULT_MAX_CHARS) -> list[float]:
    return hq_probabilities(model, [quality_features(t, max_chars) for t in texts])


def sidecar_path(model_path: str) -> str:
    return model_path + SIDECAR_SUFFIX


def check_model(path: str, max_chars: int | None = None) -> None:
    """Raises QualityModelError (one line naming the path) if the model file is missing, or if its
    sidecar says it was trained with other features or another `max_chars`. Run on the launcher."""
    if "://" in path:
        from apache_beam.io.filesystems import FileSystems

        if not FileSystems.exists(path):
            raise QualityModelError(f"quality.model: model file not found: {path}")
        return
    if not os.path.isfile(path):
        raise QualityModelError(f"quality.model: model file not found: {path}")
    side = sidecar_path(path)
    if not os.path.isfile(side):
        return
    try:
        with open(side, encoding="utf-8") as fh:
            features = json.load(fh).get("features", {})
    except (OSError, ValueError, AttributeError) as exc:
        raise QualityModelError(f"quality.model: unreadable sidecar {side}: {exc}") from None
    if features.get("version", FEATURES_VERSION) != FEATURES_VERSION:
        raise QualityModelError(f"quality.model: {path} was trained with features {features.get('version')!r}, "
                                f"this code computes {FEATURES_VERSION!r}: retrain it")
    if max_chars is not None and features.get("max_chars", max_chars) != max_chars:
        raise QualityModelError(f"quality.max_chars is {max_chars} but {path} was trained with "
                                f"max_chars {features['max_chars']} (see {side})")


# ---------------------------------------------------------------- top fraction: exact cut-off (pure)

# A selection state per source: ("open", prefix, bits, need) = documents whose rank starts with the
# `bits`-bit `prefix` are undecided and `need` of them are kept (need None: not counted yet, level 0);
# ("cut", rank, id) = final: a document is kept iff (its rank, its id) >= (rank, id).
OPEN, CUT = "open", "cut"
INITIAL_STATE = (OPEN, 0, 0, None)


def rank_key(score: float, doc_id: str, seed: int) -> int:
    """64-bit rank: the score in millionths above 44 bits of a seeded hash of the id."""
    return (round(score * _SCORE_SCALE) << _HASH_BITS) | (hash64(seed, STAGE, doc_id) >> (64 - _HASH_BITS))


def target_count(n: int, fraction: float) -> int:
    """round(fraction x n), halves up, on the fraction as written (0.15 is 3/20, not its binary float)."""
    return math.floor(Fraction(repr(fraction)) * n + Fraction(1, 2))


def rank_digit(rank: int, state: tuple, digit_bits: int) -> int | None:
    """The next `digit_bits` bits of `rank` after an open state's prefix; None if the prefix differs."""
    _, prefix, bits, _ = state
    if rank >> (RANK_BITS - bits) != prefix:
        return None
    return (rank >> (RANK_BITS - bits - digit_bits)) & ((1 << digit_bits) - 1)


def narrow(counts: Mapping[int, int], state: tuple, digit_bits: int, fraction: float) -> tuple:
    """The next state of one source from the histogram of the next digit of its undecided documents."""
    _, prefix, bits, need = state
    if need is None:
        need = target_count(sum(counts.values()), fraction)
    if need == 0:  # nothing (more) to keep: cut just above the prefix
        return CUT, (prefix + 1) << (RANK_BITS - bits), ""
    new_bits = bits + digit_bits
    above = 0
    for digit in sorted(counts, reverse=True):
        count = counts[digit]
        new_prefix = (prefix << digit_bits) | digit
        if above + count == need:  # this bin and everything above it
            return CUT, new_prefix << (RANK_BITS - new_bits), ""
        if above + count > need:
            return OPEN, new_prefix, new_bits, need - above
        above += count
    raise ValueError(f"quality: histogram of {above} documents cannot hold {need}")


def last_cut(candidates: Iterable[tuple[int, str]], state: tuple, fraction: float) -> tuple:
    """The final cut of an open state from its undecided documents' (rank, id): the need-th highest."""
    ordered = sorted(candidates, reverse=True)
    _, prefix, bits, need = state
    if need is None:
        need = target_count(len(ordered), fraction)
    if need == 0:
        return CUT, (prefix + 1) << (RANK_BITS - bits), ""
    if need > len(ordered):
        raise ValueError(f"quality: {len(ordered)} candidates cannot hold {need}")
    rank, doc_id = ordered[need - 1]
    return CUT, rank, doc_id


def is_kept(rank: int, doc_id: str, cut: tuple) -> bool:
    return (rank, doc_id) >= (cut[1], cut[2])


def select_top(ranked: Iterable[tuple[str, int, str]], fraction: float, digit_bits: int = RANK_DIGIT_BITS,
               levels: int = RANK_LEVELS) -> dict[str, tuple]:
    """{source: cut} for (source, rank, id) triples: the Beam graph's computation in memory (tests, audits)."""
    items = list(ranked)
    states = {s: INITIAL_STATE for s, _, _ in items}
    for _ in range(levels):
        hists: dict[str, dict[int, int]] = {}
        for s, rank, _ in items:
            if states[s][0] == OPEN and (d := rank_digit(rank, states[s], digit_bits)) is not None:
                hists.setdefault(s, {}).setdefault(d, 0)
                hists[s][d] += 1
        states.update({s: narrow(h, states[s], digit_bits, fraction) for s, h in hists.items()})
    for s in [s for s, st in states.items() if st[0] == OPEN]:
        st = states[s]
        states[s] = last_cut(((r, i) for src, r, i in items if src == s and r >> (RANK_BITS - st[2]) == st[1]),
                             st, fraction)
    return states


# ---------------------------------------------------------------- DoFns and transform

class _Model:
    """Weak-referenceable holder for the fastText model (required by `Shared`)."""

    def __init__(self, path: str) -> None:
        self.model = load_model(path)
        if HQ_LABEL not in self.model.labels:
            raise QualityModelError(f"quality.model: {path} has no label {HQ_LABEL} (labels: {self.model.labels})")


def _scored(doc: Document, score: float) -> Document:
    return doc.replace(quality_score=score, scores={**doc.scores, "quality_score": score})


class _ScoreFn(CountingDoFn):
    """Scores a batch; with `decide` (threshold or no filter) also keeps or drops."""

    def __init__(self, cfg: QualityConfig, decide: bool) -> None:
        super().__init__()
        self._cfg = cfg
        self._decide = decide
        self._shared = shared.Shared()
        self._counters = StageCounters(STAGE)
        self._model = None

    def setup(self) -> None:
        path = self._cfg.model
        self._model = self._shared.acquire(lambda: _Model(path), tag=f"fasttext-quality:{path}").model

    def process(self, batch: list[Document]) -> Iterable[Any]:
        scores = score_texts(self._model, [d.text for d in batch], self._cfg.max_chars)
        threshold = self._cfg.threshold
        for doc, score in zip(batch, scores, strict=True):
            self._counters.inc("docs_in")
            doc = _scored(doc, score)
            if not self._decide:
                yield doc
            elif threshold is not None and score < threshold:
                self._counters.inc("dropped:low_quality")
                yield pvalue.TaggedOutput(ScoreQuality.REJECTED, doc.dropped(STAGE, "low_quality", str(score)))
            else:
                self._counters.inc("kept")
                yield doc


class _TopFractionFn(CountingDoFn):
    def __init__(self, seed: int) -> None:
        super().__init__()
        self._seed = seed
        self._counters = StageCounters(STAGE)

    def process(self, doc: Document, cuts: Mapping[str, tuple]) -> Iterator[Any]:
        rank = rank_key(doc.quality_score, doc.id, self._seed)
        if is_kept(rank, doc.id, cuts[doc.source]):
            self._counters.inc("kept")
            yield doc
        else:
            self._counters.inc("dropped:below_top_fraction")
            yield pvalue.TaggedOutput(ScoreQuality.REJECTED,
                                      doc.dropped(STAGE, "below_top_fraction", str(doc.quality_score)))


class _PassFn(beam.DoFn):
    def process(self, doc: Document) -> Iterator[Document]:
        yield doc


def _digit_entries(key: tuple[str, int, str], states: Mapping[str, tuple] | None,
                   digit_bits: int) -> Iterator[tuple[tuple[str, int], int]]:
    source, rank, _ = key
    state = INITIAL_STATE if states is None else states[source]
    if state[0] == OPEN and (digit := rank_digit(rank, state, digit_bits)) is not None:
        yield (source, digit), 1


def _candidates(key: tuple[str, int, str], states: Mapping[str, tuple]) -> Iterator[tuple[str, tuple[int, str]]]:
    source, rank, doc_id = key
    state = states[source]
    if state[0] == OPEN and rank >> (RANK_BITS - state[2]) == state[1]:
        yield source, (rank, doc_id)


def _narrow_source(kv: tuple[str, Iterable[tuple[int, int]]], states: Mapping[str, tuple] | None,
                   digit_bits: int, fraction: float) -> tuple[str, tuple]:
    source, digit_counts = kv
    state = INITIAL_STATE if states is None else states[source]
    return source, narrow(dict(digit_counts), state, digit_bits, fraction)


class _SelectTop(beam.PTransform):
    """(source, rank, id) -> (source, cut): the exact per-source cut-off of `select_top`, as a graph."""

    def __init__(self, fraction: float, digit_bits: int, levels: int) -> None:
        super().__init__()
        self._fraction, self._digit_bits, self._levels = fraction, digit_bits, levels

    def expand(self, keys: beam.PCollection) -> beam.PCollection:
        states = None if self._levels else (
            keys | "Sources" >> beam.Map(lambda k: k[0]) | beam.Distinct() | beam.Map(lambda s: (s, INITIAL_STATE)))
        for level in range(self._levels):
            prev = None if states is None else pvalue.AsDict(states)
            narrowed = (
                keys
                | f"Digits{level}" >> beam.FlatMap(_digit_entries, prev, self._digit_bits)  # ((source, digit), 1)
                | f"CountPerBin{level}" >> beam.CombinePerKey(sum)
                | f"BySource{level}" >> beam.Map(lambda kv: (kv[0][0], (kv[0][1], kv[1])))
                | f"Histogram{level}" >> beam.GroupByKey()                          # (source, [(digit, count)])
                | f"Narrow{level}" >> beam.Map(_narrow_source, prev, self._digit_bits, self._fraction)
            )
            if states is None:
                states = narrowed
            else:
                done = states | f"Decided{level}" >> beam.Filter(lambda kv: kv[1][0] == CUT)
                states = (narrowed, done) | f"States{level}" >> beam.Flatten()
        cut_last = (
            keys
            | "Candidates" >> beam.FlatMap(_candidates, pvalue.AsDict(states))      # (source, (rank, id))
            | "CandidatesPerSource" >> beam.GroupByKey()
            | "LastCut" >> beam.Map(lambda kv, st, f: (kv[0], last_cut(kv[1], st[kv[0]], f)),
                                    pvalue.AsDict(states), self._fraction)
        )
        done = states | "Decided" >> beam.Filter(lambda kv: kv[1][0] == CUT)
        return (cut_last, done) | "Cuts" >> beam.Flatten()


class ScoreQuality(beam.PTransform):
    """Scores documents with the quality model and drops by threshold or top fraction per source.
    Outputs: main = kept Document (scored), REJECTED = dropped Document."""

    REJECTED = "rejected"

    def __init__(self, cfg: QualityConfig) -> None:
        super().__init__()
        self._cfg = cfg
        self._digit_bits, self._levels = RANK_DIGIT_BITS, RANK_LEVELS

    def expand(self, docs: beam.PCollection) -> dict[str, beam.PCollection]:
        cfg = self._cfg
        if not cfg.enabled:
            out = docs | "QualityOff" >> beam.ParDo(_PassFn()).with_outputs(self.REJECTED, main="kept")
            return {"kept": out.kept, self.REJECTED: out[self.REJECTED]}
        if not cfg.sources:
            out = self._score(docs)
            return {"kept": out.kept, self.REJECTED: out[self.REJECTED]}
        sources = frozenset(cfg.sources)
        scored, passed = docs | "BySource" >> beam.Partition(lambda d, _: 0 if d.source in sources else 1, 2)
        out = self._score(scored)
        return {"kept": (out.kept, passed) | "AllKept" >> beam.Flatten(), self.REJECTED: out[self.REJECTED]}

    def _score(self, docs: beam.PCollection) -> pvalue.DoOutputsTuple:
        cfg = self._cfg
        batches = docs | "Batch" >> beam.BatchElements(min_batch_size=cfg.batch_size, max_batch_size=cfg.batch_size,
                                                       record_metrics=False)  # fixed size, as in langid
        if cfg.top_fraction is None:
            return batches | "ScoreAndFilter" >> beam.ParDo(_ScoreFn(cfg, decide=True)).with_outputs(
                self.REJECTED, main="kept")
        scored = batches | "Score" >> beam.ParDo(_ScoreFn(cfg, decide=False))
        cuts = (
            scored
            | "Rank" >> beam.Map(lambda d, seed: (d.source, rank_key(d.quality_score, d.id, seed), d.id), cfg.seed)
            | "SelectTop" >> _SelectTop(cfg.top_fraction, self._digit_bits, self._levels)
        )
        return scored | "KeepTopFraction" >> beam.ParDo(
            _TopFractionFn(cfg.seed), cuts=pvalue.AsDict(cuts)).with_outputs(self.REJECTED, main="kept")
