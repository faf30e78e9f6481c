"""The record types that flow between stages.

`Document` is the one record type between stages (frozen; stages return modified copies with
`Document.replace`). `Rejected` is a dead letter: a record that could not become a document, or a
document that a stage dropped, with the stage and the reason.
"""

from __future__ import annotations

import dataclasses
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
        # pickle as a tuple of field values: no field names or per-field setattr (transforms/shuffle.py)
        return document_from_fields, (document_to_fields(self),)


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
        return _rejected_from_fields, (tuple(self.__dict__[f] for f in REJECTED_FIELDS),)


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


def _rejected_from_fields(values: tuple[Any, ...]) -> Rejected:
    rej = object.__new__(Rejected)
    rej.__dict__.update(zip(REJECTED_FIELDS, values, strict=True))
    return rej
