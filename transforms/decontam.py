"""Decontaminate: drop (or cut) documents that share n-grams with evaluation sets.

Input/output: `Document` (after quality filtering and dedup, before mixing); tagged `REJECTED`: documents
marked `decontam:contaminated:<benchmark>`, the benchmark with the most matched n-grams (ties: the first
name), with `meta["drop_detail"]` listing every benchmark matched as `name=count,...` (most first).

Evaluation sets: `eval_sets` maps a benchmark name to JSONL files (gzip etc. by extension, any Beam
filesystem). Every string under one of `fields` in a record is one evaluation text, and so is every string
in a list under such a field (multiple-choice options). The sets are read once per worker process in
`setup()` (shared by the DoFn instances of the process); `load_eval_ngrams(cfg)` is the same pure
function, for a launcher to fail early: a missing, unreadable or non-JSONL file, or a benchmark without
any usable text, raises `EvalSetError` with one line naming `decontam.eval_sets.<benchmark>` and the path.

Matching, the same on both sides (GPT-3, Brown et al. 2020, App. C; Llama 2 and the Pile use the same
13-gram scheme): text folded character by character without changing its length (NFKC when it is one
character, so full-width forms fold; lowercase; punctuation, symbols, control characters and every
whitespace -> one space; digits are kept: "48 clips" and "84 clips" are different problems). Tokens are
the space-separated words, except that each Han, kana or Thai character is a token of its own. An
evaluation text is read in `ngram`-word n-grams, or, when unspaced characters are more than 30% of it
(`scripts.is_unspaced`), in `char_ngram`-token n-grams. A text shorter than one n-gram but of at least
`min_eval_tokens` words (`min_eval_chars` tokens when unspaced) is one n-gram as a whole; shorter ones
are skipped (GPT-3's floor of 8 words: below it, collisions with ordinary prose are common). A document
is read in n-grams of every length the evaluation sets use (so a Chinese page quoting an English question
matches too). N-grams are 64-bit hashes: each token xxh3-hashed once, an n-gram's hash a position-weighted
sum of its tokens' hashes (prefix sums, so each length costs a few vector operations), mixed with its
length; the document side is screened against a bit filter of the evaluation hashes before an exact
lookup, so a clean document costs no Python work per n-gram.

Modes: `drop` rejects a document with any matched n-gram. `remove` cuts the union of the matched n-grams
(whole n-grams, with opening punctuation attached to their first token and other punctuation attached to
their last) out of the text, and joins the two sides of each cut by the larger run of newlines next to
it, at least one (they were not contiguous text), keeping the next line's indentation: a removed
sentence becomes a line break, a removed paragraph leaves one paragraph break. It rejects the document
only when nothing but whitespace is left. Rejected documents keep their original text.
Scores (every document, zeros omitted): `decontam:<benchmark>` = matched n-gram occurrences; in remove
mode also `decontam_removed_chars` (how many characters the text lost, 0 when untouched).
Metrics namespace `decontam`: `docs_in`, `kept`, `dropped:contaminated:<benchmark>`,
`contaminated:<benchmark>` (documents that matched the benchmark, either mode), `removed_chars`.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import hashlib
import json
import re
import threading
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import apache_beam as beam
import numpy as np
import xxhash
from apache_beam import pvalue
from apache_beam.utils import shared

from transforms.counters import CountingDoFn, StageCounters
from transforms.document import Document
from transforms.scripts import UNSPACED_CHAR, is_unspaced

STAGE = "decontam"
MODES = ("drop", "remove")
DEFAULT_FIELDS = ("prompt", "question", "answer", "canonical_solution", "context", "text", "input", "output",
                  "choices")
_BENCHMARK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")
_MAX_NGRAM = 1_000


class EvalSetError(ValueError):
    """An evaluation set that cannot be used; the one-line message names the benchmark and the path."""


@dataclasses.dataclass(frozen=True)
class DecontamConfig:
    enabled: bool = True
    eval_sets: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)  # name -> JSONL paths
    fields: tuple[str, ...] = DEFAULT_FIELDS   # record fields holding evaluation text (a string or strings)
    ngram: int = 13               # words (GPT-3, Llama 2, the Pile)
    char_ngram: int = 20          # tokens of unspaced text: 13 words x ~1.5 characters per Chinese word
    min_eval_tokens: int = 8      # shorter spaced texts are one n-gram down to this many words (GPT-3's floor)
    min_eval_chars: int = 12      # the same for unspaced texts: 8 words x 1.5
    mode: str = "drop"            # drop | remove

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"decontam.mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        for name in ("ngram", "char_ngram"):
            if not 1 <= getattr(self, name) <= _MAX_NGRAM:
                raise ValueError(f"decontam.{name} must be in 1..{_MAX_NGRAM}, got {getattr(self, name)}")
        if not 1 <= self.min_eval_tokens <= self.ngram:
            raise ValueError(f"decontam.min_eval_tokens must be in 1..ngram ({self.ngram}), got {self.min_eval_tokens}")
        if not 1 <= self.min_eval_chars <= self.char_ngram:
            raise ValueError(f"decontam.min_eval_chars must be in 1..char_ngram ({self.char_ngram}), "
                             f"got {self.min_eval_chars}")
        if not self.fields:
            raise ValueError("decontam.fields must name at least one field")
        for name, paths in self.eval_sets.items():
            if not _BENCHMARK_NAME.fullmatch(name):
                raise ValueError(f"decontam.eval_sets: benchmark name {name!r} must be letters, digits, '_', '.' "
                                 "or '-' (it is part of reasons, scores and counter names)")
            if isinstance(paths, str) or not paths:
                raise ValueError(f"decontam.eval_sets.{name} must be a non-empty list of paths")


# ---------------------------------------------------------------- normalization (pure)

def _fold_char(char: str) -> str:
    """One character -> one character: NFKC when that is one character, lowercase when that is one
    character; punctuation, symbols, controls and spaces -> ' '."""
    mapped = unicodedata.normalize("NFKC", char)
    if len(mapped) != 1:
        mapped = char
    if char.isspace() or mapped.isspace() or unicodedata.category(mapped)[0] in "PS" \
            or unicodedata.category(char) == "Cc":
        return " "
    lower = mapped.lower()
    return lower if len(lower) == 1 else mapped


@functools.lru_cache(maxsize=1)
def _fold_table() -> dict[int, str]:
    """str.translate table of `_fold_char` for every assigned character it changes; built once per process."""
    table = {}
    for code in range(0x110000):
        char = chr(code)
        if unicodedata.category(char) in ("Cn", "Cs", "Co"):
            continue
        folded = _fold_char(char)
        if folded != char:
            table[code] = folded
    return table


_ASCII_TABLE = bytes(ord(_fold_char(chr(b))) if b < 128 else b for b in range(256))


@functools.lru_cache(maxsize=1)
def _fold_lut() -> np.ndarray:
    """`_fold_table` as a code point -> code point array (4.4 MB): a gather folds a text 5x faster than
    str.translate with a dict."""
    table = _fold_table()
    lut = np.arange(0x110000, dtype=np.uint32)
    lut[np.fromiter(table, dtype=np.int64, count=len(table))] = np.fromiter(map(ord, table.values()),
                                                                            dtype=np.uint32, count=len(table))
    return lut


def fold(text: str) -> str:
    """The matching form of a text, of the same length (so offsets in it are offsets in `text`)."""
    if text.isascii():
        return text.encode("ascii").translate(_ASCII_TABLE).decode("ascii")
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return _fold_lut()[codes].tobytes().decode("utf-32-le", "surrogatepass")


_U = UNSPACED_CHAR.pattern[1:-1]
_WORD = re.compile(r"[^ ]+")                    # folded text: every whitespace is ' '
_HYBRID = re.compile(f"[{_U}]|[^ {_U}]+")        # unspaced characters one by one, other runs as words


def tokens(text: str) -> list[str]:
    """The tokens of a text as matching sees them (readable; the stage hashes the same tokens)."""
    return _HYBRID.findall(fold(text))


def _hybrid(folded: str) -> bool:
    """Whether a text needs the tokenizer that splits unspaced characters (slower than bytes.split)."""
    return not folded.isascii() and UNSPACED_CHAR.search(folded) is not None


class _TokenHashCache(dict):
    """str token -> xxh3 of its UTF-8 bytes, remembered for the first LIMIT tokens seen: in unspaced text
    most tokens are frequent characters, and a dict hit is 1.5x faster than encoding and hashing (for
    spaced text, hashing the bytes of `bytes.split()` directly is faster than any lookup)."""

    LIMIT = 200_000

    def __missing__(self, token: str) -> int:
        value = xxhash.xxh3_64_intdigest(token.encode("utf-8", "surrogatepass"))
        if len(self) < self.LIMIT:
            self[token] = value
        return value


_TOKEN_HASHES = _TokenHashCache()


def _token_hashes(folded: str, hybrid: bool) -> np.ndarray:
    """xxh3 of each token's UTF-8 bytes (the same value on both paths for a token both can see)."""
    if hybrid:
        toks = _HYBRID.findall(folded)
        return np.fromiter(map(_TOKEN_HASHES.__getitem__, toks), dtype=np.uint64, count=len(toks))
    words = folded.encode("utf-8", "surrogatepass").split()
    return np.fromiter(map(xxhash.xxh3_64_intdigest, words), dtype=np.uint64, count=len(words))


def _token_spans(folded: str, hybrid: bool) -> list[tuple[int, int]]:
    return [m.span() for m in (_HYBRID if hybrid else _WORD).finditer(folded)]


# ---------------------------------------------------------------- n-gram hashing (pure)
# H(i, L) = sum_{m<L} t[i+m] * B^-m (mod 2^64) = (C[i+L] - C[i]) * B^i with C[k] = sum_{j<k} t[j] * B^-j:
# one prefix sum per document, then any length costs a few vector operations. B is odd, so invertible.

_BASE = xxhash.xxh3_64_intdigest(b"decontam-ngram-base") | 1
_BASE_INV = pow(_BASE, -1, 1 << 64)
_LENGTH_SALT = xxhash.xxh3_64_intdigest(b"decontam-ngram-length") | 1
_powers_lock = threading.Lock()
_powers: tuple[np.ndarray, np.ndarray] = (np.ones(1, dtype=np.uint64), np.ones(1, dtype=np.uint64))


def _powers_upto(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(B^i, B^-i) for i < at least n, grown by doubling; multiplication wraps mod 2^64."""
    global _powers
    powers = _powers
    if len(powers[0]) >= n:
        return powers
    with _powers_lock:
        size = max(n, 2 * len(_powers[0]), 1024)
        grown = []
        for base in (_BASE, _BASE_INV):
            steps = np.full(size, base, dtype=np.uint64)
            steps[0] = 1
            grown.append(np.cumprod(steps, dtype=np.uint64))
        _powers = (grown[0], grown[1])
        return _powers


def _prefix(token_hashes: np.ndarray) -> np.ndarray:
    n = len(token_hashes)
    _, inverse = _powers_upto(n + 1)
    prefix = np.zeros(n + 1, dtype=np.uint64)
    np.cumsum(token_hashes * inverse[:n], dtype=np.uint64, out=prefix[1:])
    return prefix


def _ngram_hashes(prefix: np.ndarray, lengths: Sequence[int]) -> tuple[np.ndarray, list[int], list[int]]:
    """Hashes of the n-grams of each length (tokens, ascending), concatenated and computed in place (few
    NumPy calls: short documents are dominated by per-call overhead), with the offset in the result and
    the length of each part; lengths longer than the text are left out. Evaluation texts and documents are
    hashed by this one function. No finalizer is needed: a sum of uniform xxh3 token hashes with odd
    weights is uniform, in its low bits and its high bits alike."""
    n = len(prefix) - 1
    powers, _ = _powers_upto(n)
    used = [length for length in lengths if length <= n]
    offsets = [0]
    for length in used:
        offsets.append(offsets[-1] + n - length + 1)
    out = np.empty(offsets[-1], dtype=np.uint64)
    for length, offset in zip(used, offsets, strict=False):
        count = n - length + 1
        part = out[offset:offset + count]
        np.subtract(prefix[length:], prefix[:count], out=part)
        part *= powers[:count]
        part += np.uint64(length * _LENGTH_SALT % (1 << 64))
    return out, offsets[:-1], used


def eval_text_ngrams(text: str, cfg: DecontamConfig) -> tuple[int, set[int]]:
    """(n-gram length in tokens, the n-gram hashes) of one evaluation text; (0, empty) when it is shorter
    than the minimum."""
    folded = fold(text)
    token_hashes = _token_hashes(folded, _hybrid(folded))
    n, minimum = (cfg.char_ngram, cfg.min_eval_chars) if is_unspaced(text) else (cfg.ngram, cfg.min_eval_tokens)
    if len(token_hashes) < minimum:
        return 0, set()
    length = min(n, len(token_hashes))
    return length, set(_ngram_hashes(_prefix(token_hashes), (length,))[0].tolist())


# ---------------------------------------------------------------- evaluation sets (pure)

_FILTER_SLOTS_PER_NGRAM = 16   # a clean n-gram passes the filter with probability <= 1/16 ...
_FILTER_MAX_BITS = 26          # ... up to 4M evaluation n-grams (the filter stays <= 64 MB)


@dataclasses.dataclass(frozen=True, eq=False)
class EvalIndex:
    """Every evaluation n-gram hash, merged over benchmarks, with a byte filter for fast screening."""

    lengths: tuple[int, ...]                 # n-gram lengths (tokens) in the sets, ascending
    hashes: np.ndarray                       # sorted distinct uint64 n-gram hashes
    groups: np.ndarray                       # int32, parallel to hashes: index into `benchmark_groups`
    benchmark_groups: tuple[tuple[str, ...], ...]  # sorted benchmark names sharing an n-gram
    ngrams: Mapping[str, int]                # distinct n-grams per benchmark
    texts: Mapping[str, int]                 # evaluation texts used per benchmark
    short_texts: Mapping[str, int]           # evaluation texts skipped as shorter than the minimum
    filter: np.ndarray = dataclasses.field(repr=False, default=None)  # uint8 per slot: 1 if a hash is there
    filter_shift: np.uint64 = dataclasses.field(repr=False, default=None)  # slot = hash >> filter_shift

    def __post_init__(self) -> None:
        if self.filter is None:
            bits = min(_FILTER_MAX_BITS, max(12, int(len(self.hashes) * _FILTER_SLOTS_PER_NGRAM - 1).bit_length()))
            shift = np.uint64(64 - bits)
            array = np.zeros(1 << bits, dtype=np.uint8)
            array[self.hashes >> shift] = 1
            object.__setattr__(self, "filter", array)
            object.__setattr__(self, "filter_shift", shift)

    @classmethod
    def build(cls, by_benchmark: Mapping[str, set[int]], lengths: Iterable[int],
              texts: Mapping[str, int], short_texts: Mapping[str, int]) -> EvalIndex:
        names = sorted(by_benchmark)
        masks: dict[int, int] = {}
        for bit, name in enumerate(names):
            for h in by_benchmark[name]:
                masks[h] = masks.get(h, 0) | (1 << bit)
        hashes = np.array(sorted(masks), dtype=np.uint64)
        group_of: dict[int, int] = {}
        groups = np.fromiter((group_of.setdefault(masks[h], len(group_of)) for h in hashes.tolist()),
                             dtype=np.int32, count=len(hashes))
        benchmark_groups = [()] * len(group_of)
        for mask, g in group_of.items():
            benchmark_groups[g] = tuple(name for bit, name in enumerate(names) if mask >> bit & 1)
        return cls(lengths=tuple(sorted(set(lengths))), hashes=hashes, groups=groups,
                   benchmark_groups=tuple(benchmark_groups), ngrams={n: len(by_benchmark[n]) for n in names},
                   texts=dict(texts), short_texts=dict(short_texts))

    def lookup(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(positions in `hashes` that are evaluation n-grams, their benchmark group ids)."""
        passed = np.flatnonzero(self.filter[hashes >> self.filter_shift])
        if not len(passed) or not len(self.hashes):
            return passed, passed
        wanted = hashes[passed]
        at = np.minimum(np.searchsorted(self.hashes, wanted), len(self.hashes) - 1)
        found = self.hashes[at] == wanted
        return passed[found], self.groups[at[found]]


def eval_record_texts(record: Mapping[str, Any], fields: Sequence[str]) -> Iterator[str]:
    """The evaluation texts of one record: each string field listed, and each string in a listed list."""
    for name in fields:
        value = record.get(name)
        if isinstance(value, str):
            yield value
        elif isinstance(value, list):
            yield from (v for v in value if isinstance(v, str))


def _read_records(benchmark: str, path: str) -> Iterator[Mapping[str, Any]]:
    from apache_beam.io.filesystems import FileSystems

    where = f"decontam.eval_sets.{benchmark}"
    try:
        with FileSystems.open(path) as fh:  # compression from the extension; evaluation files are small
            lines = fh.read().decode("utf-8").split("\n")  # not splitlines: U+2028 may sit inside a string
    except Exception as exc:  # missing file, permissions, bad gzip, bad UTF-8: all one line for the user
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise EvalSetError(f"{where}: cannot read {path}: {reason}") from None
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise EvalSetError(f"{where}: {path}:{lineno} is not JSON ({exc})") from None
        if not isinstance(record, dict):
            raise EvalSetError(f"{where}: {path}:{lineno} is not a JSON object")
        yield record


def load_eval_ngrams(cfg: DecontamConfig) -> EvalIndex:
    """Reads every evaluation file once and hashes its texts' n-grams (raises EvalSetError)."""
    by_benchmark: dict[str, set[int]] = {}
    texts: dict[str, int] = {}
    short: dict[str, int] = {}
    lengths: set[int] = set()
    for benchmark, paths in sorted(cfg.eval_sets.items()):
        grams: set[int] = set()
        used = skipped = 0
        for path in paths:
            for record in _read_records(benchmark, path):
                for text in eval_record_texts(record, cfg.fields):
                    length, hashes = eval_text_ngrams(text, cfg)
                    if hashes:
                        used += 1
                        grams |= hashes
                        lengths.add(length)
                    else:
                        skipped += 1
        if not grams:
            raise EvalSetError(f"decontam.eval_sets.{benchmark}: no evaluation text of >= {cfg.min_eval_tokens} "
                               f"words ({cfg.min_eval_chars} unspaced characters) under fields "
                               f"{', '.join(cfg.fields)} in {', '.join(paths)}")
        by_benchmark[benchmark], texts[benchmark], short[benchmark] = grams, used, skipped
    return EvalIndex.build(by_benchmark, lengths, texts, short)


# ---------------------------------------------------------------- matching and deciding (pure)

@dataclasses.dataclass(frozen=True, order=True)
class Match:
    """One n-gram of a document found in evaluation sets: [start, end) in the original text, from its first
    token's first character to its last token's last character."""

    start: int
    end: int
    benchmarks: tuple[str, ...]


def find_matches(text: str, index: EvalIndex) -> list[Match]:
    """Every n-gram occurrence of the text that is in an evaluation set, by start (then end)."""
    if not len(index.hashes):
        return []
    folded = fold(text)
    hybrid = _hybrid(folded)
    token_hashes = _token_hashes(folded, hybrid)
    if len(token_hashes) < index.lengths[0]:
        return []
    hashes, offsets, lengths = _ngram_hashes(_prefix(token_hashes), index.lengths)
    positions, groups = index.lookup(hashes)
    if not len(positions):
        return []
    spans = _token_spans(folded, hybrid)
    matches = []
    for pos, g in zip(positions.tolist(), groups.tolist(), strict=True):
        k = bisect.bisect_right(offsets, pos) - 1
        start = pos - offsets[k]
        matches.append(Match(spans[start][0], spans[start + lengths[k] - 1][1], index.benchmark_groups[g]))
    return sorted(matches)


def match_counts(matches: Iterable[Match]) -> dict[str, int]:
    """Matched n-gram occurrences per benchmark, most first (ties by name)."""
    counts: dict[str, int] = {}
    for m in matches:
        for name in m.benchmarks:
            counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def cut_spans(text: str, matches: Iterable[Match]) -> list[tuple[int, int]]:
    """The disjoint spans remove mode cuts: matched n-grams merged when they overlap or only spaces and
    punctuation lie between them, each widened over opening punctuation attached to its first token and
    other punctuation attached to its last."""
    folded = fold(text)
    merged: list[list[int]] = []
    for m in sorted(matches, key=lambda m: (m.start, m.end)):
        if merged and (m.start <= merged[-1][1] or not folded[merged[-1][1]:m.start].strip()):
            merged[-1][1] = max(merged[-1][1], m.end)
        else:
            merged.append([m.start, m.end])
    spans = []
    for start, end in merged:
        while start > 0 and _attached(text[start - 1], folded[start - 1]) \
                and (_opening(text[start - 1]) or text[start - 1] in "\"'¿¡"):
            start -= 1
        while end < len(text) and _attached(text[end], folded[end]) and not _opening(text[end]):
            end += 1
        spans.append((start, end))
    return spans


def _attached(char: str, folded: str) -> bool:
    """Punctuation or a symbol (folded to a space, but not a space)."""
    return folded == " " and not char.isspace()


def _opening(char: str) -> bool:
    """Opening brackets and quotes: they belong to what follows (in unspaced text, a full stop before a
    match ends the previous sentence; one after it ends the matched one). ASCII quotes are both."""
    return unicodedata.category(char) in ("Ps", "Pi")


def remove_spans(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """The text without the spans (sorted, disjoint). At each cut the whitespace around it goes and the two
    sides are joined by as many newlines as the larger run of them next to the cut (at least one: the sides
    were not contiguous text), keeping the indentation of the line after the cut; a cut at either end
    leaves no blank. Empty when only whitespace is left."""
    pieces, last = [], 0
    for start, end in spans:
        pieces.append(text[last:start])
        last = end
    pieces.append(text[last:])
    out = pieces[0]
    for piece in pieces[1:]:
        left = out.rstrip()
        right = piece.lstrip()
        space = piece[:len(piece) - len(right)]
        indent = space[space.rfind("\n") + 1:] if "\n" in space else ""
        if not left:
            out = indent + right if right else ""
        elif not right:
            out = left
        else:
            out = left + "\n" * max(out[len(left):].count("\n"), space.count("\n"), 1) + indent + right
    return out if out.strip() else ""


@dataclasses.dataclass(frozen=True)
class Decision:
    counts: Mapping[str, int]     # matched n-gram occurrences per benchmark, most first; empty when clean
    reason: str | None            # "contaminated:<benchmark>" when the document is dropped
    text: str                     # the text to keep (remove mode: what is left)
    removed_chars: int = 0

    def scores(self, mode: str) -> dict[str, float]:
        scores = {f"decontam:{name}": float(n) for name, n in self.counts.items()}
        if mode == "remove":
            scores["decontam_removed_chars"] = float(self.removed_chars)
        return scores

    @property
    def detail(self) -> str:
        return ",".join(f"{name}={n}" for name, n in self.counts.items())


def decontaminate(text: str, index: EvalIndex, mode: str) -> Decision:
    """What the stage does with one document's text."""
    matches = find_matches(text, index)
    if not matches:
        return Decision({}, None, text)
    counts = match_counts(matches)
    reason = f"contaminated:{next(iter(counts))}"
    if mode == "drop":
        return Decision(counts, reason, text)
    kept = remove_spans(text, cut_spans(text, matches))
    return Decision(counts, None if kept else reason, kept if kept else text, len(text) - len(kept))


# ---------------------------------------------------------------- Beam

def _config_tag(cfg: DecontamConfig) -> str:
    key = json.dumps([sorted((k, list(v)) for k, v in cfg.eval_sets.items()), cfg.fields, cfg.ngram,
                      cfg.char_ngram, cfg.min_eval_tokens, cfg.min_eval_chars])
    return hashlib.blake2b(key.encode("utf-8"), digest_size=8).hexdigest()


class _DecontamFn(CountingDoFn):
    def __init__(self, cfg: DecontamConfig) -> None:
        super().__init__()
        self._cfg = cfg
        self._counters = StageCounters(STAGE)
        self._shared = shared.Shared()   # one index per worker process, whatever the number of threads
        self._index: EvalIndex | None = None

    def setup(self) -> None:
        if self._cfg.enabled:
            self._index = self._shared.acquire(functools.partial(load_eval_ngrams, self._cfg),
                                               tag=_config_tag(self._cfg))

    def process(self, doc: Document) -> Iterable[Any]:
        self._counters.inc("docs_in")
        if self._index is None:
            self._counters.inc("kept")
            yield doc
            return
        mode = self._cfg.mode
        decision = decontaminate(doc.text, self._index, mode)
        for name in decision.counts:
            self._counters.inc(f"contaminated:{name}")
        if decision.removed_chars:
            self._counters.inc("removed_chars", decision.removed_chars)
        scores = decision.scores(mode)
        if scores:
            doc = doc.replace(scores={**doc.scores, **scores})
        if decision.reason:
            self._counters.inc(f"dropped:{decision.reason}")
            yield pvalue.TaggedOutput(Decontaminate.REJECTED, doc.dropped(STAGE, decision.reason, decision.detail))
            return
        self._counters.inc("kept")
        yield doc if decision.text is doc.text else doc.replace(text=decision.text)


class Decontaminate(beam.PTransform):
    """Drops (or cuts) documents overlapping evaluation sets. Outputs: main = kept, REJECTED = dropped."""

    REJECTED = "rejected"

    def __init__(self, cfg: DecontamConfig) -> None:
        super().__init__()
        self._cfg = cfg

    def expand(self, docs: beam.PCollection) -> pvalue.DoOutputsTuple:
        return docs | "Decontaminate" >> beam.ParDo(_DecontamFn(self._cfg)).with_outputs(self.REJECTED, main="kept")
