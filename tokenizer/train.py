"""train_sentencepiece: a lossless, deterministic SentencePiece BPE tokenizer from curated documents.

Lossless (DESIGN.md, Tokenizer): identity normalization, no whitespace removal, no dummy prefix,
whitespace-only pieces allowed, "\\n" and "\\t" as user-defined pieces, byte fallback for everything
else (required: `byte_fallback: false` is refused), so `decode(encode(text)) == text` for code and
whitespace too. Deterministic: the sample is chosen by a seeded hash of document ids (not by file order),
fed in a fixed order through `sentence_iterator` (so no temp-file path is recorded in the model), the
thread count comes from the config, since SentencePiece's result depends on it, and its random seed is
fixed (`seed`). SentencePiece's own
logging is off (`minloglevel`): training writes nothing to stderr; its errors become `TokenizerTrainError`.

The sample (`draw`: two streaming passes over the curated documents, memory bounded by the selections):
- Held out first: documents whose seeded hash falls below `heldout_fraction` are never sampled; the
  fertility report (pipeline/tokenizer_step.py `fertility`) is measured on a capped, seeded subset of
  them.
- Per-source weights (`source_weights`, unlisted sources weigh 1, 0 leaves a source out) scale each
  source's characters; the weighted characters of each language, raised to 1/temperature, give the
  language's share of `sample_chars` (temperature 1 = the weighted natural mix, higher gives small
  languages more pieces). Inside a language the budget is split over its sources by weighted characters.
  A language or source that has fewer characters than its share is taken whole and the rest is shared
  out among the others in the same proportions (so the sample reaches `sample_chars` when the corpus
  has it). Documents are taken in seeded-hash order; the last one of a cell is cut at a line end so the
  budget is not overshot.
- In a run, the curation job does the part that needs the whole corpus (transforms/tokenizer_sample.py)
  and `pick_from_rows` finishes it on the documents under each cell's key cutoff: the same result.

Character coverage 0.9995 is SentencePiece's recommendation for languages with rich character sets
(Chinese, Japanese): about the rarest 0.05% of character occurrences get no piece of their own and are
encoded as UTF-8 byte pieces (lossless through byte fallback) instead of taking thousands of vocabulary
entries. Vocabulary: `vocab_size` up to 1,000,000 (ids are uint32); BPE needs many occurrences per merge,
so `sample_chars` must be at least `MIN_SAMPLE_CHARS_PER_PIECE` (500) x vocab_size (the default 50M
characters supports 100k entries); a drawn sample smaller than that (a small corpus), or a model with
fewer pieces than asked for, is a warning in the sidecar.

`special_tokens` are reserved control pieces (ids right after unk/bos/eos/pad = 0-3): they are never
produced from text (a document that contains "<|endoftext|>" is encoded as ordinary pieces), only
inserted by id; `user_defined_symbols` ("\\n", "\\t") are always matched in text as one piece.
"""

from __future__ import annotations

import dataclasses
import hashlib
import heapq
import io
import json
import logging
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import NamedTuple

from transforms.hashing import hash64, unit_interval

log = logging.getLogger(__name__)
MODEL_TYPES = ("bpe", "unigram")
MIN_SAMPLE_CHARS_PER_PIECE = 500
MAX_VOCAB_SIZE = 1_000_000
META_PIECES = ("<unk>", "<s>", "</s>", "<pad>")       # ids 0-3
MAX_SENTENCE_BYTES = 1 << 20                           # longer lines are skipped by SentencePiece (counted)
SIDECAR_FORMAT = "multiphase-curation/tokenizer/v1"
# Fields that only change what is measured, not the model: a rerun that changes them reuses the model.
REPORT_ONLY_FIELDS = ("fertility_chars",)


class TokenizerTrainError(ValueError):
    """The tokenizer cannot be trained on this input; one line a user can act on."""


class CuratedDoc(NamedTuple):
    id: str
    source: str
    lang: str
    text: str


@dataclasses.dataclass(frozen=True)
class TokenizerTrainConfig:
    vocab_size: int = 8000
    model_type: str = "bpe"
    sample_chars: int = 50_000_000
    temperature: float = 1.0
    source_weights: Mapping[str, float] = dataclasses.field(default_factory=dict)  # unlisted sources: 1.0
    character_coverage: float = 0.9995   # SentencePiece's advice for Chinese/Japanese (module docstring)
    split_digits: bool = True
    byte_fallback: bool = True           # required (lossless)
    user_defined_symbols: tuple[str, ...] = ("\n", "\t")
    special_tokens: tuple[str, ...] = ()  # reserved control pieces, ids 4, 5, ...
    heldout_fraction: float = 0.05      # share of curated documents never sampled; fertility is measured there
    fertility_chars: int = 500_000      # cap of held-out characters encoded per (source, language)
    num_threads: int = 2
    seed: int = 20231

    def __post_init__(self) -> None:
        p = "tokenizer.train."
        if self.model_type not in MODEL_TYPES:
            raise ValueError(f"{p}model_type must be one of {MODEL_TYPES}, got {self.model_type!r}")
        if not self.byte_fallback:
            raise ValueError(f"{p}byte_fallback must be true: without it text outside the vocabulary "
                             "cannot round-trip (DESIGN.md, Tokenizer)")
        pieces = [*self.user_defined_symbols, *self.special_tokens]
        for piece in pieces:
            if not isinstance(piece, str) or not piece:
                raise ValueError(f"{p}special_tokens and user_defined_symbols must be non-empty strings")
            if piece in META_PIECES or _is_byte_piece(piece):
                raise ValueError(f"{p}special_tokens: {piece!r} is a reserved SentencePiece piece")
        if len(set(pieces)) != len(pieces):
            raise ValueError(f"{p}special_tokens and user_defined_symbols must not repeat a piece")
        floor = len(META_PIECES) + 256 + len(pieces) + 1
        if not floor <= self.vocab_size <= MAX_VOCAB_SIZE:
            raise ValueError(f"{p}vocab_size must be in [{floor}, {MAX_VOCAB_SIZE}] (4 meta pieces, 256 byte "
                             f"pieces and the special tokens come first), got {self.vocab_size}")
        if self.sample_chars < MIN_SAMPLE_CHARS_PER_PIECE * self.vocab_size:
            raise ValueError(f"{p}sample_chars ({self.sample_chars}) is too small for vocab_size {self.vocab_size}: "
                             f"BPE needs >= {MIN_SAMPLE_CHARS_PER_PIECE} sampled characters per vocabulary entry "
                             f"(>= {MIN_SAMPLE_CHARS_PER_PIECE * self.vocab_size})")
        if not (self.temperature > 0 and math.isfinite(self.temperature)):
            raise ValueError(f"{p}temperature must be > 0, got {self.temperature}")
        for source, weight in self.source_weights.items():
            if not (weight >= 0 and math.isfinite(weight)):
                raise ValueError(f"{p}source_weights.{source} must be a number >= 0, got {weight}")
        if not 0.0 < self.character_coverage <= 1.0:
            raise ValueError(f"{p}character_coverage must be in (0, 1], got {self.character_coverage}")
        if not 0.0 <= self.heldout_fraction < 1.0:
            raise ValueError(f"{p}heldout_fraction must be in [0, 1), got {self.heldout_fraction}")
        if self.fertility_chars < 0:
            raise ValueError(f"{p}fertility_chars must be >= 0, got {self.fertility_chars}")
        if self.num_threads < 1:
            raise ValueError(f"{p}num_threads must be >= 1, got {self.num_threads}")

    def weight(self, source: str) -> float:
        return float(self.source_weights.get(source, 1.0))

    def to_json(self) -> dict:
        return json.loads(json.dumps(dataclasses.asdict(self), sort_keys=True))

    def model_fields(self) -> dict:
        """The fields the trained model depends on (everything but the report-only ones)."""
        return {k: v for k, v in self.to_json().items() if k not in REPORT_ONLY_FIELDS}


def _is_byte_piece(piece: str) -> bool:
    return len(piece) == 6 and piece.startswith("<0x") and piece.endswith(">")


# --------------------------------------------------------------------------------------------- sampling

def _fill(total: int, weights: Mapping[str, float], caps: Mapping[str, int]) -> dict[str, int]:
    """Split `total` over keys in proportion to `weights`, no key above its cap; what a capped key cannot
    take is shared out among the others in the same proportions. Deterministic (sorted iteration)."""
    alloc = dict.fromkeys(sorted(weights), 0)
    open_keys = [k for k in sorted(weights) if weights[k] > 0 and caps[k] > 0]
    left = total
    while open_keys and left > 0:
        norm = math.fsum(weights[k] for k in open_keys)
        capped = [k for k in open_keys if caps[k] <= left * weights[k] / norm]
        if not capped:
            for k in open_keys:
                alloc[k] = int(left * weights[k] / norm)
            break
        for k in capped:
            alloc[k] = caps[k]
            left -= caps[k]
        open_keys = [k for k in open_keys if k not in capped]
    return alloc


def language_budgets(chars_by_lang: Mapping[str, float], total: int, temperature: float,
                     caps: Mapping[str, int] | None = None) -> dict[str, int]:
    """Characters to sample per language: share ~ (corpus share) ** (1 / temperature), none above its
    cap (default: its characters), the shortfall of capped languages shared out among the others."""
    corpus = math.fsum(chars_by_lang.values())
    if corpus <= 0:
        return {}
    weights = {lang: (n / corpus) ** (1.0 / temperature) for lang, n in chars_by_lang.items()}
    caps = caps if caps is not None else {lang: int(n) for lang, n in chars_by_lang.items()}
    return _fill(total, weights, caps)


def is_heldout(doc_id: str, cfg: TokenizerTrainConfig) -> bool:
    return unit_interval(cfg.seed, "tokenizer-heldout", doc_id) < cfg.heldout_fraction


# A document's cell: sampled per (language, source), held out per (source, language), in `draw`'s orders.
SAMPLE, HELDOUT = "sample", "heldout"
Cell = tuple[str, str, str]    # (SAMPLE, lang, source) or (HELDOUT, source, lang): `draw`'s cell orders


def doc_cell(doc_id: str, source: str, lang: str, cfg: TokenizerTrainConfig) -> Cell | None:
    """The cell of a kept document with text: held out, sampleable, or None (its source weighs 0)."""
    if is_heldout(doc_id, cfg):
        return (HELDOUT, source, lang)
    return (SAMPLE, lang, source) if cfg.weight(source) > 0 else None


def cell_key(cell: Cell, doc_id: str, cfg: TokenizerTrainConfig) -> int:
    """The seeded hash that orders a cell's documents (`draw`'s keys)."""
    return hash64(cfg.seed, doc_id) if cell[0] == SAMPLE else hash64(cfg.seed, "fertility", doc_id)


class _Cheapest:
    """The documents of one cell with the smallest keys whose characters reach `budget`, without holding
    the whole cell: a max-heap of keys, shrunk whenever its prefix without the largest key still reaches
    the budget. `docs()` = what `_take` keeps from the cell's documents sorted by key."""

    def __init__(self, budget: int) -> None:
        self.budget, self.chars, self.heap = budget, 0, []

    def add(self, key: int, doc: CuratedDoc) -> None:
        heapq.heappush(self.heap, ((-key, _Neg(doc.id)), doc))
        self.chars += len(doc.text)
        while self.heap and self.chars - len(self.heap[0][1].text) >= self.budget:
            self.chars -= len(heapq.heappop(self.heap)[1].text)

    def docs(self) -> list[CuratedDoc]:
        return _take([d for _, d in sorted(self.heap, reverse=True)], self.budget)


class _Neg(str):
    """A string that sorts in reverse (ties of the key break on the id, smallest first)."""

    def __lt__(self, other: str) -> bool:
        return str.__gt__(self, other)

    def __gt__(self, other: str) -> bool:
        return str.__lt__(self, other)


def _take(docs: Iterable[CuratedDoc], budget: int) -> list[CuratedDoc]:
    """Documents in the given order until `budget` characters; the last one is cut at its last line end
    inside the budget (or at the budget when it has none)."""
    out, taken = [], 0
    for doc in docs:
        if taken >= budget:
            break
        room = budget - taken
        if len(doc.text) > room:
            cut = doc.text.rfind("\n", 0, room)
            out.append(doc._replace(text=doc.text[:cut] if cut > 0 else doc.text[:room]))
            break
        out.append(doc)
        taken += len(doc.text)
    return out


def _docs(docs: Iterable[Sequence[str]]) -> Iterator[CuratedDoc]:
    for d in docs:
        doc = d if isinstance(d, CuratedDoc) else CuratedDoc(*d)
        if doc.text:
            yield doc


def cell_chars(docs: Iterable[Sequence[str]], cfg: TokenizerTrainConfig) -> dict[tuple[str, str], int]:
    """Characters of the documents that may be sampled, per (language, source)."""
    return _scan(docs, cfg, None)


def _scan(docs: Iterable[Sequence[str]], cfg: TokenizerTrainConfig,
          heldout: dict[tuple[str, str], _Cheapest] | None) -> dict[tuple[str, str], int]:
    """One pass: sampleable characters per (language, source); held-out documents go to `heldout` cells."""
    chars: dict[tuple[str, str], int] = defaultdict(int)
    for doc in _docs(docs):
        cell = doc_cell(doc.id, doc.source, doc.lang, cfg)
        if cell is None:
            continue
        if cell[0] == HELDOUT:
            if heldout is not None:
                held = heldout.setdefault(cell[1:], _Cheapest(cfg.fertility_chars))
                held.add(cell_key(cell, doc.id, cfg), doc)
        else:
            chars[cell[1:]] += len(doc.text)
    return dict(sorted(chars.items()))


def sample_budgets(chars: Mapping[tuple[str, str], int], cfg: TokenizerTrainConfig) -> dict[tuple[str, str], int]:
    """Characters to sample per (language, source): temperature over the languages' weighted characters,
    then each language's budget over its sources by weighted characters (see the module docstring)."""
    weighted: dict[str, float] = defaultdict(float)
    avail: dict[str, int] = defaultdict(int)
    for (lang, source), n in sorted(chars.items()):
        weighted[lang] += n * cfg.weight(source)
        avail[lang] += n
    budgets = {}
    for lang, budget in language_budgets(weighted, cfg.sample_chars, cfg.temperature, caps=avail).items():
        sources = sorted(s for (lg, s) in chars if lg == lang)
        split = _fill(budget, {s: chars[(lang, s)] * cfg.weight(s) for s in sources},
                      {s: chars[(lang, s)] for s in sources})
        budgets.update({(lang, s): split[s] for s in sources})
    return budgets


def draw(docs: Iterable[Sequence[str]], cfg: TokenizerTrainConfig) -> tuple[list[CuratedDoc], list[CuratedDoc]]:
    """(training sample, held-out documents for the fertility report) from curated documents (id, source,
    lang, text), both in a deterministic order that does not depend on the input order. Two passes over
    `docs` (a list, or an iterable that can be iterated twice, such as `pipeline.tokenizer_step.CuratedParts`);
    memory holds the selections, not the corpus.
    Sample: order (language, source, seeded hash of the id). Held out: per (source, language), up to
    `fertility_chars` characters in seeded-hash order (another hash than the sample's)."""
    if iter(docs) is docs:  # a one-shot iterator cannot be read twice
        docs = list(docs)
    heldout: dict[tuple[str, str], _Cheapest] = {}
    budgets = sample_budgets(_scan(docs, cfg, heldout), cfg)
    cells = {cell: _Cheapest(b) for cell, b in budgets.items() if b > 0}
    for doc in _docs(docs):
        cell = doc_cell(doc.id, doc.source, doc.lang, cfg)
        if cell is not None and cell[0] == SAMPLE and cell[1:] in cells:
            cells[cell[1:]].add(cell_key(cell, doc.id, cfg), doc)
    return ([d for cell in sorted(cells) for d in cells[cell].docs()],
            [d for cell in sorted(heldout) for d in heldout[cell].docs()])


# ------------------------------------------------------------------- the sample picked in the curation job
# The curation job (transforms/tokenizer_sample.py) sums each cell's characters (and their squares) and its
# curated writer keeps, per part, the documents under their cell's key cutoff; the launcher
# (`pick_from_rows`) sorts those by key and takes each budget: the same documents and cuts as `draw`,
# without reading curated/.
CellStats = tuple[int, int]    # (characters, sum of the squares of the documents' characters)
CUTOFF_SIGMAS = 8.0            # a cut cell's kept characters fall short of its budget at 8 standard deviations
SAMPLING_FIELDS = ("seed", "sample_chars", "temperature", "source_weights", "heldout_fraction",
                   "fertility_chars")


def sampling_fields(cfg: TokenizerTrainConfig) -> dict:
    """The training config fields the sample and the held-out documents depend on."""
    return {k: v for k, v in cfg.to_json().items() if k in SAMPLING_FIELDS}


def cell_budgets(chars: Mapping[Cell, int], cfg: TokenizerTrainConfig) -> dict[Cell, int]:
    """Characters to take per cell (cells of budget 0 left out): `sample_budgets` for the sample cells,
    `fertility_chars` for the held-out ones."""
    sample = sample_budgets({(c[1], c[2]): n for c, n in chars.items() if c[0] == SAMPLE}, cfg)
    budgets = {(SAMPLE, *cell): b for cell, b in sample.items() if b > 0}
    if cfg.fertility_chars > 0:
        budgets.update({c: cfg.fertility_chars for c in chars if c[0] == HELDOUT})
    return dict(sorted(budgets.items()))


def key_share(budget: int, chars: int, squares: int, sigmas: float = CUTOFF_SIGMAS) -> float:
    """The share q of the key space whose documents the launcher needs from a cell of `chars` characters
    (`squares`: the sum of its documents' squared lengths) to take `budget`: the keys are uniform, so the
    characters under q have mean q*chars and variance at most q*squares; q solves
    q*chars - sigmas*sqrt(q*squares) = budget. 1.0 or more: the whole cell."""
    if budget >= chars:
        return 1.0
    root = (sigmas * math.sqrt(squares) + math.sqrt(sigmas * sigmas * squares + 4.0 * chars * budget)) / (2.0 * chars)
    return root * root


def key_cutoffs(stats: Mapping[Cell, CellStats], cfg: TokenizerTrainConfig) -> dict[Cell, int | None]:
    """Per cell with a budget: the key below which its documents are kept for the launcher (`key_share`),
    None for all of them."""
    out: dict[Cell, int | None] = {}
    for cell, budget in cell_budgets({c: s[0] for c, s in stats.items()}, cfg).items():
        share = key_share(budget, *stats[cell])
        out[cell] = None if share >= 1.0 else int(share * 2.0**64)
    return out


def under_cutoff(doc_id: str, source: str, lang: str, text: str, cfg: TokenizerTrainConfig,
                 cutoffs: Mapping[Cell, int | None]) -> Cell | None:
    """The cell of a kept document when the launcher needs it (see `key_cutoffs`), else None."""
    if not text:
        return None
    cell = doc_cell(doc_id, source, lang, cfg)
    if cell is None or cell not in cutoffs:
        return None
    cut = cutoffs[cell]
    return cell if cut is None or cell_key(cell, doc_id, cfg) < cut else None


def pick_from_rows(rows: Iterable[CuratedDoc], stats: Mapping[Cell, CellStats], cfg: TokenizerTrainConfig
                   ) -> tuple[list[CuratedDoc], list[CuratedDoc]] | None:
    """`draw`'s (sample, held-out documents) from the documents the curation job kept under the cutoffs
    of `key_cutoffs(stats, cfg)` (in any order); None when a cut cell's documents fall short of its
    budget (the keys were unlucky: `draw` must read curated/)."""
    cutoffs = key_cutoffs(stats, cfg)
    budgets = cell_budgets({c: s[0] for c, s in stats.items()}, cfg)
    by_cell: dict[Cell, list[tuple[int, str, CuratedDoc]]] = defaultdict(list)
    for doc in _docs(rows):
        cell = under_cutoff(doc.id, doc.source, doc.lang, doc.text, cfg, cutoffs)
        if cell is not None:
            by_cell[cell].append((cell_key(cell, doc.id, cfg), doc.id, doc))
    picked: dict[Cell, list[CuratedDoc]] = {}
    for cell, budget in budgets.items():
        entries = sorted(by_cell.get(cell, ()))
        if cutoffs[cell] is not None and sum(len(d.text) for _, _, d in entries) < budget:
            return None
        picked[cell] = _take([d for _, _, d in entries], budget)
    return ([d for c in sorted(picked) if c[0] == SAMPLE for d in picked[c]],
            [d for c in sorted(picked) if c[0] == HELDOUT for d in picked[c]])


def select_sample(docs: Iterable[Sequence[str]], cfg: TokenizerTrainConfig) -> list[CuratedDoc]:
    """The training sample (`draw`'s first part)."""
    return draw(docs, cfg)[0]


def select_heldout(docs: Iterable[Sequence[str]], cfg: TokenizerTrainConfig) -> list[CuratedDoc]:
    """Held-out documents (never in any sample) for the fertility report (`draw`'s second part), in one
    pass: per (source, language), up to `fertility_chars` characters in seeded-hash order."""
    heldout: dict[tuple[str, str], _Cheapest] = {}
    _scan(docs, cfg, heldout)
    return [d for cell in sorted(heldout) for d in heldout[cell].docs()]


# ------------------------------------------------------------------------------------------ the sidecar

def _sentences(texts: Iterable[str]) -> list[str]:
    return [line for text in texts for line in text.split("\n") if line]


def _counts(docs: Iterable[CuratedDoc], key: Callable[[CuratedDoc], str]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for doc in docs:
        row = out.setdefault(key(doc), {"docs": 0, "chars": 0})
        row["docs"] += 1
        row["chars"] += len(doc.text)
    return dict(sorted(out.items()))


def sample_info(sample: Sequence[CuratedDoc | str], cfg: TokenizerTrainConfig) -> dict:
    """What the sidecar records about a training sample; equal info means an identical model.

    `sample.sha256` is the SHA-256 of the UTF-8 concatenation of the sample texts in sample order (the
    exact text SentencePiece saw, before it is cut into lines); `ids_sha256` of the document ids, one per
    line. Plain strings are accepted as documents (source and language "und")."""
    docs = [d if isinstance(d, CuratedDoc) else CuratedDoc(f"#{i}", "und", "und", d) for i, d in enumerate(sample)]
    text_digest, id_digest = hashlib.sha256(), hashlib.sha256()
    for doc in docs:
        text_digest.update(doc.text.encode("utf-8"))
        id_digest.update(doc.id.encode("utf-8") + b"\n")
    sentences = _sentences(d.text for d in docs)
    return {
        "train_config": cfg.to_json(),
        "sample": {"documents": len(docs), "sentences": len(sentences), "chars": sum(len(d.text) for d in docs),
                   "sha256": text_digest.hexdigest(), "ids_sha256": id_digest.hexdigest(),
                   "skipped_long_sentences": sum(len(s.encode("utf-8")) > MAX_SENTENCE_BYTES for s in sentences),
                   "by_lang": _counts(docs, lambda d: d.lang), "by_source": _counts(docs, lambda d: d.source)},
    }


def sample_warnings(info: dict, cfg: TokenizerTrainConfig) -> list[str]:
    chars, need = info["sample"]["chars"], MIN_SAMPLE_CHARS_PER_PIECE * cfg.vocab_size
    if chars < 0.99 * need:  # (a sample filled to sample_chars falls short only by the cut line ends)
        return [f"the sample holds {chars} characters, fewer than {need} ({MIN_SAMPLE_CHARS_PER_PIECE} per "
                f"vocabulary entry for vocab_size {cfg.vocab_size}): the corpus is small for this vocabulary, "
                "its rarest pieces are seen only a few times"]
    return []


def train_sentencepiece(sample: Sequence[CuratedDoc | str], cfg: TokenizerTrainConfig,
                        info: dict | None = None) -> tuple[bytes, dict]:
    """(model bytes, sidecar dict). Each line of each text is one SentencePiece sentence. `info`: the
    sample's `sample_info`, when the caller has it already (it hashes the whole sample)."""
    import sentencepiece as spm

    info = sample_info(sample, cfg) if info is None else info
    texts = [d.text if isinstance(d, CuratedDoc) else d for d in sample]
    writer = io.BytesIO()
    spm.set_random_generator_seed(cfg.seed)
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(_sentences(texts)), model_writer=writer, model_type=cfg.model_type,
            vocab_size=cfg.vocab_size, character_coverage=cfg.character_coverage,
            normalization_rule_name="identity", remove_extra_whitespaces=False, add_dummy_prefix=False,
            allow_whitespace_only_pieces=True, split_digits=cfg.split_digits, byte_fallback=cfg.byte_fallback,
            control_symbols=list(cfg.special_tokens), user_defined_symbols=list(cfg.user_defined_symbols),
            unk_id=0, bos_id=1, eos_id=2, pad_id=3, num_threads=cfg.num_threads,
            max_sentence_length=MAX_SENTENCE_BYTES, input_sentence_size=0, shuffle_input_sentence=False,
            hard_vocab_limit=False, minloglevel=2,
        )
    except RuntimeError as exc:  # SentencePiece reports bad input this way ("Vocabulary size is smaller ...")
        raise TokenizerTrainError(f"SentencePiece could not train: {str(exc).split('] ')[-1]}") from None
    model = writer.getvalue()
    vocab = spm.SentencePieceProcessor(model_proto=model).vocab_size()
    warnings = sample_warnings(info, cfg)
    if vocab < cfg.vocab_size:
        warnings.append(f"the model has {vocab} pieces, fewer than vocab_size {cfg.vocab_size}: the sample ran out "
                        "of merges (a larger corpus or a smaller vocab_size)")
    for w in warnings:
        log.warning("tokenizer: %s", w)
    return model, {"format": SIDECAR_FORMAT, **info, "warnings": warnings,
                   "model": {"sha256": hashlib.sha256(model).hexdigest(), "vocab_size": vocab,
                             "requested_vocab_size": cfg.vocab_size},
                   "sentencepiece_version": spm.__version__}


def sidecar_json(sidecar: dict) -> str:
    return json.dumps(sidecar, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
