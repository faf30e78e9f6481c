"""MixPhases: assign tokenized documents to phases by token budget, bucket weights, filters and epoch caps.

Input: `TokenizedDoc`. Outputs: `assigned` = ((phase, split, pack bucket), TokenizedDoc) ready for packing
(`source` = the mixing bucket, `repeat` = the pass, `ids` cut at the budget for one document per bucket),
and `plan` (one dict: what every phase took, the ledger its manifest records).

Buckets. A phase's `weights` are per source; `tiers: {source: {q0: w, q1: w}}` splits a source's share
over quality tiers (bucket `<source>@q<k>`). With `mix.quality_tiers: n`, tier q0 holds the top 1/n of
the source's scored documents by `quality_score`, q<n-1> the bottom 1/n *and every document without a
score*. The cut-offs come from a histogram of document counts per (source, score bin) over
`mix.quality_bins` fixed bins of [0, 1] (combined, a side input like the token histograms): cut-off k
is the bin boundary whose count of documents above it is closest to round(k x scored / n), so tiers
are equal to within one score bin. Filters per phase: `min_tokens` <= n_tokens <= `max_tokens`
(BOS/EOS included), e.g. a long-context phase that draws long documents only.

Units and order. Pass r of a document (r = 0 is its first use) is a unit with the position
xxh3_64(seed, "mix", id) (r = 0) or xxh3_64(seed, "mix", id, r); units are ordered by (position, id).
A bucket's stream for a phase is its eligible units, pass by pass (all of pass 0, then pass 1, ... up
to `max_epochs[bucket]`, default 1), each pass in position order. The phase takes the stream's first
`target` tokens (phase tokens x normalized weight x tier weight): every unit before the cut whole, the
unit at the cut truncated to the tokens left (its tail is discarded, never used by another phase), so
budgets are met exactly whatever the document lengths; if the stream is shorter (after max_epochs
passes), it takes everything: a recorded `shortfall` (`on_shortfall: shrink`) or an error (`error`,
raised on the launcher before any manifest is written). In a `cluster_weighted` bucket a document
makes at most min(max_epochs, 1 + floor(log2(cluster_size))) passes (FineWeb-2's "rehydration":
a document that stood for a larger near-duplicate cluster repeats more, damped; cluster sizes 1, 2-3,
4-7, 8-15 allow 1, 2, 3, 4 passes), so repeats go to documents of larger clusters first.

Eligibility and the ledger. A unit is eligible for a phase unless an earlier phase of this run or of an
earlier run (`mix.previous`) used it; a `reusable` bucket ignores earlier use (InternLM2's long-context
phase reused data). So a document is used by one phase only, unless its bucket was upsampled (pass r
>= 1 can go to a later phase than pass 0) or reusable, and never more often than max_epochs outside
reusable buckets. Units are split into substreams (source, tier, token-length class, pass, within the
cluster cap): the length classes are cut at every phase's min_tokens and max_tokens + 1, so each phase
filter is a union of classes. What phases use of a substream is always a prefix of its order, so the
state after each phase is one cursor per substream (the last used (position, id)); each phase manifest
records, per bucket, the ranges (after, through] it consumed per substream (pipeline/manifest.py), and
a later run reads them back (`Ledger`) to skip those units whatever its own buckets and filters.

Exact cuts without listing the corpus (radix selection, only fixed-size histograms through side
inputs). Per phase, in order: (1) a token histogram per (bucket, pass) over the top log2(`mix.bins`)
bits of the position of eligible units (dense arrays combined with CombineGlobally) gives each
bucket's cut pass and cut bin; (2) a histogram of the next 16 bits of the units in that bin narrows it;
(3) the few units left (about units / (bins x 65,536) per bucket) are ordered exactly. Each step is a
side input of the next, and the cursors after the phase are a side input of the next phase. So a phase
costs three passes over compact keys (id, source, tokens, score, cluster size, positions), not over
documents. `plan_mix` runs the same functions in memory (tests, audits).

A deterministic `validation_fraction` of each phase's documents (all their passes) goes to `validation/`.
Metrics namespace `mix`: `docs_in`, `assigned:<phase>`, `repeats:<phase>`, `truncated`, `unassigned`.
"""

from __future__ import annotations

import bisect
import dataclasses
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import apache_beam as beam
import numpy as np

from transforms.counters import CountingDoFn, StageCounters
from transforms.hashing import hash64, unit_interval
from transforms.tokenize import TokenizedDoc

STAGE = "mix"
SHORTFALL = ("shrink", "error")
TRAIN, VALIDATION = "train", "validation"
MAX_EPOCHS_LIMIT = 64
REFINE_BITS = 16            # bits of the position per refinement histogram after the first level
REFINE_LEVELS = 1           # refinement histograms before the last units are ordered exactly
END = (1 << 64, "")         # a cursor past every unit: the whole substream is used
CLUSTER_CAP = "1 + floor(log2(cluster_size))"
POSITION = "xxh3_64(seed, 'mix', doc_id) for pass 0, xxh3_64(seed, 'mix', doc_id, r) for pass r"
_TIER = re.compile(r"q(\d+)$")

# Compact key of a document: (id, source, n_tokens, quality_score, cluster_size, tier, positions per pass)
ID, SOURCE, N, SCORE, CLUSTER, TIER, POS = range(7)


# ---------------------------------------------------------------- config

@dataclasses.dataclass(frozen=True)
class Bucket:
    name: str                 # "<source>" or "<source>@q<k>"
    source: str
    tier: int | None          # None: every tier of the source
    target: int               # tokens
    max_epochs: int
    reusable: bool
    cluster_weighted: bool


_PHASE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,99}")  # no '/', '..' or hidden names: paths stay inside
WEIGHT_SUM_TOLERANCE = 1e-6   # phase weights are fractions of the phase's tokens: they must sum to 1


@dataclasses.dataclass(frozen=True)
class PhaseConfig:
    name: str
    tokens: int
    seq_len: int
    weights: Mapping[str, float]
    pack_buckets: int = 2
    validation_fraction: float = 0.0
    on_shortfall: str = "shrink"
    tiers: Mapping[str, Mapping[str, float]] = dataclasses.field(default_factory=dict)  # source -> {q<k>: w}
    min_tokens: int = 0                      # document filter (n_tokens with BOS/EOS)
    max_tokens: int | None = None
    max_epochs: Mapping[str, int] = dataclasses.field(default_factory=dict)  # bucket -> passes (default 1)
    reusable: tuple[str, ...] = ()           # buckets that may take documents earlier phases used
    cluster_weighted: tuple[str, ...] = ()   # buckets whose repeats follow cluster_size

    def __post_init__(self) -> None:
        where = f"phases.{self.name}"
        if not _PHASE_NAME.fullmatch(self.name):
            raise ValueError(f"phases: a name is a directory under phases/ (letters, digits, '.', '_', '-', not "
                             f"starting with '.' or '-', at most 100 characters), got {self.name!r}")
        if self.tokens <= 0 or self.seq_len <= 1 or self.pack_buckets < 1:
            raise ValueError(f"{where}: tokens, seq_len and pack_buckets must be positive (seq_len > 1)")
        if not self.weights or any(w < 0 for w in self.weights.values()) or sum(self.weights.values()) <= 0:
            raise ValueError(f"{where}.weights must be non-negative with a positive sum")
        if abs(sum(self.weights.values()) - 1.0) > WEIGHT_SUM_TOLERANCE:
            raise ValueError(f"{where}.weights must sum to 1, got {sum(self.weights.values()):.6g} "
                             f"({', '.join(f'{k}: {v:g}' for k, v in self.weights.items())})")
        if any("@" in s for s in self.weights):
            raise ValueError(f"{where}.weights: keys are sources; split a source by quality with {where}.tiers")
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ValueError(f"{where}.validation_fraction must be in [0, 1)")
        if self.on_shortfall not in SHORTFALL:
            raise ValueError(f"{where}.on_shortfall must be one of {SHORTFALL}, got {self.on_shortfall!r}")
        for source, split in self.tiers.items():
            if self.weights.get(source, 0) <= 0:
                raise ValueError(f"{where}.tiers.{source}: not a source with a positive weight in {where}.weights")
            if not split or any(w < 0 for w in split.values()) or sum(split.values()) <= 0:
                raise ValueError(f"{where}.tiers.{source} must be non-negative with a positive sum")
            for tier in split:
                if not _TIER.match(tier):
                    raise ValueError(f"{where}.tiers.{source}: tiers are named q0, q1, ... (q0 = highest "
                                     f"quality_score), got {tier!r}")
        if self.min_tokens < 0:
            raise ValueError(f"{where}.min_tokens must be >= 0, got {self.min_tokens}")
        if self.max_tokens is not None and self.max_tokens < max(1, self.min_tokens):
            raise ValueError(f"{where}.max_tokens must be >= 1 and >= min_tokens, got {self.max_tokens}")
        names = self.bucket_names()
        for key, label in ((self.max_epochs, "max_epochs"), (self.reusable, "reusable"),
                           (self.cluster_weighted, "cluster_weighted")):
            for bucket in key:
                if bucket not in names:
                    raise ValueError(f"{where}.{label}: unknown bucket {bucket!r}; buckets: {names}")
        for bucket, epochs in self.max_epochs.items():
            if not 1 <= epochs <= MAX_EPOCHS_LIMIT:
                raise ValueError(f"{where}.max_epochs.{bucket} must be in [1, {MAX_EPOCHS_LIMIT}], got {epochs}")
        empty = [b for b, target in self.targets().items() if target == 0]
        if empty:
            raise ValueError(f"{where}: bucket {empty[0]} gets 0 of the phase's {self.tokens} tokens (weight too "
                             "small for the budget): an impossible budget; give it weight 0 or raise tokens")

    def _shares(self) -> list[tuple[str, str, int | None, float]]:
        """(bucket, source, tier, share of the phase) for every bucket with a positive share."""
        total = sum(self.weights.values())
        out = []
        for source, w in sorted(self.weights.items()):
            if w <= 0:
                continue
            split = self.tiers.get(source)
            if not split:
                out.append((source, source, None, w / total))
                continue
            tier_total = sum(split.values())
            out += [(f"{source}@{t}", source, int(t[1:]), w / total * tw / tier_total)
                    for t, tw in sorted(split.items()) if tw > 0]
        return out

    def bucket_names(self) -> list[str]:
        return [b for b, _, _, _ in self._shares()]

    def targets(self) -> dict[str, int]:
        return {b: round(self.tokens * share) for b, _, _, share in self._shares()}

    def buckets(self) -> tuple[Bucket, ...]:
        return tuple(Bucket(b, source, tier, round(self.tokens * share), self.max_epochs.get(b, 1),
                            b in self.reusable, b in self.cluster_weighted)
                     for b, source, tier, share in self._shares())

    def accepts(self, n_tokens: int) -> bool:
        return self.min_tokens <= n_tokens and (self.max_tokens is None or n_tokens <= self.max_tokens)


@dataclasses.dataclass(frozen=True)
class MixConfig:
    seed: int = 20231
    bins: int = 65536                 # first-level histogram bins per (bucket, pass): a power of two
    quality_tiers: int = 1            # tiers per source by quality_score (1 = no tiers): <source>@q0 ... q<n-1>
    quality_bins: int = 1000          # fixed score bins of the tier cut-off histograms
    previous: tuple[str, ...] = ()    # outputs of earlier runs whose phase ledgers this run honours

    def __post_init__(self) -> None:
        if not 1 <= self.bins <= 1 << 24 or self.bins & (self.bins - 1):
            raise ValueError(f"mix.bins must be a power of two in [1, 16777216], got {self.bins}")
        if not 1 <= self.quality_tiers <= 16:
            raise ValueError(f"mix.quality_tiers must be in [1, 16], got {self.quality_tiers}")
        if not 1 <= self.quality_bins <= 1_000_000:
            raise ValueError(f"mix.quality_bins must be in [1, 1000000], got {self.quality_bins}")


def check_phases(phases: Sequence[PhaseConfig], cfg: MixConfig) -> None:
    """Cross-checks of phases against `mix` (ValueError naming the key)."""
    for phase in phases:
        for source, split in phase.tiers.items():
            for tier in split:
                if int(tier[1:]) >= cfg.quality_tiers:
                    raise ValueError(f"phases.{phase.name}.tiers.{source}.{tier}: mix.quality_tiers is "
                                     f"{cfg.quality_tiers} (tiers q0..q{cfg.quality_tiers - 1})")


class ShortfallError(ValueError):
    pass


def check_shortfall(plan: Mapping[str, Any], phases: Sequence[PhaseConfig]) -> None:
    """Raises for the first bucket that cannot fill a phase with `on_shortfall: error`. Run on the
    launcher after the mixing job (an exception inside a Beam worker reaches the user as a traceback)."""
    for phase in phases:
        if phase.on_shortfall != "error":
            continue
        for bucket, entry in sorted(plan["phases"].get(phase.name, {}).items()):
            if entry["realized"] < entry["target"]:
                raise ShortfallError(
                    f"phase {phase.name}: bucket {bucket} has {entry['available']} tokens left "
                    f"({entry['available_epochs']} in {entry['max_epochs']} epoch(s)), the phase needs "
                    f"{entry['target']} (on_shortfall: error)")


# ---------------------------------------------------------------- hashing, tiers, cluster caps

def position(seed: int, doc_id: str, repeat: int) -> int:
    """Position of pass `repeat` of a document in its bucket's order."""
    return hash64(seed, STAGE, doc_id) if repeat == 0 else hash64(seed, STAGE, doc_id, repeat)


def unit_hash(seed: int, tag: str, doc_id: str, repeat: int) -> int:
    """Seeded hash of (tag, id[, pass]) for choices about one unit (pack bucket, order in the bucket)."""
    return hash64(seed, tag, doc_id) if repeat == 0 else hash64(seed, tag, doc_id, repeat)


def cluster_cap(cluster_size: int | None) -> int:
    """Passes a document may make in a cluster-weighted bucket: 1 + floor(log2(cluster_size))."""
    return max(1, cluster_size or 1).bit_length()


def score_bin(score: float, quality_bins: int) -> int:
    return min(max(int(score * quality_bins), 0), quality_bins - 1)


def tier_of(score: float | None, cutoffs: Sequence[int], quality_bins: int) -> int:
    """Tier of a score given the cut-off bins B_1 >= B_2 >= ...: #{k: bin < B_k}; no score: the last tier."""
    if score is None or score != score:
        return len(cutoffs)
    b = score_bin(score, quality_bins)
    return sum(1 for cut in cutoffs if b < cut)


def tier_cutoffs(counts: np.ndarray, tiers: int) -> list[int]:
    """Cut-off bins B_1 >= ... >= B_{tiers-1} from documents per score bin: B_k is the bin boundary whose
    count of documents at or above it is closest to round(k x total / tiers) (the higher one on a tie)."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    above = np.concatenate([np.cumsum(counts[::-1])[::-1], [0]])  # above[B] = documents in bins >= B
    cuts, prev = [], len(counts)
    for k in range(1, tiers):
        need = (2 * k * total + tiers) // (2 * tiers)
        dist = np.abs(above[:prev + 1] - need)
        prev = int(np.flatnonzero(dist == dist.min())[-1])
        cuts.append(prev)
    return cuts


# ---------------------------------------------------------------- ledger of earlier runs

@dataclasses.dataclass(frozen=True)
class LedgerRange:
    """Units an earlier phase consumed: pass `repeat` of documents of `source` in tier `tier` (under
    that run's cut-offs; None = any tier), with n_lo <= n_tokens < n_hi, in or beyond the cluster cap
    (`within`, None = both), whose (position, id) under `seed` is in (after, through]."""

    seed: int
    source: str
    tier: int | None
    tier_cutoffs: tuple[int, ...]
    quality_bins: int
    n_lo: int
    n_hi: int | None
    repeat: int
    within: bool | None
    after: tuple[int, str] | None
    through: tuple[int, str]

    def covers(self, key: tuple, repeat: int, pos: int) -> bool:
        n = key[N]
        if repeat != self.repeat or n < self.n_lo or (self.n_hi is not None and n >= self.n_hi):
            return False
        if self.within is not None and (repeat < cluster_cap(key[CLUSTER])) != self.within:
            return False
        if self.tier is not None and tier_of(key[SCORE], self.tier_cutoffs, self.quality_bins) != self.tier:
            return False
        unit = (pos, key[ID])
        return (self.after is None or unit > self.after) and unit <= self.through


class Ledger:
    """The consumed ranges of earlier runs' phases, indexed by source; `sources` says where they come from
    ([{output, phase, manifest_sha256}], recorded in the plan and the manifests)."""

    def __init__(self, ranges: Iterable[LedgerRange] = (), sources: Iterable[Mapping[str, str]] = ()) -> None:
        self.ranges = tuple(ranges)
        self.sources = tuple(dict(s) for s in sources)
        self._by_source: dict[str, list[LedgerRange]] = {}
        for rg in self.ranges:
            self._by_source.setdefault(rg.source, []).append(rg)

    def __len__(self) -> int:
        return len(self.ranges)

    def consumed(self, key: tuple, repeat: int, seed: int) -> bool:
        for rg in self._by_source.get(key[SOURCE], ()):
            pos = key[POS][repeat] if rg.seed == seed else position(rg.seed, key[ID], repeat)
            if rg.covers(key, repeat, pos):
                return True
        return False


# ---------------------------------------------------------------- the selection

def _cursor(value: Sequence | None) -> tuple[int, str] | None:
    return None if value is None else (int(value[0]), str(value[1]))


class MixSpec:
    """Everything the selection derives from the config and the ledger; picklable, shared by the Beam
    steps and `plan_mix`."""

    def __init__(self, phases: Sequence[PhaseConfig], cfg: MixConfig, ledger: Ledger | None = None) -> None:
        check_phases(phases, cfg)
        self.phases = tuple(phases)
        self.cfg = cfg
        self.ledger = ledger or Ledger()
        self.shift = 64 - (cfg.bins.bit_length() - 1)        # position >> shift = first-level bin
        self.buckets = [p.buckets() for p in self.phases]
        self.repeats = max([b.max_epochs for bs in self.buckets for b in bs] + [1])
        bounds = {p.min_tokens for p in self.phases} | {p.max_tokens + 1 for p in self.phases
                                                        if p.max_tokens is not None}
        self.bounds = sorted(b for b in bounds if b > 0)   # token-length class c = [bounds[c-1], bounds[c])
        self._index = [{(b.source, b.tier): b for b in bs} for bs in self.buckets]

    # -- keys
    def base_key(self, doc: TokenizedDoc) -> tuple:
        return (doc.id, doc.source, doc.n_tokens, getattr(doc, "quality_score", None),
                getattr(doc, "cluster_size", 1) or 1)

    def score_entry(self, base: tuple) -> Iterator[tuple[str, int, int]]:
        if base[SCORE] is not None and base[SCORE] == base[SCORE]:
            yield base[SOURCE], score_bin(base[SCORE], self.cfg.quality_bins), 1

    def tier_cutoffs(self, hist: Mapping[str, np.ndarray]) -> dict[str, list[int]]:
        return {s: tier_cutoffs(counts, self.cfg.quality_tiers) for s, counts in sorted(hist.items())}

    def cutoffs_of(self, source: str, state: Mapping[str, Any]) -> list[int]:
        default = [self.cfg.quality_bins] * (self.cfg.quality_tiers - 1)  # no scored document: all in the last tier
        return state["tier_cutoffs"].get(source, default)

    def full_key(self, base: tuple, state: Mapping[str, Any]) -> tuple:
        tier = tier_of(base[SCORE], self.cutoffs_of(base[SOURCE], state), self.cfg.quality_bins)
        positions = tuple(position(self.cfg.seed, base[ID], r) for r in range(self.repeats))
        return (*base, tier, positions)

    def initial_state(self, cutoffs: Mapping[str, list[int]]) -> dict[str, Any]:
        return {"seed": self.cfg.seed, "bins": self.cfg.bins, "quality_tiers": self.cfg.quality_tiers,
                "quality_bins": self.cfg.quality_bins, "tier_cutoffs": dict(cutoffs),
                "length_bounds": list(self.bounds), "previous": list(self.ledger.sources), "cursors": {},
                "phases": {}}

    # -- buckets, substreams, eligibility
    def bucket_for(self, k: int, key: tuple) -> Bucket | None:
        if not self.phases[k].accepts(key[N]):
            return None
        index = self._index[k]
        return index.get((key[SOURCE], None)) or index.get((key[SOURCE], key[TIER]))

    def cap(self, bucket: Bucket, key: tuple) -> int:
        return min(bucket.max_epochs, cluster_cap(key[CLUSTER])) if bucket.cluster_weighted else bucket.max_epochs

    def length_class(self, n_tokens: int) -> int:
        return bisect.bisect_right(self.bounds, n_tokens)

    def class_range(self, c: int) -> tuple[int, int | None]:
        return (self.bounds[c - 1] if c else 0), (self.bounds[c] if c < len(self.bounds) else None)

    def substream(self, key: tuple, repeat: int) -> str:
        within = repeat < cluster_cap(key[CLUSTER])
        return f"{key[SOURCE]}|{key[TIER]}|{self.length_class(key[N])}|{repeat}|{int(within)}"

    def substreams(self, k: int, bucket: Bucket, repeat: int) -> list[str]:
        """Every substream the units of pass `repeat` of `bucket` in phase k can belong to."""
        phase = self.phases[k]
        tiers = range(self.cfg.quality_tiers) if bucket.tier is None else [bucket.tier]
        classes = []
        for c in range(len(self.bounds) + 1):
            lo, hi = self.class_range(c)
            if lo >= phase.min_tokens and (phase.max_tokens is None or (hi is not None and hi <= phase.max_tokens + 1)):
                classes.append(c)
        withins = [1] if bucket.cluster_weighted or repeat == 0 else [1, 0]
        return [f"{bucket.source}|{t}|{c}|{repeat}|{w}" for t in tiers for c in classes for w in withins]

    def eligible(self, bucket: Bucket, key: tuple, repeat: int, cursors: Mapping[str, Any]) -> bool:
        if bucket.reusable:
            return True
        cursor = cursors.get(self.substream(key, repeat))
        if cursor is not None and (key[POS][repeat], key[ID]) <= (cursor[0], cursor[1]):
            return False
        return not (self.ledger and self.ledger.consumed(key, repeat, self.cfg.seed))

    def _eligible_units(self, k: int, key: tuple, cursors: Mapping[str, Any]) -> Iterator[tuple[Bucket, int]]:
        bucket = self.bucket_for(k, key)
        if bucket is None:
            return
        for r in range(self.cap(bucket, key)):
            if self.eligible(bucket, key, r, cursors):
                yield bucket, r

    # -- level 1: token histogram per (bucket, pass) over the first-level bins
    def level1_entries(self, key: tuple, k: int, state: Mapping[str, Any]) -> Iterator[tuple]:
        for bucket, r in self._eligible_units(k, key, state["cursors"]):
            yield (bucket.name, r), key[POS][r] >> self.shift, key[N]

    def plan_level1(self, hist: Mapping[tuple, np.ndarray], k: int) -> dict[str, dict[str, Any]]:
        windows = {}
        for bucket in self.buckets[k]:
            totals = [int(hist[(bucket.name, r)].sum()) if (bucket.name, r) in hist else 0
                      for r in range(bucket.max_epochs)]
            w: dict[str, Any] = {"target": bucket.target, "totals": totals}
            if bucket.target <= 0:
                w["take"] = "none"
            elif bucket.target >= sum(totals):
                w["take"] = "all"
            else:
                before, r = 0, 0
                while before + totals[r] < bucket.target:
                    before += totals[r]
                    r += 1
                digit, need = _narrow(hist[(bucket.name, r)], bucket.target - before)
                w.update(take="cut", repeat=r, prefix=digit, bits=64 - self.shift, need=need)
            windows[bucket.name] = w
        return windows

    # -- refinement: the next REFINE_BITS bits of the units in each cut window
    def _in_window(self, k: int, key: tuple, state: Mapping[str, Any],
                   windows: Mapping[str, Any]) -> Iterator[tuple[Bucket, int, dict]]:
        for bucket, r in self._eligible_units(k, key, state["cursors"]):
            w = windows[bucket.name]
            if w["take"] == "cut" and r == w["repeat"] and key[POS][r] >> (64 - w["bits"]) == w["prefix"]:
                yield bucket, r, w

    def refine_entries(self, key: tuple, k: int, state: Mapping[str, Any],
                       windows: Mapping[str, Any]) -> Iterator[tuple]:
        for bucket, r, w in self._in_window(k, key, state, windows):
            yield bucket.name, (key[POS][r] >> (64 - w["bits"] - REFINE_BITS)) & ((1 << REFINE_BITS) - 1), key[N]

    def narrow(self, hist: Mapping[str, np.ndarray], windows: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        out = {}
        for name, w in windows.items():
            if w["take"] != "cut":
                out[name] = w
                continue
            digit, need = _narrow(hist.get(name, np.zeros(1 << REFINE_BITS, np.int64)), w["need"])
            out[name] = {**w, "prefix": (w["prefix"] << REFINE_BITS) | digit, "bits": w["bits"] + REFINE_BITS,
                         "need": need}
        return out

    # -- last level: the units left in each window, ordered exactly
    def candidate_entries(self, key: tuple, k: int, state: Mapping[str, Any],
                          windows: Mapping[str, Any]) -> Iterator[tuple[str, tuple[int, str, int]]]:
        for bucket, r, _ in self._in_window(k, key, state, windows):
            yield bucket.name, (key[POS][r], key[ID], key[N])

    def finish_phase(self, state: Mapping[str, Any], k: int, windows: Mapping[str, Any],
                     candidates: Iterable[tuple[str, tuple[int, str, int]]]) -> dict[str, Any]:
        """The state after phase k: its plan entry per bucket and the cursors moved past what it took."""
        per_bucket: dict[str, list[tuple[int, str, int]]] = {}
        for name, unit in candidates:
            per_bucket.setdefault(name, []).append(tuple(unit))
        cursors = dict(state["cursors"])
        entries = {}
        for bucket in self.buckets[k]:
            w = windows[bucket.name]
            entry: dict[str, Any] = {"target": bucket.target, "max_epochs": bucket.max_epochs,
                                     "reusable": bucket.reusable, "cluster_weighted": bucket.cluster_weighted,
                                     "available": w["totals"][0], "available_epochs": sum(w["totals"]),
                                     "take": w["take"], "cut": None}
            if w["take"] == "none":
                realized, reached, cut = 0, 0, None
            elif w["take"] == "all":
                realized, reached, cut = sum(w["totals"]), bucket.max_epochs, None
            else:
                cut, taken = _last_cut(per_bucket.get(bucket.name, []), w["need"])
                realized = bucket.target - w["need"] + taken
                reached = w["repeat"] + 1
                entry["cut"] = [w["repeat"], cut[0], cut[1], cut[2]]
            full = sum(w["totals"][:reached - 1]) if cut is not None else realized
            entry["realized"] = realized
            entry["repeats"] = ([*w["totals"][:reached - 1], realized - full] if cut is not None
                                else w["totals"][:reached])
            start, ranges = {}, []
            for r in range(reached):
                through = END if cut is None or r < reached - 1 else (cut[0], cut[1])
                for s in self.substreams(k, bucket, r):
                    old = _cursor(cursors.get(s))
                    if old is not None and not bucket.reusable:
                        start[s] = list(old)
                    after = None if bucket.reusable else old
                    if after is None or through > after:
                        ranges.append([s, None if after is None else list(after), list(through)])
                    if old is None or through > old:
                        cursors[s] = list(through)
            entry["start"], entry["ranges"] = start, ranges
            entries[bucket.name] = entry
        return {**state, "cursors": cursors, "phases": {**state["phases"], self.phases[k].name: entries}}

    # -- assignment of one document
    def assign_units(self, key: tuple, plan: Mapping[str, Any]) -> list[tuple[int, Bucket, int, int]]:
        """(phase index, bucket, pass, tokens) of every unit of a document the plan takes."""
        out = []
        for k, phase in enumerate(self.phases):
            bucket = self.bucket_for(k, key)
            if bucket is None:
                continue
            entry = plan["phases"][phase.name][bucket.name]
            if entry["take"] == "none":
                continue
            cut = entry["cut"]
            for r in range(self.cap(bucket, key)):
                if not self.eligible(bucket, key, r, entry["start"]):
                    continue
                if cut is None:
                    out.append((k, bucket, r, key[N]))
                    continue
                unit, at = (key[POS][r], key[ID]), (cut[1], cut[2])
                if r < cut[0] or (r == cut[0] and unit < at):
                    out.append((k, bucket, r, key[N]))
                elif r == cut[0] and unit == at:
                    out.append((k, bucket, r, min(cut[3], key[N])))
        return out


def _narrow(counts: np.ndarray, need: int) -> tuple[int, int]:
    """(digit, need inside it): the first bin where the cumulative count reaches `need` (> 0)."""
    cum = np.cumsum(counts)
    if need <= 0 or not len(cum) or cum[-1] < need:
        raise RuntimeError(f"mix: histogram of {int(cum[-1]) if len(cum) else 0} tokens cannot hold {need}")
    digit = int(np.searchsorted(cum, need, side="left"))
    return digit, int(need - (cum[digit - 1] if digit else 0))


def _last_cut(units: list[tuple[int, str, int]], need: int) -> tuple[tuple[int, str, int], int]:
    """The cut (position, id, tokens kept of that unit) among the window's units, and the tokens taken
    there by the assignment rule (whole units before the cut, the cut unit(s) truncated)."""
    units = sorted(units)
    before = 0
    for pos, doc_id, n in units:
        if before + n >= need:
            k = need - before
            taken = sum(m for p, i, m in units if (p, i) < (pos, doc_id))
            taken += sum(min(k, m) for p, i, m in units if (p, i) == (pos, doc_id))
            return (pos, doc_id, k), taken
        before += n
    raise RuntimeError(f"mix: {len(units)} units ({before} tokens) left in the window cannot hold {need}")


class _DenseHistogram(beam.CombineFn):
    """(key, digit, count) -> {key: int64 array of `size` digits}: fixed size, whatever the corpus. A key's
    accumulator stays a sparse {digit: count} until it holds size / 16 digits, so a bundle's partial
    result is no bigger than the bundle; merged, it becomes the dense array."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self._size = size
        self._sparse_max = max(16, size // 16)

    def _dense(self, hist: dict | np.ndarray) -> np.ndarray:
        if isinstance(hist, np.ndarray):
            return hist
        arr = np.zeros(self._size, dtype=np.int64)
        for digit, count in hist.items():
            arr[digit] += count
        return arr

    def _add(self, acc: dict, key: Any, hist: dict | np.ndarray) -> None:
        cur = acc.get(key)
        if cur is None:
            acc[key] = hist.copy()
            return
        if isinstance(cur, dict) and isinstance(hist, dict):
            for digit, count in hist.items():
                cur[digit] = cur.get(digit, 0) + count
            if len(cur) > self._sparse_max:
                acc[key] = self._dense(cur)
            return
        acc[key] = self._dense(cur) if isinstance(cur, dict) else cur
        if isinstance(hist, dict):
            for digit, count in hist.items():
                acc[key][digit] += count
        else:
            acc[key] += hist

    def create_accumulator(self) -> dict:
        return {}

    def add_input(self, acc: dict, entry: tuple) -> dict:
        key, digit, count = entry
        self._add(acc, key, {digit: count})
        return acc

    def merge_accumulators(self, accumulators: Iterable[dict]) -> dict:
        out: dict = {}
        for acc in accumulators:
            for key, hist in acc.items():
                self._add(out, key, hist)
        return out

    def extract_output(self, acc: dict) -> dict:
        return {key: self._dense(hist) for key, hist in acc.items()}


def _histogram(entries: Iterable[tuple], size: int) -> dict:
    fn = _DenseHistogram(size)
    acc = fn.create_accumulator()
    for e in entries:
        acc = fn.add_input(acc, e)
    return fn.extract_output(acc)


def plan_mix(bases: Iterable[tuple], phases: Sequence[PhaseConfig], cfg: MixConfig,
             ledger: Ledger | None = None) -> tuple[dict[str, Any], list[tuple]]:
    """The plan and the full keys for base keys (id, source, n_tokens, quality_score, cluster_size):
    the Beam graph's computation in memory, step by step with the same functions (tests, audits)."""
    spec = MixSpec(phases, cfg, ledger)
    bases = list(bases)
    cutoffs = {}
    if cfg.quality_tiers > 1:
        cutoffs = spec.tier_cutoffs(_histogram((e for b in bases for e in spec.score_entry(b)), cfg.quality_bins))
    state = spec.initial_state(cutoffs)
    keys = [spec.full_key(b, state) for b in bases]
    for k in range(len(spec.phases)):
        windows = spec.plan_level1(_histogram((e for key in keys for e in spec.level1_entries(key, k, state)),
                                              cfg.bins), k)
        for _ in range(REFINE_LEVELS):
            windows = spec.narrow(_histogram((e for key in keys for e in spec.refine_entries(key, k, state, windows)),
                                             1 << REFINE_BITS), windows)
        cands = [c for key in keys for c in spec.candidate_entries(key, k, state, windows)]
        state = spec.finish_phase(state, k, windows, cands)
    return state, keys


# ---------------------------------------------------------------- Beam

class _AssignFn(CountingDoFn):
    def __init__(self, spec: MixSpec) -> None:
        super().__init__()
        self._spec = spec
        self._counters = StageCounters(STAGE)

    def process(self, doc: TokenizedDoc, plan: Mapping[str, Any]) -> Iterator[tuple[tuple, TokenizedDoc]]:
        spec = self._spec
        self._counters.inc("docs_in")
        key = spec.full_key(spec.base_key(doc), plan)
        units = spec.assign_units(key, plan)
        if not units:
            self._counters.inc("unassigned")
            return
        seed = spec.cfg.seed
        for k, bucket, r, tokens in units:
            phase = spec.phases[k]
            self._counters.inc(f"assigned:{phase.name}")
            if r:
                self._counters.inc(f"repeats:{phase.name}")
            ids = doc.ids
            if tokens < doc.n_tokens:
                self._counters.inc("truncated")
                ids = ids[:tokens]
            unit = dataclasses.replace(doc, source=bucket.name, ids=ids, repeat=r)
            # phase-independent: a document held out in one phase is never trained on in another
            if unit_interval(seed, "validation", doc.id) < phase.validation_fraction:
                yield (phase.name, VALIDATION, 0), unit
            else:
                yield (phase.name, TRAIN, unit_hash(seed, "pack", doc.id, r) % phase.pack_buckets), unit


class MixPhases(beam.PTransform):
    """Outputs a dict: `assigned` = ((phase, split, bucket), TokenizedDoc), `plan` = one plan dict."""

    def __init__(self, phases: Sequence[PhaseConfig], cfg: MixConfig, ledger: Ledger | None = None) -> None:
        super().__init__()
        self._spec = MixSpec(phases, cfg, ledger)

    def expand(self, docs: beam.PCollection) -> dict[str, beam.PCollection]:
        spec, cfg = self._spec, self._spec.cfg
        single = beam.pvalue.AsSingleton
        base = docs | "Keys" >> beam.Map(spec.base_key)        # (id, source, n_tokens, score, cluster_size)
        if cfg.quality_tiers > 1:
            cutoffs = (
                base
                | "ScoreBins" >> beam.FlatMap(spec.score_entry)                    # (source, score bin, 1)
                | "ScoreHistogram" >> beam.CombineGlobally(_DenseHistogram(cfg.quality_bins))
                | "TierCutoffs" >> beam.Map(spec.tier_cutoffs)
            )
        else:
            cutoffs = docs.pipeline | "NoTiers" >> beam.Create([{}])
        state = cutoffs | "InitialState" >> beam.Map(spec.initial_state)
        keys = base | "FullKeys" >> beam.Map(spec.full_key, single(state))     # + tier, positions per pass
        for k, phase in enumerate(spec.phases):
            label = f"Phase[{phase.name}]"
            windows = (
                keys
                | f"{label}Level1" >> beam.FlatMap(spec.level1_entries, k, single(state))
                | f"{label}Histogram1" >> beam.CombineGlobally(_DenseHistogram(cfg.bins))
                | f"{label}Windows1" >> beam.Map(spec.plan_level1, k)
            )
            for level in range(REFINE_LEVELS):
                windows = (
                    keys
                    | f"{label}Refine{level}" >> beam.FlatMap(spec.refine_entries, k, single(state), single(windows))
                    | f"{label}Histogram{level + 2}" >> beam.CombineGlobally(_DenseHistogram(1 << REFINE_BITS))
                    | f"{label}Windows{level + 2}" >> beam.Map(spec.narrow, single(windows))
                )
            candidates = keys | f"{label}Candidates" >> beam.FlatMap(
                spec.candidate_entries, k, single(state), single(windows))
            state = state | f"{label}Finish" >> beam.Map(
                spec.finish_phase, k, single(windows), beam.pvalue.AsList(candidates))
        assigned = docs | "Assign" >> beam.ParDo(_AssignFn(spec), plan=single(state))
        return {"assigned": assigned, "plan": state}
