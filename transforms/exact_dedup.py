"""DeduplicateExact: drop documents whose normalized text is byte-identical to another's.

Input/output: `Document` (after NormalizeText, so Unicode-form and whitespace variants collide);
tagged `REJECTED`: copies marked `exact_dedup:duplicate` (`rejected.detail` names the surviving
document; their `cluster_id` is the content hash).
The survivor of a group is the document with the smallest id, whatever the arrival order. Groups are
folded while streaming over the grouped values, never materialized: an exact-duplicate group can hold
millions of boilerplate pages.
Metrics namespace `exact_dedup`: `docs_in`, `kept`, `dropped:duplicate`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
from apache_beam import pvalue

from transforms.counters import CountingDoFn, StageCounters
from transforms.document import Document
from transforms.hashing import content_hash
from transforms.shuffle import GroupEncoded

STAGE = "exact_dedup"


@dataclasses.dataclass(frozen=True)
class ExactDedupConfig:
    enabled: bool = True
    paragraphs: bool = False            # also remove repeated paragraphs across the corpus (paragraph_dedup.py)
    paragraph_unit: str = "paragraph"   # paragraph (blank-line separated; InternLM) | line (C4)
    paragraph_min_chars: int = 50       # shorter paragraphs are never removed

    def __post_init__(self) -> None:
        if self.paragraph_unit not in ("paragraph", "line"):
            raise ValueError(f"exact_dedup.paragraph_unit must be paragraph or line, got {self.paragraph_unit!r}")
        if self.paragraph_min_chars < 1:
            raise ValueError(f"exact_dedup.paragraph_min_chars must be >= 1, got {self.paragraph_min_chars}")


def doc_order(doc: Document) -> tuple[str, str]:
    return doc.id, doc.location  # location breaks the tie should two records share an id


def fold_group(docs: Iterable[Document]) -> tuple[Document | None, Iterator[Document]]:
    """(survivor, the other documents) of one group: the survivor is the smallest id. Two streaming passes
    over the (re-iterable) group, so the losers can name their survivor and the group, however hot,
    is never held in memory."""
    survivor = min(docs, key=doc_order, default=None)
    if survivor is None:
        return None, iter(())
    return survivor, others(docs, doc_order(survivor))


def others(docs: Iterable[Document], kept: tuple[str, str]) -> Iterator[Document]:
    skipped = False
    for doc in docs:
        if not skipped and doc_order(doc) == kept:
            skipped = True  # the survivor itself; a twin with the same id and location is still a copy
            continue
        yield doc


def mark_duplicate(doc: Document, stage: str, reason: str, survivor: Document) -> Document:
    """`doc` dropped as a copy of `survivor` (its id goes to `rejected.detail`)."""
    return doc.dropped(stage, reason, duplicate_of=survivor.id)


def _key_by_content(doc: Document) -> tuple[str, Document]:
    return content_hash(doc.text), doc


class _FoldGroupFn(CountingDoFn):
    def __init__(self) -> None:
        super().__init__()
        self._counters = StageCounters(STAGE)

    def process(self, element: tuple[str, Iterable[Document]]) -> Iterable[Any]:
        digest, docs = element
        survivor, copies = fold_group(docs)
        if survivor is None:
            return
        self._counters.inc("docs_in")
        self._counters.inc("kept")
        yield survivor
        for doc in copies:
            self._counters.inc("docs_in")
            self._counters.inc("dropped:duplicate")
            copy = mark_duplicate(doc, STAGE, "duplicate", survivor).replace(cluster_id=digest)
            yield pvalue.TaggedOutput(DeduplicateExact.REJECTED, copy)


class DeduplicateExact(beam.PTransform):
    """Keeps one document per normalized text. Outputs: main = Document, REJECTED = duplicates."""

    REJECTED = "rejected"

    def __init__(self, cfg: ExactDedupConfig, compress: bool = True) -> None:
        super().__init__()
        self._cfg = cfg
        self._compress = compress   # zstd for large documents in the shuffle (transforms/shuffle.py)

    def expand(self, docs: beam.PCollection) -> pvalue.DoOutputsTuple:
        return (
            docs
            | "KeyByContentHash" >> beam.Map(_key_by_content)  # (hex digest, Document)
            | "GroupByContent" >> GroupEncoded(self._compress)
            | "KeepSmallestId" >> beam.ParDo(_FoldGroupFn()).with_outputs(self.REJECTED, main="kept")
        )
