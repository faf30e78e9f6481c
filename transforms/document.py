"""The record types that flow between stages.

`Document` is the one record type between stages (frozen; stages return modified copies with
`Document.replace`). `Rejected` is a dead letter: a record that could not become a document, or a
document that a stage dropped, with the stage and the reason.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Mapping
from typing import Any

KEEP = "keep"


@dataclasses.dataclass(frozen=True)
class Document:
    id: str                      # globally unique: "<source>/<id field>" or "<source>/<relpath>:<line>"
    source: str
    text: str
    location: str = ""           # "<file>:<line>" of the input record
    url: str | None = None
    crawl_date: str | None = None
    license: str | None = None
    lang: str | None = None
    lang_score: float | None = None
    script: str | None = None
    lang_mixed: bool = False     # two or more languages each hold >= langid.mixed_min_share of the text
    lang_shares: Mapping[str, float] = dataclasses.field(default_factory=dict)  # share of characters per language
    meta: Mapping[str, str] = dataclasses.field(default_factory=dict)  # e.g. lang_hint, warc_record_id,
    #   duplicate_of (the survivor of a dedup stage), drop_detail (what a stage matched: a list, a benchmark)
    scores: Mapping[str, float] = dataclasses.field(default_factory=dict)
    quality_score: float | None = None
    cluster_id: str | None = None
    cluster_size: int = 1
    decision: str = KEEP         # "keep" or "<stage>:<reason>" (annotate mode keeps dropped documents)
    raw: bytes | None = None     # undecoded HTML of a WARC response, until ExtractText replaces it by text

    def replace(self, **changes: Any) -> Document:
        """A copy with `changes`, as `dataclasses.replace` makes it (no field has init=False and there is no
        __post_init__), without its per-call field introspection and the frozen __init__'s one
        object.__setattr__ per field: 0.8 us instead of 4.6 us here, for a copy that most stages make of
        every document they change."""
        if not _FIELD_SET.issuperset(changes):
            raise TypeError(f"Document has no field {sorted(changes.keys() - _FIELD_SET)[0]!r}")
        new = object.__new__(Document)
        state = new.__dict__
        state.update(self.__dict__)
        state.update(changes)
        return new

    def dropped(self, stage: str, reason: str, detail: str | None = None,
                duplicate_of: str | None = None) -> Document:
        """A copy marking this document as dropped by `stage` for `reason`; `detail` (what matched: a list,
        a benchmark, a score) goes to `meta["drop_detail"]`, `duplicate_of` (the id of the copy a dedup
        stage kept) to `meta["duplicate_of"]`, and so to `rejected.detail`."""
        extra = {k: v for k, v in (("drop_detail", detail), ("duplicate_of", duplicate_of)) if v is not None}
        if not extra:
            return self.replace(decision=f"{stage}:{reason}")
        return self.replace(decision=f"{stage}:{reason}", meta={**self.meta, **extra})

    def __reduce__(self) -> tuple[Any, tuple[tuple[Any, ...]]]:
        # pickle as a tuple of field values: no field names or per-field setattr (transforms/shuffle.py);
        # the scores as `pack_scores` bytes
        return _document_from_pickle, (_pickled_fields(self, DOCUMENT_FIELDS),)


@dataclasses.dataclass(frozen=True)
class Rejected:
    """One row of `rejected/`: nothing leaves the pipeline without one."""

    id: str
    source: str
    stage: str
    reason: str
    location: str
    text: str | None = None      # kept for a deterministic sample of rejects (see RunConfig)
    detail: str | None = None
    # what the document was when dropped, for the report's funnel and histograms (None for dead letters
    # of `read`, which never became documents)
    chars: int | None = None
    lang: str | None = None
    lang_score: float | None = None
    quality_score: float | None = None
    scores: Mapping[str, float] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_document(cls, doc: Document, keep_text: bool) -> Rejected:
        stage, _, reason = doc.decision.partition(":")
        return cls(id=doc.id, source=doc.source, stage=stage, reason=reason, location=doc.location,
                   text=doc.text if keep_text else None,
                   detail=doc.meta.get("drop_detail") or doc.meta.get("duplicate_of") or doc.cluster_id,
                   chars=len(doc.text) if doc.raw is None else len(doc.raw), lang=doc.lang,
                   lang_score=doc.lang_score, quality_score=doc.quality_score, scores=doc.scores)

    def __reduce__(self) -> tuple[Any, tuple[tuple[Any, ...]]]:
        return _rejected_from_fields, (_pickled_fields(self, REJECTED_FIELDS),)


DOCUMENT_FIELDS = tuple(f.name for f in dataclasses.fields(Document))
REJECTED_FIELDS = tuple(f.name for f in dataclasses.fields(Rejected))
_FIELD_SET = frozenset(DOCUMENT_FIELDS)   # what Document.replace accepts


def document_to_fields(doc: Document) -> tuple[Any, ...]:
    """The field values in declaration order (the compact form shuffles and pickles carry)."""
    d = doc.__dict__
    return tuple([d[f] for f in DOCUMENT_FIELDS])


def document_from_fields(values: tuple[Any, ...]) -> Document:
    """Inverse of `document_to_fields`, without re-running `__init__` (the values came from a Document)."""
    doc = object.__new__(Document)
    doc.__dict__.update(zip(DOCUMENT_FIELDS, values, strict=True))
    return doc


def _pickled_fields(record: Document | Rejected, fields: tuple[str, ...]) -> tuple[Any, ...]:
    """The field values in declaration order, the scores packed (`pack_scores`): what a pickle carries."""
    d = record.__dict__
    values = [d[f] for f in fields]
    values[fields.index("scores")] = pack_scores(d["scores"])
    return tuple(values)


def _document_from_pickle(values: tuple[Any, ...]) -> Document:
    doc = document_from_fields(values)
    doc.__dict__["scores"] = unpack_scores(doc.__dict__["scores"])
    return doc


def _rejected_from_fields(values: tuple[Any, ...]) -> Rejected:
    rej = object.__new__(Rejected)
    rej.__dict__.update(zip(REJECTED_FIELDS, values, strict=True))
    rej.__dict__["scores"] = unpack_scores(rej.__dict__["scores"])
    return rej


# ------------------------------------------------------------------------------ scores in a pickle
# A document's `scores` are some 30 named floats (the rules' signals, PII counts, the quality score), the
# same names on almost every document. Pickled as a dict, their names were 600 of a curated document's
# 2,100 pickled bytes on average (100 MB benchmark corpus: 15.4 of 65.6 MB), in every whole-document
# shuffle. `pack_scores` writes each name that SCORE_NAMES lists as its one-byte index and any other by
# name, then the values as little-endian float64s: the same dict, in the same order, with the same floats,
# comes back (`unpack_scores`). Both ends run the same code (a shuffle never outlives its job), so the
# list may change between releases; a name missing from it only costs bytes.

SCORE_NAMES: tuple[str, ...] = (
    # rules (transforms/rules.py): Gopher quality, repetition (default n-gram sizes), C4, FineWeb, code
    "n_words", "mean_word_length", "symbol_word_ratio", "bullet_lines_ratio", "ellipsis_lines_ratio",
    "alpha_words_ratio", "stop_words", "dup_line_frac", "dup_para_frac", "dup_line_char_frac",
    "dup_para_char_frac", "top_2gram_char_frac", "top_3gram_char_frac", "top_4gram_char_frac",
    "dup_5gram_char_frac", "dup_6gram_char_frac", "dup_7gram_char_frac", "dup_8gram_char_frac",
    "dup_9gram_char_frac", "dup_10gram_char_frac", "c4_line_frac", "line_punct_ratio", "short_line_ratio",
    "dup_line_char_ratio", "newline_word_ratio", "alnum_fraction", "code_lines", "autogenerated",
    "encoded_fraction", "max_line_length", "mean_line_length",
    # safety (transforms/safety.py), quality (transforms/quality.py), decontamination (transforms/decontam.py)
    "pii_email", "pii_phone", "pii_ip", "quality_score", "decontam_removed_chars",
)
_BY_NAME = 0xFF                                   # the code of a name that SCORE_NAMES does not list
_SCORE_CODES = {name: k for k, name in enumerate(SCORE_NAMES)}
assert len(SCORE_NAMES) < _BY_NAME
_HEADERS: dict[tuple[str, ...], bytes] = {}       # names (in order) -> header, and back: a handful of
_NAMES: dict[bytes, tuple[str, ...]] = {}         # layouts per run; both caches are bounded
_CACHE_MAX = 4096


def _header(names: tuple[str, ...]) -> bytes | None:
    """None when a name cannot be written (not a string, or 64 KB or longer)."""
    out = bytearray()
    for name in names:
        code = _SCORE_CODES.get(name)
        if code is not None:
            out.append(code)
        elif type(name) is str and len(raw := name.encode("utf-8")) <= 0xFFFF:
            out += bytes([_BY_NAME]) + len(raw).to_bytes(2, "little") + raw
        else:
            return None
    return bytes(out) if len(out) <= 0xFFFF else None


def _names(header: bytes) -> tuple[str, ...]:
    names, i = [], 0
    while i < len(header):
        code = header[i]
        if code != _BY_NAME:
            names.append(SCORE_NAMES[code])
            i += 1
        else:
            n = int.from_bytes(header[i + 1:i + 3], "little")
            names.append(header[i + 3:i + 3 + n].decode("utf-8"))
            i += 3 + n
    return tuple(names)


def pack_scores(scores: Mapping[str, float]) -> Mapping[str, float] | bytes:
    """A `scores` mapping as compact bytes for a pickle: 2-byte header length, header (per name, in order,
    its SCORE_NAMES index or 0xFF + 2-byte length + UTF-8), then one little-endian float64 per name.
    An empty mapping, one that is not a plain dict, or one with a value that is not a float, is returned
    as it is."""
    if not scores or type(scores) is not dict or any(type(v) is not float for v in scores.values()):
        return scores
    names = tuple(scores)
    header = _HEADERS.get(names)
    if header is None:
        header = _header(names)
        if header is None:
            return scores
        if len(_HEADERS) < _CACHE_MAX:
            _HEADERS[names] = header
    return len(header).to_bytes(2, "little") + header + struct.pack(f"<{len(names)}d", *scores.values())


def unpack_scores(packed: Mapping[str, float] | bytes) -> Mapping[str, float]:
    """Inverse of `pack_scores` (a mapping passes through)."""
    if not isinstance(packed, bytes):
        return packed
    size = int.from_bytes(packed[:2], "little")
    header = packed[2:2 + size]
    names = _NAMES.get(header)
    if names is None:
        names = _names(header)
        if len(_NAMES) < _CACHE_MAX:
            _NAMES[header] = names
    return dict(zip(names, struct.unpack_from(f"<{len(names)}d", packed, 2 + size), strict=True))
