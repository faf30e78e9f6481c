"""TokenizeDocuments: curated rows -> `TokenizedDoc` (uint32 ids framed by BOS and EOS).

Input: curated rows (dicts with id, source, lang, text). Output: `TokenizedDoc`. The tokenizer model
travels as bytes inside the DoFn and is loaded once per DoFn instance in `setup()`.
Metrics namespace `tokenize`: `docs_in`, `tokens:<source>`, `chars:<source>`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

import apache_beam as beam
import numpy as np

from tokenizer.wrapper import Tokenizer
from transforms.counters import StageCounters

STAGE = "tokenize"


@dataclasses.dataclass(frozen=True, eq=False)
class TokenizedDoc:
    id: str
    source: str
    lang: str
    ids: np.ndarray  # uint32, BOS + pieces + EOS

    @property
    def n_tokens(self) -> int:
        return int(self.ids.shape[0])


class _TokenizeFn(beam.DoFn):
    def __init__(self, tokenizer: Tokenizer) -> None:
        super().__init__()
        self._tokenizer = tokenizer
        self._counters = StageCounters(STAGE)

    def setup(self) -> None:
        _ = self._tokenizer.sp  # load once per DoFn instance

    def process(self, row: Mapping[str, Any]) -> Iterable[TokenizedDoc]:
        ids = self._tokenizer.encode_document(row["text"])
        self._counters.inc("docs_in")
        self._counters.inc(f"tokens:{row['source']}", len(ids))
        self._counters.inc(f"chars:{row['source']}", len(row["text"]))
        yield TokenizedDoc(id=row["id"], source=row["source"], lang=row["lang"] or "und", ids=ids)


class TokenizeDocuments(beam.PTransform):
    """Encodes each curated document. Output: TokenizedDoc."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        super().__init__()
        self._tokenizer = tokenizer

    def expand(self, rows: beam.PCollection) -> beam.PCollection:
        return rows | "Encode" >> beam.ParDo(_TokenizeFn(self._tokenizer))
