"""IdentifyLanguage: fastText language ID (lid.176.ftz by default) with a keep list and min scores.

Input/output: `Document` with `lang`, `lang_score`, `script` set; tagged `REJECTED`: documents marked
`langid:lang_not_kept` or `langid:low_score`. Sources with a fixed `lang` (e.g. code) skip prediction
(score 1.0) and are not subject to the keep list. fastText predicts per line, so newlines are replaced by
spaces; only the first `max_chars` characters are read (the label of a long document is settled long
before, and the cost is linear). The model loads once per worker process in `setup()` through `Shared`.
Default thresholds: min_score 0.65 (DESIGN.md config contract).
Metrics namespace `langid`: `docs_in`, `kept`, `dropped:<reason>`, `lang:<code>`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.utils import shared

from transforms.counters import StageCounters
from transforms.document import Document
from transforms.scripts import detect_script

STAGE = "langid"
_LABEL_PREFIX = "__label__"


@dataclasses.dataclass(frozen=True)
class LangIdConfig:
    model: str                                   # resolved path (config `null` = the fetched lid.176.ftz)
    keep: tuple[str, ...] | None = ("en", "zh")  # None = keep every language (`keep: all`)
    min_score: Mapping[str, float] = dataclasses.field(default_factory=lambda: {"default": 0.65})
    max_chars: int = 20_000

    def __post_init__(self) -> None:
        if "default" not in self.min_score:
            raise ValueError("langid.min_score must have a 'default' entry")
        for lang, score in self.min_score.items():
            if not 0.0 <= score <= 1.0:
                raise ValueError(f"langid.min_score.{lang} must be in [0, 1], got {score}")
        if self.max_chars < 100:
            raise ValueError(f"langid.max_chars must be >= 100, got {self.max_chars}")


def parse_label(label: str) -> str:
    """`__label__en` -> `en`."""
    return label[len(_LABEL_PREFIX):] if label.startswith(_LABEL_PREFIX) else label


def prepare_text(text: str, max_chars: int) -> str:
    return text[:max_chars].replace("\n", " ")


def decide(lang: str, score: float, cfg: LangIdConfig) -> str | None:
    """None to keep, else the reason to drop."""
    if cfg.keep is not None and lang not in cfg.keep:
        return "lang_not_kept"
    if score < cfg.min_score.get(lang, cfg.min_score["default"]):
        return "low_score"
    return None


class _Model:
    """Weak-referenceable holder for the fastText model (required by `Shared`)."""

    def __init__(self, path: str) -> None:
        import fasttext  # imported on the worker

        self.model = fasttext.load_model(path)


class _LangIdFn(beam.DoFn):
    def __init__(self, cfg: LangIdConfig) -> None:
        super().__init__()
        self._cfg = cfg
        self._shared = shared.Shared()
        self._counters = StageCounters(STAGE)
        self._model = None

    def setup(self) -> None:
        path = self._cfg.model
        self._model = self._shared.acquire(lambda: _Model(path), tag=f"fasttext:{path}").model

    def process(self, doc: Document) -> Iterable[Any]:
        self._counters.inc("docs_in")
        script = detect_script(doc.text)
        if doc.lang is not None:  # fixed by the source (e.g. code): no prediction, no keep list
            self._counters.inc("kept")
            yield dataclasses.replace(doc, lang_score=1.0, script=script)
            return
        labels, probs = self._model.predict([prepare_text(doc.text, self._cfg.max_chars)], k=1)
        lang, score = parse_label(labels[0][0]), round(float(probs[0][0]), 6)
        doc = dataclasses.replace(doc, lang=lang, lang_score=score, script=script)
        self._counters.inc(f"lang:{lang}")
        if reason := decide(lang, score, self._cfg):
            self._counters.inc(f"dropped:{reason}")
            yield pvalue.TaggedOutput(IdentifyLanguage.REJECTED, doc.dropped(STAGE, reason))
        else:
            self._counters.inc("kept")
            yield doc


class IdentifyLanguage(beam.PTransform):
    """Labels language and script. Outputs: main = kept Document, REJECTED = dropped Document."""

    REJECTED = "rejected"

    def __init__(self, cfg: LangIdConfig) -> None:
        super().__init__()
        self._cfg = cfg

    def expand(self, docs: beam.PCollection) -> pvalue.DoOutputsTuple:
        return docs | "PredictLanguage" >> beam.ParDo(_LangIdFn(self._cfg)).with_outputs(
            self.REJECTED, main="kept")
