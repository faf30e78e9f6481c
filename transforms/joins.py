"""GroupTagged: a CoGroupByKey that never materializes a group.

Beam 2.77's `CoGroupByKey` collects each key's values into Python lists, so a hot key (a boilerplate
band bucket shared by millions of documents, a star centre, a huge cluster) is held in memory on one
worker. Here the inputs are tagged, flattened and grouped once; consumers read the few values of the
"small" inputs in one pass (`small_values`) and stream the values of the one possibly hot input in a
second pass (`many_values`). GroupByKey results are re-iterable in Beam's Python SDK.
Input: {tag: PCollection of (key, value)}. Output: (key, iterable of (tag, value)).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam

from transforms.shuffle import decoded_group, encode_value


def _tag_with(element: tuple[Any, Any], tag: str) -> tuple[Any, tuple[str, Any]]:
    key, value = element
    return key, (tag, value)


def _tag_encoded(element: tuple[Any, Any], tag: str, compress: bool) -> tuple[Any, bytes]:
    key, value = element
    return key, encode_value((tag, value), compress)


def small_values(values: Iterable[tuple[str, Any]], many_tag: str) -> dict[str, list[Any]]:
    """Every value of every input except `many_tag` (inputs that hold a few values per key)."""
    found: dict[str, list[Any]] = defaultdict(list)
    for tag, value in values:
        if tag != many_tag:
            found[tag].append(value)
    return found


def many_values(values: Iterable[tuple[str, Any]], many_tag: str) -> Iterator[Any]:
    """The values of the possibly hot input, streamed."""
    return (value for tag, value in values if tag == many_tag)


class GroupTagged(beam.PTransform):
    """`encoded=True` carries each (tag, value) through the Flatten and the shuffle as pickled bytes
    (transforms/shuffle.py), pickled where it is produced: for joins that move whole documents; `compress`
    then zstd-compresses large values (transforms/shuffle.py)."""

    def __init__(self, encoded: bool = False, compress: bool = True) -> None:
        super().__init__()
        self._encoded = encoded
        self._compress = compress

    def expand(self, inputs: dict[str, beam.PCollection]) -> beam.PCollection:
        tag_fn, extra = (_tag_encoded, (self._compress,)) if self._encoded else (_tag_with, ())
        tagged = [pc | f"Tag_{tag}" >> beam.Map(tag_fn, tag, *extra) for tag, pc in sorted(inputs.items())]
        grouped = tagged | "Flatten" >> beam.Flatten() | "Group" >> beam.GroupByKey()
        return grouped | "Decode" >> beam.Map(decoded_group) if self._encoded else grouped
