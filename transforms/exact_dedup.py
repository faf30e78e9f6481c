"""DeduplicateExact: drop documents whose normalized text is byte-identical to another's.

Input/output: `Document` (after NormalizeText, so Unicode-form and whitespace variants collide);
tagged `REJECTED`: copies marked `exact_dedup:duplicate` (their `cluster_id` names the content hash).
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

from transforms.counters import StageCounters
from transforms.document import Document
from transforms.hashing import content_hash

STAGE = "exact_dedup"


@dataclasses.dataclass(frozen=True)
class ExactDedupConfig:
    enabled: bool = True


def fold_group(docs: Iterable[Document]) -> Iterator[tuple[bool, Document]]:
    """Streams (is_survivor, doc) over one content-hash group: each copy as soon as it is known to lose,
    the survivor (smallest id, then location, should two records share an id) last. O(1) memory however
    hot the group is."""
    survivor = None
    for doc in docs:
        if survivor is None:
            survivor = doc
            continue
        if (doc.id, doc.location) < (survivor.id, survivor.location):
            survivor, doc = doc, survivor
        yield False, doc
    if survivor is not None:
        yield True, survivor


def _key_by_content(doc: Document) -> tuple[str, Document]:
    return content_hash(doc.text), doc


class _FoldGroupFn(beam.DoFn):
    def __init__(self) -> None:
        super().__init__()
        self._counters = StageCounters(STAGE)

    def process(self, element: tuple[str, Iterable[Document]]) -> Iterable[Any]:
        digest, docs = element
        for is_survivor, doc in fold_group(docs):
            self._counters.inc("docs_in")
            if is_survivor:
                self._counters.inc("kept")
                yield doc
            else:
                self._counters.inc("dropped:duplicate")
                yield pvalue.TaggedOutput(DeduplicateExact.REJECTED,
                                          dataclasses.replace(doc.dropped(STAGE, "duplicate"), cluster_id=digest))


class DeduplicateExact(beam.PTransform):
    """Keeps one document per normalized text. Outputs: main = Document, REJECTED = duplicates."""

    REJECTED = "rejected"

    def __init__(self, cfg: ExactDedupConfig) -> None:
        super().__init__()
        self._cfg = cfg

    def expand(self, docs: beam.PCollection) -> pvalue.DoOutputsTuple:
        return (
            docs
            | "KeyByContentHash" >> beam.Map(_key_by_content)  # (hex digest, Document)
            | "GroupByContent" >> beam.GroupByKey()
            | "KeepSmallestId" >> beam.ParDo(_FoldGroupFn()).with_outputs(self.REJECTED, main="kept")
        )
