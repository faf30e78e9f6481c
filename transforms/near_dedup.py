"""DeduplicateNearDuplicates: MinHash LSH -> verified edges -> connected components -> keep the best.

Input/output: `Document`; every output document gets `cluster_id` (16 hex digits, the smallest member
key of its component, or its own key) and `cluster_size`. Tagged `REJECTED`: members other than the
survivor, marked `near_dedup:near_duplicate`.

Steps (each PCollection's shape in the comments of `expand`):
1. Shingles chosen per document from its script: word n-grams after lowercasing, punctuation and digit
   folding for spaced scripts; character n-grams (whitespace and punctuation removed) for Chinese,
   Japanese, Thai and other unspaced scripts, so one run dedups a mixed-language corpus. Shingles are
   hashed vectorized (`shingle_hashes`: each word hashed once with xxh3, an n-gram's hash combined from
   its tokens' hashes in NumPy), never built as strings.
2. Signatures: datasketch's MinHash permutations (affine32 scheme) over the shingle hashes, in NumPy
   blocks (`signature`): what its `update_batch` computes with an identity base hash instead of sha1,
   without building a Python int per shingle.
3. Banding: the band shuffle carries (band key, 64-bit document key) only, never signatures or text.
4. Candidates: per band bucket, every pair when it holds at most ALL_PAIRS_MAX_BUCKET (8) members, else a
   star from the bucket's smallest key to every other member (linear in the bucket, so a hot
   boilerplate bucket costs no quadratic pairs); a hot bucket's values are iterated, never listed.
5. Verification: each candidate pair joins the two signatures in later steps and survives only if the
   estimated Jaccard >= `threshold`, so a band collision alone never removes a document. The payloads
   (signatures or shingle sets) of the documents in some candidate pair are first picked out in one join
   of every document's payload, so the two pair joins carry only candidates' payloads. Each payload
   travels with its document's survivor rank (step 7), picked out in the same join. With
   `verify: exact` the joins carry the two shingle-hash sets instead (`minhash_inputs`, 4 bytes per
   shingle instead of 4 x num_perm bytes per document) and the exact Jaccard decides.
6. Connected components by min-label propagation in `max_rounds` unrolled rounds (Beam has no loops),
   one GroupByKey each: a node's group holds its adjacency and the labels sent to it, and the round
   passes both on (no join of labels with the adjacency per round). Then a convergence check fails the
   run loudly if labels still changed in the last round.
7. Survivor per component by `survivor_priority`: by default highest quality_score, then newest
   crawl_date (InternLM2 kept the newest dump), then longest text; the smallest id breaks ties. Only
   the labelled nodes' ranks (from step 5's join) cross the join with the labels. Dropped members name
   the survivor (`rejected.detail`).
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
import itertools
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import apache_beam as beam
import numpy as np
import xxhash
from apache_beam import pvalue

from transforms.counters import CountingDoFn, StageCounters
from transforms.document import KEEP, Document
from transforms.hashing import doc_key, hash64
from transforms.joins import GroupTagged, many_values, small_values
from transforms.runtime import tune_process
from transforms.scripts import is_unspaced

STAGE = "near_dedup"
VERIFY_MODES = ("estimated", "exact")


@dataclasses.dataclass(frozen=True)
class NearDedupConfig:
    enabled: bool = True
    num_perm: int = 128
    bands: int | None = 16          # bands and rows null: chosen from `threshold` (choose_bands)
    rows: int | None = 8
    word_ngram: int = 5
    char_ngram: int = 5
    threshold: float = 0.7          # Jaccard a candidate pair must reach
    verify: str = "estimated"       # estimated: from the two signatures; exact: on the two shingle sets
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
        if self.verify not in VERIFY_MODES:
            raise ValueError(f"near_dedup.verify must be one of {', '.join(VERIFY_MODES)}, got {self.verify!r}")
        for name in ("word_ngram", "char_ngram"):
            if not 1 <= getattr(self, name) <= len(_POSITION_MULTIPLIERS):
                raise ValueError(f"near_dedup.{name} must be in 1..{len(_POSITION_MULTIPLIERS)}, "
                                 f"got {getattr(self, name)}")
        if self.max_rounds < 1:
            raise ValueError(f"near_dedup.max_rounds must be >= 1, got {self.max_rounds}")
        for key in self.survivor_priority:
            if key not in SURVIVOR_KEYS:
                raise ValueError(f"near_dedup.survivor_priority: unknown key {key!r}; known: {sorted(SURVIVOR_KEYS)}")


# ---------------------------------------------------------------- pure functions

@functools.lru_cache(maxsize=1)
def _fold_table() -> dict[int, str]:
    """Punctuation, symbols and control characters -> space, decimal digits -> '0', every Unicode space ->
    ' ' (so the folded text splits the same way as bytes and as str); built once per process. Controls are
    never tokens (normalized text holds none but \\n and \\t): U+0000 as a character token would be 0 and
    add nothing to an n-gram's position-weighted hash, so "中" and "中\\x00" would get the same hash."""
    table = {}
    for code in range(0x110000):
        char = chr(code)
        cat = unicodedata.category(char)
        if cat[0] in "PS" or cat == "Cc" or char.isspace():
            table[code] = " "
        elif cat == "Nd":
            table[code] = "0"
    return table


def _fold(text: str) -> tuple[str, bool]:
    """(folded text, unspaced): lowercased, punctuation and digits folded; an unspaced-script text also
    loses its whitespace (its shingles are characters)."""
    folded = text.lower().translate(_fold_table())
    if is_unspaced(text):
        return "".join(folded.split()), True
    return folded, False


def shingles(text: str, word_ngram: int, char_ngram: int) -> list[bytes]:
    """Distinct shingles of a text, readable: char n-grams for unspaced scripts, word n-grams otherwise;
    a text shorter than n tokens is one shingle. The stage hashes the same shingles (`shingle_hashes`)."""
    folded, unspaced = _fold(text)
    tokens, n, sep = (list(folded), char_ngram, "") if unspaced else (folded.split(), word_ngram, " ")
    if len(tokens) <= n:
        grams = {sep.join(tokens)}
    else:
        grams = {sep.join(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}
    return sorted(g.encode("utf-8") for g in grams)


# One odd 64-bit multiplier per n-gram position (fixed; derived from xxh3, not from a NumPy generator
# whose stream could change between versions).
_POSITION_MULTIPLIERS = np.array([xxhash.xxh3_64_intdigest(f"shingle-position-{j}".encode()) | 1
                                  for j in range(256)], dtype=np.uint64)
# MurmurHash3's finalizers as (shift, multiplier, shift, multiplier, shift), each in its width's dtype. The
# 32-bit one is what datasketch's affine32 scheme mixes every MinHash input with before its permutations
# (datasketch.minhash._fmix with width 32; tests/test_near_dedup.py checks `signature` against it).
_FMIX64 = tuple(np.uint64(c) for c in (33, 0xFF51AFD7ED558CCD, 33, 0xC4CEB9FE1A85EC53, 33))
_FMIX32 = tuple(np.uint32(c) for c in (16, 0x85EBCA6B, 13, 0xC2B2AE35, 16))


def _fmix(h: np.ndarray, constants: tuple) -> np.ndarray:
    """A MurmurHash3 finalizer (a bijection), element-wise; multiplication wraps mod 2^width."""
    s1, m1, s2, m2, s3 = constants
    h = h ^ (h >> s1)
    h = h * m1
    h = h ^ (h >> s2)
    h = h * m2
    return h ^ (h >> s3)


def shingle_hashes(text: str, word_ngram: int, char_ngram: int) -> np.ndarray:
    """The shingles of `shingles()` as sorted distinct 64-bit hashes, vectorized: each word is hashed once
    (xxh3) or each character is its code point, and an n-gram's hash is a position-weighted sum of its
    tokens' hashes, mixed. Distinct shingles get distinct hashes up to 64-bit collisions, so Jaccard on
    these equals Jaccard on `shingles()`. Empty when the text has no token."""
    folded, unspaced = _fold(text)
    if unspaced:
        tokens = np.frombuffer(folded.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        n = char_ngram
    else:
        words = folded.encode("utf-8").split()  # every Unicode space is ' ' after folding
        tokens = np.fromiter(map(xxhash.xxh3_64_intdigest, words), dtype=np.uint64, count=len(words))
        n = word_ngram
    length = len(tokens)
    if length == 0:
        return tokens
    if length <= n:
        grams = np.array([(tokens * _POSITION_MULTIPLIERS[:length]).sum(dtype=np.uint64)], dtype=np.uint64)
    else:
        count = length - n + 1
        grams = tokens[:count] * _POSITION_MULTIPLIERS[0]
        for j in range(1, n):
            grams += tokens[j:j + count] * _POSITION_MULTIPLIERS[j]
    return np.unique(_fmix(grams, _FMIX64))


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


ALL_PAIRS_MAX_BUCKET = 8  # buckets up to this size give every pair (at most 28); larger ones a star


def bucket_edges(members: Iterable[int]) -> Iterator[tuple[int, int]]:
    """Candidate pairs of one band bucket, each as (smaller, larger): every pair when the bucket holds at
    most ALL_PAIRS_MAX_BUCKET members (so a pair that does not match the smallest member is still
    verified), else a star from the smallest member to each other one. Reads at most
    ALL_PAIRS_MAX_BUCKET + 1 members before deciding; a hot bucket is iterated twice, never listed."""
    head = list(itertools.islice(members, ALL_PAIRS_MAX_BUCKET + 1))
    if len(head) <= ALL_PAIRS_MAX_BUCKET:
        yield from itertools.combinations(sorted(set(head)), 2)
        return
    smallest = min(members)
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


def set_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard of two sorted distinct hash arrays (1.0 when both are empty)."""
    if not len(a) and not len(b):
        return 1.0
    common = len(np.intersect1d(a, b, assume_unique=True))
    return common / (len(a) + len(b) - common)


def exact_jaccard(a: str, b: str, cfg: NearDedupConfig) -> float:
    """Exact Jaccard of two texts on the stage's shingles (what `verify: exact` computes, from
    `minhash_inputs`)."""
    return set_jaccard(minhash_inputs(shingle_hashes(a, cfg.word_ngram, cfg.char_ngram)),
                       minhash_inputs(shingle_hashes(b, cfg.word_ngram, cfg.char_ngram)))


def document_shingle_hashes(doc_id: str, text: str, cfg: NearDedupConfig) -> np.ndarray:
    """A document's shingle hashes; a text without any word (symbols, emoji) gets one shingle unique to
    the document, so it is never a near-duplicate of anything."""
    hashes = shingle_hashes(text, cfg.word_ngram, cfg.char_ngram)
    if len(hashes):
        return hashes
    return np.array([xxhash.xxh3_64_intdigest(b"\x00" + doc_id.encode("utf-8"))], dtype=np.uint64)


def minhash_template(cfg: NearDedupConfig) -> Any:
    """A datasketch MinHash (affine32 scheme) whose permutations and initial values `signature` uses
    (made once per worker)."""
    from datasketch import MinHash

    return MinHash(num_perm=cfg.num_perm, seed=cfg.seed, hashfunc=int, scheme="affine32")


def minhash_inputs(hashes: np.ndarray) -> np.ndarray:
    """What MinHash and exact verification see of a document's shingle hashes: their top 32 bits, sorted
    and distinct (datasketch's affine32 scheme takes 32-bit values; sha1 was truncated to 32 bits too).
    A 32-bit collision between two of ~10,000 shingles changes a Jaccard by ~1e-4 at most."""
    return np.unique((hashes >> np.uint64(32)).astype(np.uint32))


SIGNATURE_CHUNK = 512  # shingles per block: a 512 x 128 uint32 block (256 KB) stays in the L2 cache


def signature(inputs: np.ndarray, cfg: NearDedupConfig, template: Any = None) -> bytes:
    """The MinHash signature (uint32 bytes) of `minhash_inputs(...)`: what datasketch's `update_batch`
    computes with an identity base hash (the inputs are already hashes; datasketch's default would sha1
    each shingle), with its permutations and affine32 scheme, in NumPy blocks instead of its list of
    Python ints per shingle. Pass `minhash_template(cfg)` to skip regenerating the permutations."""
    template = template if template is not None else minhash_template(cfg)
    if template.scheme != "affine32":  # the arithmetic below is that scheme's (32-bit, wrapping)
        raise ValueError(f"near_dedup: a MinHash template of scheme affine32 is needed, got {template.scheme!r}")
    a, b = template.permutations
    out = template.hashvalues.copy()
    if len(inputs):
        mixed = _fmix(inputs.astype(np.uint32, copy=False), _FMIX32)
        block = np.empty((min(len(mixed), SIGNATURE_CHUNK), len(a)), dtype=np.uint32)
        for start in range(0, len(mixed), SIGNATURE_CHUNK):
            chunk = mixed[start:start + SIGNATURE_CHUNK, None]
            rows = block[:len(chunk)]
            np.multiply(chunk, a, out=rows)   # wraps mod 2^32, as datasketch's affine32 does
            np.add(rows, b, out=rows)
            np.minimum(out, rows.min(axis=0), out=out)
    return out.tobytes()  # uint32: the affine32 scheme's values


def text_signature(doc_id: str, text: str, cfg: NearDedupConfig, template: Any = None) -> bytes:
    """`signature` of a document's text: what the stage computes for it."""
    return signature(minhash_inputs(document_shingle_hashes(doc_id, text, cfg)), cfg, template)


def audit_cluster(cluster_id: str, docs: Iterable[Document], cfg: NearDedupConfig) -> dict[str, Any]:
    """One audit record: each sampled member's exact and estimated Jaccard with the survivor; members
    below the threshold joined the cluster through a chain (A~B~C) rather than directly."""
    docs = sorted(docs, key=lambda d: d.id)
    survivor = next(d for d in docs if d.decision == KEEP)
    template = minhash_template(cfg)
    inputs = minhash_inputs(document_shingle_hashes(survivor.id, survivor.text, cfg))
    sig = signature(inputs, cfg, template)
    members = []
    for doc in docs:
        if doc is survivor:
            continue
        doc_inputs = minhash_inputs(document_shingle_hashes(doc.id, doc.text, cfg))
        exact = set_jaccard(inputs, doc_inputs)
        estimated = estimated_jaccard(sig, signature(doc_inputs, cfg, template))
        verified = exact if cfg.verify == "exact" else estimated
        members.append({"id": doc.id, "exact_jaccard": round(exact, 4), "estimated_jaccard": round(estimated, 4),
                        "below_threshold": verified < cfg.threshold})
    return {"cluster_id": cluster_id, "cluster_size": survivor.cluster_size, "survivor": survivor.id,
            "sampled_members": members}


# ---------------------------------------------------------------- DoFns

class _SignatureFn(CountingDoFn):
    """Document -> (key, signature), for the bands; and (key, (payload, survivor rank)) tagged PAYLOAD: what
    verification compares (the signature, or with `verify: exact` the shingle hashes) with what picks a
    cluster's survivor, so both reach the candidates in one join and no other step reads every document."""

    PAYLOAD = "payload"

    def __init__(self, cfg: NearDedupConfig) -> None:
        super().__init__()
        self._cfg = cfg
        self._counters = StageCounters(STAGE)
        self._template = None

    def setup(self) -> None:
        tune_process()
        self._template = minhash_template(self._cfg)

    def process(self, doc: Document) -> Iterable[Any]:
        self._counters.inc("docs_in")
        key = doc_key(doc.id)
        inputs = minhash_inputs(document_shingle_hashes(doc.id, doc.text, self._cfg))
        sig = signature(inputs, self._cfg, self._template)
        yield key, sig
        payload = inputs.tobytes() if self._cfg.verify == "exact" else sig
        yield pvalue.TaggedOutput(self.PAYLOAD, (key, (payload, survivor_rank(doc, self._cfg.survivor_priority))))


def _bands_of(element: tuple[int, bytes], bands: int, rows: int) -> Iterator[tuple[bytes, int]]:
    key, sig = element
    for band in band_keys(np.frombuffer(sig, dtype=np.uint32), bands, rows):
        yield band, key


class _BucketEdgesFn(CountingDoFn):
    def __init__(self) -> None:
        super().__init__()
        self._counters = StageCounters(STAGE)

    def process(self, element: tuple[bytes, Iterable[int]]) -> Iterable[tuple[int, int]]:
        for edge in bucket_edges(element[1]):
            self._counters.inc("candidate_pairs")
            yield edge


def _endpoints(edge: tuple[int, int]) -> Iterator[tuple[int, None]]:
    yield edge[0], None
    yield edge[1], None


RANK = "rank"   # the tag of candidates' survivor ranks out of CandidatePayload


def _candidate_payload(element: tuple[int, Iterable[tuple[str, Any]]]) -> Iterator[Any]:
    """A document that is an endpoint of at least one candidate pair: (key, payload), and (key, survivor
    rank) tagged RANK. One pass that stops once both are seen (a star centre has one marker per edge)."""
    key, values = element
    found, marked = None, False
    for tag, value in values:
        if tag == "sig":
            found = value
        else:
            marked = True
        if marked and found is not None:
            payload, rank = found
            yield key, payload
            yield pvalue.TaggedOutput(RANK, (key, rank))
            return


def _attach_first_signature(element: tuple[int, Iterable[tuple[str, Any]]]) -> Iterator[tuple[int, tuple]]:
    a, values = element
    sigs = small_values(values, "edge")["sig"]
    if not sigs:
        return
    for b in many_values(values, "edge"):  # a star centre may have millions of edges: streamed
        yield b, (a, sigs[0])


def payload_jaccard(a: bytes, b: bytes, verify: str) -> float:
    """Jaccard of two documents from what the verification joins carry: signatures (estimated) or
    `minhash_inputs` (exact)."""
    if verify == "exact":
        return set_jaccard(np.frombuffer(a, dtype=np.uint32), np.frombuffer(b, dtype=np.uint32))
    return estimated_jaccard(a, b)


class _VerifyFn(CountingDoFn):
    def __init__(self, threshold: float, verify: str) -> None:
        super().__init__()
        self._threshold = threshold
        self._verify = verify
        self._counters = StageCounters(STAGE)

    def process(self, element: tuple[int, Iterable[tuple[str, Any]]]) -> Iterable[tuple[int, int]]:
        b, values = element
        sigs = small_values(values, "half")["sig"]
        if not sigs:
            return
        sig_b = sigs[0]
        for a, sig_a in many_values(values, "half"):
            if payload_jaccard(sig_a, sig_b, self._verify) >= self._threshold:
                self._counters.inc("verified_pairs")
                yield a, b


def _both_directions(edge: tuple[int, int]) -> Iterator[tuple[int, int]]:
    a, b = edge
    yield a, b
    yield b, a


# the tags of a node's group in a propagation round (transforms/near_dedup.py: DeduplicateNearDuplicates)
_ADJ, _LABEL, _SELF = 0, 1, 2


def _first_messages(edge: tuple[int, int]) -> Iterator[tuple[int, tuple[int, int]]]:
    """Round 0's group from one directed edge (node, neighbour): the adjacency entry, and the node's first
    label, itself (sent once per edge; the minimum is what counts)."""
    node, neighbour = edge
    yield node, (_ADJ, neighbour)
    yield node, (_LABEL, node)


def _smallest_label(values: Iterable[tuple[int, int]]) -> int:
    return min(value for tag, value in values if tag != _ADJ)


def _propagate(element: tuple[int, Iterable[tuple[int, int]]]) -> Iterator[tuple[int, tuple[int, int]]]:
    """One round of min-label propagation on a node's group: its label is the smallest label it was sent
    (its own among them); the node keeps its adjacency and sends that label to itself (tagged _SELF: the
    label the next round compares against) and to each neighbour. Two passes over the group (Beam's
    grouped values are re-iterable): a hub's neighbours and labels are streamed, never collected."""
    node, values = element
    label = _smallest_label(values)
    yield node, (_SELF, label)
    for tag, neighbour in values:
        if tag == _ADJ:
            yield node, (_ADJ, neighbour)
            yield neighbour, (_LABEL, label)


def _final_label(element: tuple[int, Iterable[tuple[int, int]]]) -> tuple[int, tuple[int, bool]]:
    """(node, (label after the last round, whether that round changed it))."""
    node, values = element
    label = _smallest_label(values)
    before = min(value for tag, value in values if tag == _SELF)
    return node, (label, label != before)


def _label(element: tuple[int, tuple[int, bool]]) -> tuple[int, int]:
    node, (label, _) = element
    return node, label


def _changed(element: tuple[int, tuple[int, bool]]) -> int:
    return int(element[1][1])


def _check_converged(changed: int, rounds: int) -> None:
    if changed:
        raise RuntimeError(f"near_dedup: connected components did not converge in {rounds} rounds "
                           f"({changed} labels still changing); raise near_dedup.max_rounds")


def _member_of(element: tuple[int, tuple]) -> tuple[int, int]:
    label, (_, node) = element
    return label, node


def _key_doc(doc: Document) -> tuple[int, Document]:
    return doc_key(doc.id), doc


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


class _ApplyClustersFn(CountingDoFn):
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
                yield doc.replace(cluster_id=f"{key:016x}", cluster_size=1)
                continue
            label, winner, winner_id, size = cluster
            doc = doc.replace(cluster_id=f"{label:016x}", cluster_size=size)
            if key == winner:
                self._counters.inc("kept")
                yield doc
            else:
                self._counters.inc("dropped:near_duplicate")
                yield pvalue.TaggedOutput(DeduplicateNearDuplicates.REJECTED,
                                          doc.dropped(STAGE, "near_duplicate", duplicate_of=winner_id))


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
    Bounded whatever the corpus: a global Top of cluster ids, then a Top per sampled cluster. Each output
    is filtered to cluster members before the Flatten: a multi-input Flatten is a materialized copy in
    the FnApiRunner, so flattening first would copy every kept document once more."""

    def __init__(self, cfg: NearDedupConfig) -> None:
        super().__init__()
        self._cfg = cfg

    def expand(self, outputs: tuple[beam.PCollection, beam.PCollection]) -> beam.PCollection:
        cfg = self._cfg
        kept, dropped = outputs
        members = (
            (kept | "KeptInClusters" >> beam.Filter(_in_cluster),
             dropped | "DroppedInClusters" >> beam.Filter(_in_cluster))
            | "ClusterMembers" >> beam.Flatten()
        )
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

    def __init__(self, cfg: NearDedupConfig, compress: bool = True) -> None:
        super().__init__()
        self._cfg = cfg
        self._compress = compress   # zstd for large documents in the join with the clusters (transforms/shuffle.py)

    def expand(self, docs: beam.PCollection) -> pvalue.DoOutputsTuple:
        cfg = self._cfg
        signed = docs | "Signatures" >> beam.ParDo(_SignatureFn(cfg)).with_outputs(_SignatureFn.PAYLOAD,
                                                                                 main="sigs")
        sigs = signed.sigs                                                    # (key, uint32 signature bytes)
        candidates = (
            sigs
            | "Bands" >> beam.FlatMap(_bands_of, cfg.bands, cfg.rows)          # (band key, key)
            | "GroupBands" >> beam.GroupByKey()                               # (band key, [key])
            | "BucketEdges" >> beam.ParDo(_BucketEdgesFn())                   # (smaller key, larger key)
            | "DistinctCandidates" >> beam.Distinct()
        )
        # Only documents in some candidate pair are verified and ranked: their payloads (what verification
        # compares: signatures, or with verify: exact the shingle hashes) and survivor ranks are picked out
        # in one join of every document's, so the later joins carry candidates' only.
        picked = (
            {"sig": signed[_SignatureFn.PAYLOAD], "node": candidates | "Endpoints" >> beam.FlatMap(_endpoints)}
            | "JoinCandidatePayload" >> GroupTagged()
            | "CandidatePayload" >> beam.FlatMap(_candidate_payload).with_outputs(RANK, main="payload")
        )
        candidate_payload = picked.payload                                    # (key, payload)
        half = (
            {"sig": candidate_payload, "edge": candidates}
            | "JoinFirstSignature" >> GroupTagged()
            | "AttachFirstSignature" >> beam.FlatMap(_attach_first_signature)  # (b, (a, sig a))
        )
        verified = (
            {"sig": candidate_payload, "half": half}
            | "JoinSecondSignature" >> GroupTagged()
            | "Verify" >> beam.ParDo(_VerifyFn(cfg.threshold, cfg.verify))    # (a, b), J >= threshold
        )
        adjacency = verified | "BothDirections" >> beam.FlatMap(_both_directions)  # (node, neighbour)
        # Connected components: L0(v) = v, L(r+1)(v) = min(L(r)(v), L(r)(u) for each neighbour u). Round r
        # groups, per node, its adjacency with the labels it was sent; `_propagate` keeps the adjacency and
        # sends the smallest label on, into round r+1's group: one GroupByKey per round, no join.
        groups = adjacency | "FirstMessages" >> beam.FlatMap(_first_messages) | "Round0Group" >> beam.GroupByKey()
        for r in range(cfg.max_rounds):
            groups = (groups
                      | f"Round{r}Propagate" >> beam.FlatMap(_propagate)
                      | f"Round{r + 1}Group" >> beam.GroupByKey())
        final = groups | "FinalLabels" >> beam.Map(_final_label)  # (node, (label, changed in the last round))
        labels = final | "Labels" >> beam.Map(_label)
        _ = (final
             | "Changed" >> beam.Map(_changed)
             | "SumChanged" >> beam.CombineGlobally(sum)
             | "CheckConverged" >> beam.Map(_check_converged, cfg.max_rounds))
        ranked = (
            {"label": labels, "rank": picked[RANK]}                          # every labelled node is a candidate
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
            | "JoinDocs" >> GroupTagged(encoded=True, compress=self._compress)
            | "ApplyClusters" >> beam.ParDo(_ApplyClustersFn()).with_outputs(self.REJECTED, main="kept")
        )
        outputs = {"kept": applied.kept, self.REJECTED: applied[self.REJECTED]}
        if cfg.audit_clusters:
            outputs[self.AUDIT] = (applied.kept, applied[self.REJECTED]) | "Audit" >> _AuditClusters(cfg)
        return outputs
