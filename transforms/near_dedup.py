"""DeduplicateNearDuplicates: MinHash LSH -> verified edges -> connected components -> keep the best.

Input/output: `Document`; every output document gets `cluster_id` (16 hex digits, the smallest member
key of its component, or its own key) and `cluster_size`. Tagged `REJECTED`: members other than the
survivor, marked `near_dedup:near_duplicate`.

Steps (each PCollection's shape in the comments of `expand`):
1. Shingles chosen per document from its script: word n-grams after lowercasing, punctuation and digit
   folding for spaced scripts; character n-grams (whitespace and punctuation removed) for Chinese,
   Japanese, Thai and other unspaced scripts, so one run dedups a mixed-language corpus.
2. Signatures with datasketch (`update_batch`, xxh32 instead of sha1 as the base hash).
3. Banding: the band shuffle carries (band key, 64-bit document key) only, never signatures or text.
4. Candidates: per band bucket, a star from the bucket's smallest key to every other member (linear in
   the bucket, so a hot boilerplate bucket costs no quadratic pairs); values are iterated, never listed.
5. Verification: each candidate pair joins the two signatures in later steps and survives only if the
   estimated Jaccard >= `threshold`, so a band collision alone never removes a document.
6. Connected components by min-label propagation in `max_rounds` unrolled rounds (Beam has no loops),
   followed by a convergence check that fails the run loudly if labels still changed in the last round.
7. Survivor per component by `survivor_priority`: by default highest quality_score, then newest
   crawl_date (InternLM2 kept the newest dump), then longest text; the smallest id breaks ties. Dropped
   members name the survivor (`rejected.detail`).
Every join is a GroupTagged (transforms/joins.py) rather than a CoGroupByKey: the values of a hot key
(a band bucket, a star centre, a large cluster) are streamed, never collected into a list.
Defaults: 128 permutations as 16 bands x 8 rows (S-curve midpoint ~0.707; InternLM2 used 128 hashes,
5-gram shingles, Jaccard 0.7), word 5-grams, character 5-grams.
Metrics namespace `near_dedup`: `docs_in`, `kept`, `dropped:near_duplicate`, `candidate_pairs`,
`verified_pairs`.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import apache_beam as beam
import numpy as np
import xxhash
from apache_beam import pvalue

from transforms.counters import StageCounters
from transforms.document import KEEP, Document
from transforms.hashing import doc_key, hash64
from transforms.joins import GroupTagged, many_values, small_values
from transforms.scripts import is_unspaced

STAGE = "near_dedup"


@dataclasses.dataclass(frozen=True)
class NearDedupConfig:
    enabled: bool = True
    num_perm: int = 128
    bands: int | None = 16          # bands and rows null: chosen from `threshold` (choose_bands)
    rows: int | None = 8
    word_ngram: int = 5
    char_ngram: int = 5
    threshold: float = 0.7          # estimated Jaccard a candidate pair must reach
    seed: int = 1
    max_rounds: int = 10
    survivor_priority: tuple[str, ...] = ("quality_score", "crawl_date", "length")  # then smallest id
    audit_clusters: int = 20        # clusters sampled for the audit (report/near_dedup_audit.json); 0 = off
    audit_members: int = 20         # members per sampled cluster, besides the survivor

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"near_dedup.threshold must be in (0, 1], got {self.threshold}")
        if (self.bands is None) != (self.rows is None):
            raise ValueError("near_dedup: set both bands and rows, or neither (chosen from threshold)")
        if self.bands is None:
            bands, rows = choose_bands(self.num_perm, self.threshold)
            object.__setattr__(self, "bands", bands)  # derived once; the config stays frozen after this
            object.__setattr__(self, "rows", rows)
        if self.bands * self.rows > self.num_perm:
            raise ValueError(f"near_dedup: bands x rows must be <= num_perm ({self.bands} x {self.rows} "
                             f"> {self.num_perm})")
        if self.bands > 255:
            raise ValueError(f"near_dedup.bands must be <= 255, got {self.bands}")
        if self.max_rounds < 1:
            raise ValueError(f"near_dedup.max_rounds must be >= 1, got {self.max_rounds}")
        for key in self.survivor_priority:
            if key not in SURVIVOR_KEYS:
                raise ValueError(f"near_dedup.survivor_priority: unknown key {key!r}; known: {sorted(SURVIVOR_KEYS)}")


# ---------------------------------------------------------------- pure functions

@functools.lru_cache(maxsize=1)
def _fold_table() -> dict[int, str]:
    """Punctuation and symbols -> space, decimal digits -> '0' (built once per process)."""
    table = {}
    for code in range(0x110000):
        cat = unicodedata.category(chr(code))
        if cat[0] in "PS":
            table[code] = " "
        elif cat == "Nd":
            table[code] = "0"
    return table


def shingles(text: str, word_ngram: int, char_ngram: int) -> list[bytes]:
    """Distinct shingles of a text: char n-grams for unspaced scripts, word n-grams otherwise."""
    folded = text.lower().translate(_fold_table())
    if is_unspaced(text):
        tokens: list[str] = list("".join(folded.split()))
        n, sep = char_ngram, ""
    else:
        tokens = folded.split()
        n, sep = word_ngram, " "
    if len(tokens) <= n:
        grams = {sep.join(tokens)}
    else:
        grams = {sep.join(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}
    return sorted(g.encode("utf-8") for g in grams)


def band_keys(signature: np.ndarray, bands: int, rows: int) -> list[bytes]:
    """One key per band: band index byte + 64-bit hash of the band's rows."""
    return [bytes([b]) + xxhash.xxh3_64_digest(signature[b * rows:(b + 1) * rows].tobytes())
            for b in range(bands)]


def estimated_jaccard(sig_a: bytes, sig_b: bytes) -> float:
    a, b = np.frombuffer(sig_a, dtype=np.uint32), np.frombuffer(sig_b, dtype=np.uint32)
    return float(np.count_nonzero(a == b)) / len(a)


def candidate_probability(jaccard: float, bands: int, rows: int) -> float:
    """The LSH S-curve: probability that a pair with this Jaccard shares at least one band."""
    return 1.0 - (1.0 - jaccard**rows) ** bands


_MIN_CANDIDATE_PROBABILITY = 0.95


def choose_bands(num_perm: int, threshold: float) -> tuple[int, int]:
    """(bands, rows), bands x rows <= num_perm: among the choices that make a pair at exactly `threshold`
    a candidate with probability >= 0.95, the one with the least false-positive area below the
    threshold (every candidate is verified against full signatures, so false positives cost one
    comparison while a missed candidate is a duplicate kept for good)."""
    grid = np.linspace(0.0, threshold, 501)
    best = None
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            if candidate_probability(threshold, bands, rows) < _MIN_CANDIDATE_PROBABILITY:
                continue
            fp_area = float(np.trapezoid(1.0 - (1.0 - grid**rows) ** bands, grid))
            if best is None or fp_area < best[0]:
                best = (fp_area, bands, rows)
    if best is None:  # no choice reaches 0.95 at this threshold: the one that comes closest
        return max(((b, r) for b in range(1, num_perm + 1) for r in range(1, num_perm // b + 1)),
                   key=lambda br: (candidate_probability(threshold, *br), -br[0]))
    return best[1], best[2]


def s_curve(bands: int, rows: int) -> dict[str, float]:
    """P(a pair becomes a candidate) at Jaccard 0.5 ... 0.9, for the report."""
    return {f"{j:.1f}": round(candidate_probability(j, bands, rows), 4) for j in (0.5, 0.6, 0.7, 0.8, 0.9)}


def star_edges(members: Iterable[int]) -> Iterator[tuple[int, int]]:
    """Edges from the smallest member to each other one. Iterates `members` twice, never lists it."""
    smallest = min(members, default=None)
    if smallest is None:
        return
    for m in members:
        if m != smallest:
            yield smallest, m


_ISO_DATE = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})(?:[T ](\d{2}):?(\d{2}):?(\d{2}))?", re.ASCII)


def _date_number(date: str | None) -> int:
    """An ISO date or timestamp as a number that orders like it (2023-05-17T10:00:00Z -> 20230517100000);
    missing or unreadable dates are the oldest."""
    match = _ISO_DATE.match(date or "")
    if not match:
        return 0
    return int("".join(g or "00" for g in match.groups()))


SURVIVOR_KEYS = {  # each gives a number; smaller is better
    "quality_score": lambda doc: -(doc.quality_score or 0.0),
    "crawl_date": lambda doc: -_date_number(doc.crawl_date),   # newest (InternLM2 kept the newest dump)
    "length": lambda doc: -len(doc.text),
}


def survivor_rank(doc: Document, priority: Sequence[str] = NearDedupConfig.survivor_priority) -> tuple:
    """Smaller is better: the configured keys in order, then the smallest id (always last)."""
    return (*(SURVIVOR_KEYS[key](doc) for key in priority), doc.id)


def exact_jaccard(a: str, b: str, cfg: NearDedupConfig) -> float:
    sa, sb = set(shingles(a, cfg.word_ngram, cfg.char_ngram)), set(shingles(b, cfg.word_ngram, cfg.char_ngram))
    return len(sa & sb) / len(sa | sb) if sa | sb else 1.0


def document_shingles(doc_id: str, text: str, cfg: NearDedupConfig) -> list[bytes]:
    """A document's shingles; a text without any word (symbols, emoji) gets one shingle unique to the
    document, so it is never a near-duplicate of anything."""
    grams = shingles(text, cfg.word_ngram, cfg.char_ngram)
    return [b"\x00" + doc_id.encode("utf-8")] if grams == [b""] else grams


def signature(doc_id: str, text: str, cfg: NearDedupConfig, permutations: Any = None, scheme: Any = None) -> bytes:
    """The stage's MinHash signature of one document (uint32 bytes). Pass the permutations and scheme of a
    template MinHash to skip regenerating them (the DoFn does, once per worker)."""
    from datasketch import MinHash

    kwargs = {"permutations": permutations, "scheme": scheme} if permutations is not None else {}
    m = MinHash(num_perm=cfg.num_perm, seed=cfg.seed, hashfunc=xxhash.xxh32_intdigest, **kwargs)
    m.update_batch(document_shingles(doc_id, text, cfg))
    return m.hashvalues.astype(np.uint32).tobytes()


def audit_cluster(cluster_id: str, docs: Iterable[Document], cfg: NearDedupConfig) -> dict[str, Any]:
    """One audit record: each sampled member's exact and estimated Jaccard with the survivor; members
    below the threshold joined the cluster through a chain (A~B~C) rather than directly."""
    docs = sorted(docs, key=lambda d: d.id)
    survivor = next(d for d in docs if d.decision == KEEP)
    sig = signature(survivor.id, survivor.text, cfg)
    members = []
    for doc in docs:
        if doc is survivor:
            continue
        exact = exact_jaccard(survivor.text, doc.text, cfg)
        estimated = estimated_jaccard(sig, signature(doc.id, doc.text, cfg))
        members.append({"id": doc.id, "exact_jaccard": round(exact, 4), "estimated_jaccard": round(estimated, 4),
                        "below_threshold": estimated < cfg.threshold})
    return {"cluster_id": cluster_id, "cluster_size": survivor.cluster_size, "survivor": survivor.id,
            "sampled_members": members}


# ---------------------------------------------------------------- DoFns

class _SignatureFn(beam.DoFn):
    def __init__(self, cfg: NearDedupConfig) -> None:
        super().__init__()
        self._cfg = cfg
        self._counters = StageCounters(STAGE)
        self._perms = None
        self._scheme = None

    def setup(self) -> None:
        from datasketch import MinHash

        template = MinHash(num_perm=self._cfg.num_perm, seed=self._cfg.seed, hashfunc=xxhash.xxh32_intdigest)
        self._perms, self._scheme = template.permutations, template.scheme

    def process(self, doc: Document) -> Iterable[tuple[int, bytes]]:
        self._counters.inc("docs_in")
        yield doc_key(doc.id), signature(doc.id, doc.text, self._cfg, self._perms, self._scheme)


def _bands_of(element: tuple[int, bytes], bands: int, rows: int) -> Iterator[tuple[bytes, int]]:
    key, sig = element
    for band in band_keys(np.frombuffer(sig, dtype=np.uint32), bands, rows):
        yield band, key


class _StarEdgesFn(beam.DoFn):
    def __init__(self) -> None:
        super().__init__()
        self._counters = StageCounters(STAGE)

    def process(self, element: tuple[bytes, Iterable[int]]) -> Iterable[tuple[int, int]]:
        for edge in star_edges(element[1]):
            self._counters.inc("candidate_pairs")
            yield edge


def _attach_first_signature(element: tuple[int, Iterable[tuple[str, Any]]]) -> Iterator[tuple[int, tuple]]:
    a, values = element
    sigs = small_values(values, "edge")["sig"]
    if not sigs:
        return
    for b in many_values(values, "edge"):  # a star centre may have millions of edges: streamed
        yield b, (a, sigs[0])


class _VerifyFn(beam.DoFn):
    def __init__(self, threshold: float) -> None:
        super().__init__()
        self._threshold = threshold
        self._counters = StageCounters(STAGE)

    def process(self, element: tuple[int, Iterable[tuple[str, Any]]]) -> Iterable[tuple[int, int]]:
        b, values = element
        sigs = small_values(values, "half")["sig"]
        if not sigs:
            return
        sig_b = sigs[0]
        for a, sig_a in many_values(values, "half"):
            if estimated_jaccard(sig_a, sig_b) >= self._threshold:
                self._counters.inc("verified_pairs")
                yield a, b


def _both_directions(edge: tuple[int, int]) -> Iterator[tuple[int, int]]:
    a, b = edge
    yield a, b
    yield b, a


def _propagate(element: tuple[int, Iterable[tuple[str, Any]]]) -> Iterator[tuple[int, int]]:
    node, values = element
    labels = small_values(values, "adj")["label"]
    if not labels:
        return
    label = min(labels)
    yield node, label
    for neighbour in many_values(values, "adj"):  # a hub's neighbours are streamed
        yield neighbour, label


def _count_changed(element: tuple[int, Iterable[tuple[str, int]]]) -> int:
    _, values = element
    labels = small_values(values, "")  # both inputs hold one label per node
    return int(min(labels["before"]) != min(labels["after"]))


def _check_converged(changed: int, rounds: int) -> None:
    if changed:
        raise RuntimeError(f"near_dedup: connected components did not converge in {rounds} rounds "
                           f"({changed} labels still changing); raise near_dedup.max_rounds")


def _self_label(node: int) -> tuple[int, int]:
    return node, node


def _member_of(element: tuple[int, tuple]) -> tuple[int, int]:
    label, (_, node) = element
    return label, node


def _key_doc(doc: Document) -> tuple[int, Document]:
    return doc_key(doc.id), doc


def _rank_of(doc: Document, priority: tuple[str, ...]) -> tuple[int, tuple]:
    return doc_key(doc.id), survivor_rank(doc, priority)


def _label_with_rank(element: tuple[int, Iterable[tuple[str, Any]]]) -> Iterator[tuple[int, tuple]]:
    node, values = element
    found = small_values(values, "")  # one label and one rank per node (more only on a key collision)
    for label in found["label"]:
        for rank in found["rank"]:
            yield label, (rank, node)


def _members_with_cluster(element: tuple[int, Iterable[tuple[str, Any]]]) -> Iterator[tuple[int, tuple]]:
    label, values = element
    found = small_values(values, "member")
    (rank, winner), size = found["winner"][0], found["size"][0]
    for node in many_values(values, "member"):  # a cluster of millions of members is streamed
        yield node, (label, winner, rank[-1], size)  # rank[-1]: the survivor's document id


class _ApplyClustersFn(beam.DoFn):
    def __init__(self) -> None:
        super().__init__()
        self._counters = StageCounters(STAGE)

    def process(self, element: tuple[int, Iterable[tuple[str, Any]]]) -> Iterable[Any]:
        key, values = element
        clusters = small_values(values, "doc")["cluster"]
        cluster = clusters[0] if clusters else None
        for doc in many_values(values, "doc"):
            if cluster is None:
                self._counters.inc("kept")
                yield dataclasses.replace(doc, cluster_id=f"{key:016x}", cluster_size=1)
                continue
            label, winner, winner_id, size = cluster
            doc = dataclasses.replace(doc, cluster_id=f"{label:016x}", cluster_size=size)
            if key == winner:
                self._counters.inc("kept")
                yield doc
            else:
                self._counters.inc("dropped:near_duplicate")
                dropped = dataclasses.replace(doc.dropped(STAGE, "near_duplicate"),
                                              meta={**doc.meta, "duplicate_of": winner_id})
                yield pvalue.TaggedOutput(DeduplicateNearDuplicates.REJECTED, dropped)


def _in_cluster(doc: Document) -> bool:
    return doc.cluster_size > 1


def _cluster_of(doc: Document) -> str:
    return doc.cluster_id


def _cluster_order(cluster_id: str, seed: int) -> int:
    return hash64(seed, "audit", cluster_id)


def _is_sampled(doc: Document, sampled: frozenset[str]) -> bool:
    return doc.cluster_id in sampled


def _member_order(doc: Document, seed: int) -> tuple[int, int]:
    return (0 if doc.decision == KEEP else 1, hash64(seed, "audit", doc.id))  # the survivor always first


def _keyed_by_cluster(doc: Document) -> tuple[str, Document]:
    return doc.cluster_id, doc


def _audit_records(element: tuple[str, list[Document]], cfg: NearDedupConfig) -> dict[str, Any]:
    return audit_cluster(element[0], element[1], cfg)


def _sorted_audit(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(records, key=lambda r: r["cluster_id"])


class _AuditClusters(beam.PTransform):
    """(kept, rejected) -> one list of audit records for `audit_clusters` clusters chosen by a seeded hash.
    Bounded whatever the corpus: a global Top of cluster ids, then a Top per sampled cluster."""

    def __init__(self, cfg: NearDedupConfig) -> None:
        super().__init__()
        self._cfg = cfg

    def expand(self, outputs: tuple[beam.PCollection, beam.PCollection]) -> beam.PCollection:
        cfg = self._cfg
        members = outputs | "AllOutputs" >> beam.Flatten() | "InClusters" >> beam.Filter(_in_cluster)
        sampled = (
            members
            | "ClusterIds" >> beam.Map(_cluster_of)
            | "DistinctClusters" >> beam.Distinct()
            | "SampleClusters" >> beam.combiners.Top.Of(cfg.audit_clusters, key=lambda c: -_cluster_order(c, cfg.seed))
            | "AsSet" >> beam.Map(frozenset)
        )
        return (
            members
            | "SampledMembers" >> beam.Filter(_is_sampled, beam.pvalue.AsSingleton(sampled))
            | "KeyByCluster" >> beam.Map(_keyed_by_cluster)
            | "SomeMembers" >> beam.combiners.Top.PerKey(cfg.audit_members + 1,
                                                         key=lambda d: tuple(-x for x in _member_order(d, cfg.seed)))
            | "AuditCluster" >> beam.Map(_audit_records, cfg)
            | "AllRecords" >> beam.combiners.ToList()
            | "Sorted" >> beam.Map(_sorted_audit)
        )


class DeduplicateNearDuplicates(beam.PTransform):
    """Keeps one document per MinHash near-duplicate cluster. Outputs (dict): `kept`, REJECTED = dropped,
    AUDIT = one list of audit records (when `audit_clusters` > 0)."""

    REJECTED = "rejected"
    AUDIT = "audit"

    def __init__(self, cfg: NearDedupConfig) -> None:
        super().__init__()
        self._cfg = cfg

    def expand(self, docs: beam.PCollection) -> pvalue.DoOutputsTuple:
        cfg = self._cfg
        sigs = docs | "Signatures" >> beam.ParDo(_SignatureFn(cfg))          # (key, uint32 signature bytes)
        candidates = (
            sigs
            | "Bands" >> beam.FlatMap(_bands_of, cfg.bands, cfg.rows)          # (band key, key)
            | "GroupBands" >> beam.GroupByKey()                               # (band key, [key])
            | "StarEdges" >> beam.ParDo(_StarEdgesFn())                       # (min key, other key)
            | "DistinctCandidates" >> beam.Distinct()
        )
        half = (
            {"sig": sigs, "edge": candidates}
            | "JoinFirstSignature" >> GroupTagged()
            | "AttachFirstSignature" >> beam.FlatMap(_attach_first_signature)  # (b, (a, sig a))
        )
        verified = (
            {"sig": sigs, "half": half}
            | "JoinSecondSignature" >> GroupTagged()
            | "Verify" >> beam.ParDo(_VerifyFn(cfg.threshold))                 # (a, b), est. J >= threshold
        )
        adjacency = verified | "BothDirections" >> beam.FlatMap(_both_directions)  # (node, neighbour)
        labels = (
            adjacency
            | "Nodes" >> beam.Keys()
            | "DistinctNodes" >> beam.Distinct()
            | "InitialLabels" >> beam.Map(_self_label)                   # (node, label)
        )
        previous = labels
        for r in range(cfg.max_rounds):
            previous, labels = labels, (
                {"label": labels, "adj": adjacency}
                | f"Round{r}Join" >> GroupTagged()
                | f"Round{r}Propagate" >> beam.FlatMap(_propagate)
                | f"Round{r}Min" >> beam.CombinePerKey(min)
            )
        changed = (
            {"before": previous, "after": labels}
            | "ConvergenceJoin" >> GroupTagged()
            | "Changed" >> beam.Map(_count_changed)
            | "SumChanged" >> beam.CombineGlobally(sum)
        )
        _ = changed | "CheckConverged" >> beam.Map(_check_converged, cfg.max_rounds)
        ranked = (
            {"label": labels, "rank": docs | "Ranks" >> beam.Map(_rank_of, cfg.survivor_priority)}
            | "JoinRanks" >> GroupTagged()
            | "LabelWithRank" >> beam.FlatMap(_label_with_rank)                # (label, (rank, node))
        )
        winners = ranked | "Survivor" >> beam.CombinePerKey(min)             # (label, (rank, winner))
        sizes = ranked | "ClusterSize" >> beam.combiners.Count.PerKey()      # (label, n)
        members = ranked | "Members" >> beam.Map(_member_of)  # (label, node)
        clusters = (
            {"member": members, "winner": winners, "size": sizes}
            | "JoinClusters" >> GroupTagged()
            | "MemberClusters" >> beam.FlatMap(_members_with_cluster)         # (node, (label, winner, size))
        )
        applied = (
            {"doc": docs | "KeyDocs" >> beam.Map(_key_doc), "cluster": clusters}
            | "JoinDocs" >> GroupTagged()
            | "ApplyClusters" >> beam.ParDo(_ApplyClustersFn()).with_outputs(self.REJECTED, main="kept")
        )
        outputs = {"kept": applied.kept, self.REJECTED: applied[self.REJECTED]}
        if cfg.audit_clusters:
            outputs[self.AUDIT] = (applied.kept, applied[self.REJECTED]) | "Audit" >> _AuditClusters(cfg)
        return outputs
