"""NormalizeText: canonical Unicode and whitespace, without destroying paragraphs or code indentation.

Input/output: `Document`; tagged `REJECTED`: documents empty after normalization (`normalize:empty`).
Steps, in an order that makes the function idempotent (normalize(normalize(x)) == normalize(x)):
CR/CRLF -> LF; C0 control characters (other than \\n and \\t), DEL, NULs and the BOM removed; Unicode
space separators other than U+3000 (meaningful in CJK typesetting) -> U+0020; trailing whitespace on each
line removed; runs of 3+ newlines -> one blank line; leading/trailing blank lines removed; NFC (which
cannot introduce whitespace or control characters); then mojibake repaired with ftfy (`fix_text` with
only its repairs on: encoding mix-ups such as UTF-8 read as cp1252, lone surrogates, C1 controls; HTML
unescaping, quote uncurling, width folding and ligature splitting are off, since they change correct
text), then C1 controls (U+0080-U+009F) that ftfy did not turn into text removed, repeating the steps
while ftfy or that last step still changes something. Leading indentation and inner runs of
spaces are kept, since code depends on them. ftfy runs only on text that is not ASCII and contains a
character from Latin-1 Supplement, Latin Extended-A, General Punctuation, a surrogate or U+FFFD (every
UTF-8-as-Latin-1/cp1252 mojibake does): ftfy reads ~5 MB/s even on clean text.
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

from transforms.counters import CountingDoFn, StageCounters
from transforms.document import Document

STAGE = "normalize"

# C0 controls, DEL and the BOM go first; C1 controls (U+0080-U+009F) wait until ftfy has seen them,
# since UTF-8 read as Latin-1 carries its bytes in exactly those characters ("â\x80\x99" is "’").
# Written out rather than scanned from unicodedata at import (a scan of all code points costs 0.45 s in
# every process, each Beam worker included); tests/test_normalize.py checks them against unicodedata:
# every "Cc" character (category Cc is closed by Unicode's stability policy) and every "Zs" but the two kept.
_CONTROL = "".join(chr(c) for c in [*range(0x00, 0x20), 0x7F] if chr(c) not in "\n\t")
_DELETE_CONTROL = str.maketrans("", "", _CONTROL + "\ufeff")
_DELETE_C1 = str.maketrans("", "", "".join(chr(c) for c in range(0x80, 0xA0)))
_SPACES = {c: " " for c in (0x00A0, 0x1680, *range(0x2000, 0x200B), 0x202F, 0x205F)}
_TRAILING_WS = re.compile(r"[ \t]+$", re.MULTILINE)
_MOJIBAKE_HINT = re.compile("[\u0080-\u017f\u2010-\u2044\ud800-\udfff\ufffd]")
_FTFY_CONFIG = None


def repair_mojibake(text: str) -> str:
    global _FTFY_CONFIG  # an immutable config built on first use, so importing stays cheap
    if text.isascii() or not _MOJIBAKE_HINT.search(text):
        return text
    import ftfy

    if _FTFY_CONFIG is None:
        _FTFY_CONFIG = ftfy.TextFixerConfig(
            unescape_html=False, remove_terminal_escapes=False, fix_latin_ligatures=False,
            fix_character_width=False, uncurl_quotes=False, fix_line_breaks=False, remove_control_chars=False,
            normalization=None, explain=False)
    return ftfy.fix_text(text, _FTFY_CONFIG)
_MANY_NEWLINES = re.compile(r"\n{3,}")


_STEPS: tuple[tuple[str, Callable[[str], str]], ...] = (
    ("newlines", lambda t: t.replace("\r\n", "\n").replace("\r", "\n")),
    ("control_chars", lambda t: t.translate(_DELETE_CONTROL)),
    ("spaces", lambda t: t.translate(_SPACES)),
    ("trailing_whitespace", lambda t: _TRAILING_WS.sub("", t)),
    ("blank_lines", lambda t: _MANY_NEWLINES.sub("\n\n", t).strip("\n")),
    ("nfc", lambda t: unicodedata.normalize("NFC", t)),
    ("mojibake", repair_mojibake),
    ("c1_controls", lambda t: t.translate(_DELETE_C1)),
)


_MAX_PASSES = 4


def normalize_text(text: str, count: Callable[[str], None] = lambda _: None) -> str:
    """The normalized text; `count(step)` is called once for each step that changed something.

    ftfy runs last, on text the other steps have finished with (its verdict depends on its input: " Ã©"
    is mojibake, "\\xa0Ã©" is not). Its repairs can produce text the other steps change again, so a pass
    in which ftfy changed something is followed by another, until nothing changes."""
    changed: set[str] = set()
    for _ in range(_MAX_PASSES):
        for name, step in _STEPS:
            new = step(text)
            if new != text:
                changed.add(name)
                text = new
        if not changed & {"mojibake", "c1_controls"} or normalize_pass_is_stable(text):
            break
    for name, _ in _STEPS:
        if name in changed:
            count(name)
    return text


def normalize_pass_is_stable(text: str) -> bool:
    return all(step(text) == text for _, step in _STEPS)


@dataclasses.dataclass(frozen=True)
class NormalizeConfig:
    """No options yet: the steps above are the contract. Kept so the config section exists."""


class _NormalizeFn(CountingDoFn):
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
        yield doc if text == doc.text else doc.replace(text=text)


class NormalizeText(beam.PTransform):
    """Normalizes text. Outputs: main = Document, REJECTED = Document marked `normalize:empty`."""

    REJECTED = "rejected"

    def __init__(self, cfg: NormalizeConfig) -> None:
        super().__init__()
        self._cfg = cfg

    def expand(self, docs: beam.PCollection) -> pvalue.DoOutputsTuple:
        return docs | "Normalize" >> beam.ParDo(_NormalizeFn()).with_outputs(self.REJECTED, main="kept")
