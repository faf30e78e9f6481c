"""MixPhases: assign tokenized documents to phases by token budget and per-source weights.

Input: `TokenizedDoc`. Output: ((phase, split, bucket), TokenizedDoc) ready for packing, and the plan
(a dict, one element) that says which hash range of each source each phase consumed.

How: every document has a seeded hash bin in [0, `bins`) of its id. A token histogram per (source, bin)
is combined (small: sources x bins, independent of corpus size), and `plan_phases` walks each source's
bins in order: phase 1 takes bins from 0 until its target for that source (phase tokens x normalized
weight) is met, the next phase continues where the previous one stopped. So a document belongs to at
most one phase ("the same data won't be resampled", InternLM), phases are token-exact to within one bin,
and each manifest records the `consumed` ranges (a later run of new phases that starts after them is
issue #6's). A source that runs out before its target is a recorded shrink (`on_shortfall: shrink`) or
fails the run (`error`, checked on the launcher before any manifest is written). A deterministic
`validation_fraction` of each phase's documents goes to `validation/`.
Upsampling with epoch caps and quality-tier buckets are issue #6's.
Metrics namespace `mix`: `docs_in`, `assigned:<phase>`, `unassigned`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import apache_beam as beam

from transforms.counters import StageCounters
from transforms.hashing import hash64, unit_interval
from transforms.tokenize import TokenizedDoc

STAGE = "mix"
SHORTFALL = ("shrink", "error")
TRAIN, VALIDATION = "train", "validation"


@dataclasses.dataclass(frozen=True)
class PhaseConfig:
    name: str
    tokens: int
    seq_len: int
    weights: Mapping[str, float]
    pack_buckets: int = 2
    validation_fraction: float = 0.0
    on_shortfall: str = "shrink"

    def __post_init__(self) -> None:
        where = f"phases.{self.name}"
        if not self.name or "/" in self.name:
            raise ValueError(f"phases: name must be non-empty without '/', got {self.name!r}")
        if self.tokens <= 0 or self.seq_len <= 1 or self.pack_buckets < 1:
            raise ValueError(f"{where}: tokens, seq_len and pack_buckets must be positive (seq_len > 1)")
        if not self.weights or any(w < 0 for w in self.weights.values()) or sum(self.weights.values()) <= 0:
            raise ValueError(f"{where}.weights must be non-negative with a positive sum")
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ValueError(f"{where}.validation_fraction must be in [0, 1)")
        if self.on_shortfall not in SHORTFALL:
            raise ValueError(f"{where}.on_shortfall must be one of {SHORTFALL}, got {self.on_shortfall!r}")

    def targets(self) -> dict[str, int]:
        total = sum(self.weights.values())
        return {s: round(self.tokens * w / total) for s, w in sorted(self.weights.items()) if w > 0}


@dataclasses.dataclass(frozen=True)
class MixConfig:
    seed: int = 20231
    bins: int = 65536

    def __post_init__(self) -> None:
        if not 1 <= self.bins <= 1 << 24:
            raise ValueError(f"mix.bins must be in [1, 16777216], got {self.bins}")


class ShortfallError(ValueError):
    pass


def check_shortfall(plan: Mapping[str, Mapping[str, Mapping[str, int]]], phases: Sequence[PhaseConfig]) -> None:
    """Raises for the first source that cannot fill a phase with `on_shortfall: error`. Run on the
    launcher after the mixing job (an exception inside a Beam worker reaches the user as a traceback)."""
    for phase in phases:
        if phase.on_shortfall != "error":
            continue
        for source, entry in sorted(plan.get(phase.name, {}).items()):
            if entry["realized"] < entry["target"]:
                raise ShortfallError(f"phase {phase.name}: source {source} has {entry['available']} tokens left, "
                                     f"the phase needs {entry['target']} (on_shortfall: error)")


def hash_bin(seed: int, doc_id: str, bins: int) -> int:
    return hash64(seed, "mix", doc_id) % bins


def plan_phases(histogram: Iterable[tuple[tuple[str, int], int]], phases: Sequence[PhaseConfig],
                bins: int) -> dict[str, dict[str, dict[str, int]]]:
    """{phase: {source: {start, end, target, realized, available}}}: the bin range [start, end) each phase
    takes from each source, walking bins in order so phases never share a document."""
    per_source: dict[str, list[int]] = {}
    for (source, b), tokens in histogram:
        per_source.setdefault(source, [0] * bins)[b] += tokens
    cursor = dict.fromkeys(per_source, 0)
    plan: dict[str, dict[str, dict[str, int]]] = {}
    for phase in phases:
        plan[phase.name] = {}
        for source, target in phase.targets().items():
            counts = per_source.get(source, [0] * bins)
            start = end = cursor.get(source, 0)
            realized = 0
            while end < bins and realized < target:
                realized += counts[end]
                end += 1
            available = sum(counts[start:])
            cursor[source] = end
            plan[phase.name][source] = {"start": start, "end": end, "target": target,
                                        "realized": realized, "available": available}
    return plan


def assign(doc: TokenizedDoc, plan: Mapping[str, Mapping[str, Mapping[str, int]]],
           phases: Sequence[PhaseConfig], cfg: MixConfig) -> tuple[str, str, int] | None:
    """(phase, split, pack bucket) of a document, or None if no phase takes it."""
    b = hash_bin(cfg.seed, doc.id, cfg.bins)
    for phase in phases:
        rng = plan.get(phase.name, {}).get(doc.source)
        if rng and rng["start"] <= b < rng["end"]:
            if unit_interval(cfg.seed, "validation", phase.name, doc.id) < phase.validation_fraction:
                return phase.name, VALIDATION, 0
            return phase.name, TRAIN, hash64(cfg.seed, "pack", doc.id) % phase.pack_buckets
    return None


def _histogram_entry(doc: TokenizedDoc, cfg: MixConfig) -> tuple[tuple[str, int], int]:
    return (doc.source, hash_bin(cfg.seed, doc.id, cfg.bins)), doc.n_tokens


def _plan_from(entries: list[tuple[tuple[str, int], int]], phases: Sequence[PhaseConfig],
               cfg: MixConfig) -> dict:
    return plan_phases(sorted(entries), phases, cfg.bins)


class _AssignFn(beam.DoFn):
    def __init__(self, phases: Sequence[PhaseConfig], cfg: MixConfig) -> None:
        super().__init__()
        self._phases, self._cfg = tuple(phases), cfg
        self._counters = StageCounters(STAGE)

    def process(self, doc: TokenizedDoc, plan: Mapping[str, Any]) -> Iterator[tuple[tuple, TokenizedDoc]]:
        self._counters.inc("docs_in")
        where = assign(doc, plan, self._phases, self._cfg)
        if where is None:
            self._counters.inc("unassigned")
            return
        self._counters.inc(f"assigned:{where[0]}")
        yield where, doc


class MixPhases(beam.PTransform):
    """Outputs a dict: `assigned` = ((phase, split, bucket), TokenizedDoc), `plan` = one plan dict."""

    def __init__(self, phases: Sequence[PhaseConfig], cfg: MixConfig) -> None:
        super().__init__()
        self._phases, self._cfg = tuple(phases), cfg

    def expand(self, docs: beam.PCollection) -> dict[str, beam.PCollection]:
        plan = (
            docs
            | "HistogramEntries" >> beam.Map(_histogram_entry, self._cfg)   # ((source, bin), tokens)
            | "TokensPerBin" >> beam.CombinePerKey(sum)
            | "AllBins" >> beam.combiners.ToList()                            # one list, sources x bins
            | "Plan" >> beam.Map(_plan_from, self._phases, self._cfg)        # one plan dict
        )
        assigned = docs | "Assign" >> beam.ParDo(
            _AssignFn(self._phases, self._cfg), plan=beam.pvalue.AsSingleton(plan))
        return {"assigned": assigned, "plan": plan}
