"""TokenizeDocuments: curated rows -> `TokenizedDoc` (uint32 ids framed by BOS and EOS).

Input: curated rows (dicts with id, source, lang, text). Output: `TokenizedDoc`, one per row. Rows are
batched (`beam.BatchElements` with a fixed size of `batch_chars` characters, so a batch never holds more
than one document beyond it) and each batch is one `Tokenizer.encode_batch` call: SentencePiece's C++
batch encoder, uint32 arrays straight from its buffers. Encoding does not depend on the batch, so the
output is the same whatever the bundling. The tokenizer model travels as bytes inside the DoFn and is
loaded once per DoFn instance in `setup()`.
Metrics namespace `tokenize` (added once per batch): `docs_in`, `tokens:<source>` and
`tokens_lang:<lang>` (BOS and EOS included, as in the phase budgets), `chars:<source>`.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import apache_beam as beam
import numpy as np

from tokenizer.wrapper import Tokenizer
from transforms.counters import CountingDoFn, StageCounters
from transforms.runtime import tune_process

STAGE = "tokenize"
BATCH_CHARS = 1 << 18   # ~256k characters per encode call: the per-call cost is amortized well before that


@dataclasses.dataclass(frozen=True, eq=False)
class TokenizedDoc:
    id: str
    source: str
    lang: str
    ids: np.ndarray  # uint32, BOS + pieces + EOS
    # carried from the curated row for MixPhases (quality tiers, cluster-weighted repeats):
    quality_score: float | None = None
    cluster_size: int = 1
    repeat: int = 0  # set by MixPhases: the pass of this copy (0 = first use); ids may be cut at a budget

    @property
    def n_tokens(self) -> int:
        return int(self.ids.shape[0])

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # pickled (Beam's fallback coder, between the mixing job's stages) as a tuple with the ids as raw
        # bytes: 4.6 us a round trip instead of 13 us for the dataclass's field dict and NumPy's own reduce.
        # Ids that all fit 16 bits (any vocabulary up to 65,536 pieces) travel as uint16, half the bytes
        # (the 100 MB benchmark's tokenized documents: 63 MB at uint32, materialized for MixPhases' Assign).
        ids = self.ids
        narrow = ids.size > 0 and int(ids.max()) <= 0xFFFF
        ids = ids.astype(np.uint16 if narrow else np.uint32, copy=False).tobytes()
        return _tokenized_doc, (self.id, self.source, self.lang, ids, self.quality_score, self.cluster_size,
                                self.repeat, 2 if narrow else 4)


def _tokenized_doc(id: str, source: str, lang: str, ids: bytes, quality_score: float | None, cluster_size: int,
                   repeat: int, width: int) -> TokenizedDoc:
    doc = object.__new__(TokenizedDoc)
    array = (np.frombuffer(ids, dtype=np.uint32) if width == 4   # read-only, no copy
             else np.frombuffer(ids, dtype=np.uint16).astype(np.uint32))
    doc.__dict__.update(id=id, source=source, lang=lang, ids=array,
                        quality_score=quality_score, cluster_size=cluster_size, repeat=repeat)
    return doc


class TokenizeBatchFn(CountingDoFn):
    """A batch of curated rows -> their TokenizedDocs (the stage's per-batch function)."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        super().__init__()
        self._tokenizer = tokenizer
        self._counters = StageCounters(STAGE)

    def setup(self) -> None:
        tune_process()  # the mixing job's first stage on every worker (transforms/runtime.py)
        _ = self._tokenizer.sp  # load once per DoFn instance

    def process(self, rows: Sequence[Mapping[str, Any]]) -> Iterable[TokenizedDoc]:
        if not rows:
            return
        encoded = self._tokenizer.encode_batch([row["text"] for row in rows])
        tokens: Counter[str] = Counter()
        tokens_lang: Counter[str] = Counter()
        chars: Counter[str] = Counter()
        for row, ids in zip(rows, encoded, strict=True):
            lang = row["lang"] or "und"
            tokens[row["source"]] += len(ids)
            tokens_lang[lang] += len(ids)
            chars[row["source"]] += len(row["text"])
            yield TokenizedDoc(id=row["id"], source=row["source"], lang=lang, ids=ids,
                               quality_score=row.get("quality_score"), cluster_size=row.get("cluster_size") or 1)
        self._counters.inc("docs_in", len(rows))
        for prefix, counts in (("tokens", tokens), ("tokens_lang", tokens_lang), ("chars", chars)):
            for key, n in sorted(counts.items()):
                self._counters.inc(f"{prefix}:{key}", n)


class TokenizeDocuments(beam.PTransform):
    """Encodes each curated document. Output: TokenizedDoc."""

    def __init__(self, tokenizer: Tokenizer, batch_chars: int = BATCH_CHARS) -> None:
        super().__init__()
        if batch_chars < 1:
            raise ValueError(f"batch_chars must be >= 1, got {batch_chars}")
        self._tokenizer = tokenizer
        self._batch_chars = batch_chars

    def expand(self, rows: beam.PCollection) -> beam.PCollection:
        return (
            rows
            | "Batch" >> beam.BatchElements(min_batch_size=self._batch_chars, max_batch_size=self._batch_chars,
                                            element_size_fn=_chars, record_metrics=False)
            | "Encode" >> beam.ParDo(TokenizeBatchFn(self._tokenizer))
        )


def _chars(row: Mapping[str, Any]) -> int:
    return max(1, len(row["text"]))
