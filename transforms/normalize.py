"""NormalizeText: canonical Unicode and whitespace, without destroying paragraphs or code indentation.

Input/output: `Document`; tagged `REJECTED`: documents empty after normalization (`normalize:empty`).
Steps, in an order that makes the function idempotent (normalize(normalize(x)) == normalize(x)):
CR/CRLF -> LF; control characters (Unicode Cc other than \\n and \\t), NULs and the BOM removed; Unicode
space separators other than U+3000 (meaningful in CJK typesetting) -> U+0020; trailing whitespace on each
line removed; runs of 3+ newlines -> one blank line; leading/trailing blank lines removed; NFC last (NFC
cannot introduce whitespace or control characters). Leading indentation and inner runs of spaces are kept,
since code depends on them. Mojibake repair is issue #3's.
Metrics namespace `normalize`: `docs_in`, `kept`, `dropped:empty`, `changed:<step>`.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Callable, Iterable
from typing import Any

import apache_beam as beam
from apache_beam import pvalue

from transforms.counters import StageCounters
from transforms.document import Document

STAGE = "normalize"

_CONTROL = "".join(chr(c) for c in range(0x110000)
                   if unicodedata.category(chr(c)) == "Cc" and chr(c) not in "\n\t") + "\ufeff"
_DELETE_CONTROL = str.maketrans("", "", _CONTROL)
_SPACES = {ord(ch): " " for ch in (chr(c) for c in range(0x110000))
           if unicodedata.category(ch) == "Zs" and ch not in (" ", "\u3000")}
_TRAILING_WS = re.compile(r"[ \t]+$", re.MULTILINE)
_MANY_NEWLINES = re.compile(r"\n{3,}")


_STEPS: tuple[tuple[str, Callable[[str], str]], ...] = (
    ("newlines", lambda t: t.replace("\r\n", "\n").replace("\r", "\n")),
    ("control_chars", lambda t: t.translate(_DELETE_CONTROL)),
    ("spaces", lambda t: t.translate(_SPACES)),
    ("trailing_whitespace", lambda t: _TRAILING_WS.sub("", t)),
    ("blank_lines", lambda t: _MANY_NEWLINES.sub("\n\n", t).strip("\n")),
    ("nfc", lambda t: unicodedata.normalize("NFC", t)),
)


def normalize_text(text: str, count: Callable[[str], None] = lambda _: None) -> str:
    """The normalized text; `count(step)` is called once for each step that changed something."""
    for name, step in _STEPS:
        new = step(text)
        if new != text:
            count(name)
            text = new
    return text


@dataclasses.dataclass(frozen=True)
class NormalizeConfig:
    """No options yet: the steps above are the contract. Kept so the config section exists."""


class _NormalizeFn(beam.DoFn):
    def __init__(self) -> None:
        super().__init__()
        self._counters = StageCounters(STAGE)

    def process(self, doc: Document) -> Iterable[Any]:
        self._counters.inc("docs_in")
        text = normalize_text(doc.text, lambda step: self._counters.inc(f"changed:{step}"))
        if not text.strip():
            self._counters.inc("dropped:empty")
            yield pvalue.TaggedOutput(NormalizeText.REJECTED, doc.dropped(STAGE, "empty"))
            return
        self._counters.inc("kept")
        yield doc if text == doc.text else dataclasses.replace(doc, text=text)


class NormalizeText(beam.PTransform):
    """Normalizes text. Outputs: main = Document, REJECTED = Document marked `normalize:empty`."""

    REJECTED = "rejected"

    def __init__(self, cfg: NormalizeConfig) -> None:
        super().__init__()
        self._cfg = cfg

    def expand(self, docs: beam.PCollection) -> pvalue.DoOutputsTuple:
        return docs | "Normalize" >> beam.ParDo(_NormalizeFn()).with_outputs(self.REJECTED, main="kept")
