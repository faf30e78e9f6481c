"""DeduplicateParagraphs: exact paragraph (or line) dedup across the corpus, removing repeated
boilerplate from documents (InternLM's "exact paragraph dedup"; C4's line dedup).

Input/output: `Document`, after document-level exact and near-dedup (run before them, it would turn
near-duplicate copies into unrelated fragments). A paragraph (text between blank lines; with
`paragraph_unit: line`, a line) of at least `paragraph_min_chars` characters is kept where it first
occurs (smallest document id, then position) and removed from every other document; shorter paragraphs
are never touched (the minimum-length guard: "Thanks!" or a date line is not boilerplate). Documents left
with no text go to tagged `REJECTED` marked `exact_dedup:duplicate_paragraphs`. The paragraph groups of a
hot boilerplate paragraph (millions of pages) are streamed twice, never listed; only (paragraph hash,
document id, position) triples are shuffled, then the removals are joined back to their documents.
Opt-in: `exact_dedup.paragraphs: true`.
Metrics namespace `exact_dedup`: `paragraphs_removed`, `docs_changed`, `dropped:duplicate_paragraphs`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
from apache_beam import pvalue

from transforms.counters import CountingDoFn, StageCounters
from transforms.document import Document
from transforms.joins import GroupTagged, many_values, small_values

STAGE = "exact_dedup"
UNITS = {"paragraph": "\n\n", "line": "\n"}


def split_units(text: str, unit: str) -> list[str]:
    return text.split(UNITS[unit])


def paragraph_keys(doc: Document, unit: str, min_chars: int) -> Iterator[tuple[str, tuple[str, int]]]:
    """(hash of the paragraph, (document id, position)) for every paragraph long enough to dedup."""
    for index, para in enumerate(split_units(doc.text, unit)):
        body = para.strip()
        if len(body) >= min_chars:
            yield hashlib.blake2b(body.encode("utf-8"), digest_size=16).hexdigest(), (doc.id, index)


def later_occurrences(occurrences: Iterable[tuple[str, int]]) -> Iterator[tuple[str, int]]:
    """Every occurrence but the first (smallest id, then position). Iterates the group twice."""
    first = min(occurrences, default=None)
    for occ in occurrences:
        if occ != first:
            yield occ


def remove_units(text: str, unit: str, positions: set[int]) -> str:
    return UNITS[unit].join(p for i, p in enumerate(split_units(text, unit)) if i not in positions)


class _LaterOccurrencesFn(beam.DoFn):
    def process(self, element: tuple[str, Iterable[tuple[str, int]]]) -> Iterator[tuple[str, int]]:
        yield from later_occurrences(element[1])  # (doc id, position) to remove


def _key_by_id(doc: Document) -> tuple[str, Document]:
    return doc.id, doc


class _RemoveFn(CountingDoFn):
    def __init__(self, unit: str) -> None:
        super().__init__()
        self._unit = unit
        self._counters = StageCounters(STAGE)

    def process(self, element: tuple[str, Iterable[tuple[str, Any]]]) -> Iterable[Any]:
        _, values = element
        positions = set(many_values(values, "drop"))
        for doc in small_values(values, "drop")["doc"]:
            if not positions:
                yield doc
                continue
            text = remove_units(doc.text, self._unit, positions)
            self._counters.inc("paragraphs_removed", len(positions))
            if not text.strip():
                self._counters.inc("dropped:duplicate_paragraphs")
                yield pvalue.TaggedOutput(DeduplicateParagraphs.REJECTED,
                                          doc.dropped(STAGE, "duplicate_paragraphs"))
                continue
            self._counters.inc("docs_changed")
            yield doc.replace(text=text)


class DeduplicateParagraphs(beam.PTransform):
    """Removes paragraphs seen earlier in the corpus. Outputs: main = Document, REJECTED = emptied."""

    REJECTED = "rejected"

    def __init__(self, unit: str, min_chars: int, compress: bool = True) -> None:
        super().__init__()
        if unit not in UNITS:
            raise ValueError(f"exact_dedup.paragraph_unit must be one of {sorted(UNITS)}, got {unit!r}")
        self._unit, self._min_chars = unit, min_chars
        self._compress = compress   # zstd for large documents in the join (transforms/shuffle.py)

    def expand(self, docs: beam.PCollection) -> pvalue.DoOutputsTuple:
        removals = (
            docs
            | "ParagraphKeys" >> beam.FlatMap(paragraph_keys, self._unit, self._min_chars)  # (hash, (id, pos))
            | "GroupParagraphs" >> beam.GroupByKey()
            | "LaterOccurrences" >> beam.ParDo(_LaterOccurrencesFn())                      # (id, pos)
        )
        return (
            {"doc": docs | "KeyById" >> beam.Map(_key_by_id), "drop": removals}
            | "JoinRemovals" >> GroupTagged(encoded=True, compress=self._compress)
            | "Remove" >> beam.ParDo(_RemoveFn(self._unit)).with_outputs(self.REJECTED, main="kept")
        )
