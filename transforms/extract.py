"""ExtractText: HTML -> main-content text (trafilatura) under a per-page time limit.

Input/output: `Document`. Documents with `raw` HTML bytes (WARC responses) are decoded and extracted;
the others pass through untouched. Tagged `REJECTED`: `extract:no_text` (nothing extracted),
`extract:timeout` (over `extract.timeout_s`), `extract:error` (the extractor raised or died).

Charset: a byte-order mark, else the HTTP header's charset, else `<meta charset>` /
`<meta http-equiv=content-type>` in the first 4 KB (a declared UTF-16/32 read as UTF-8, as WHATWG says),
else strict UTF-8, else charset-normalizer's detection, else UTF-8 with replacement characters; a
declared charset that fails to decode falls through to the next source.
Language hint: `<html lang>` or `<meta http-equiv=content-language>`, kept as `meta["lang_hint"]`
(a hint only: language ID decides).
Time limit: trafilatura runs in a child process (`python -m transforms.extract`) that is killed and
restarted when a page exceeds the limit, so a pathological page costs `timeout_s` and one rejected
document, on any runner and in any thread (signals work in the main thread only).
Metrics namespace `extract`: `docs_in`, `kept`, `dropped:<reason>`, `passed_through`.
"""

from __future__ import annotations

import codecs
import dataclasses
import os
import pickle
import re
import select
import struct
import subprocess
import sys
from collections.abc import Iterable
from typing import Any, BinaryIO

import apache_beam as beam
from apache_beam import pvalue

from transforms.counters import CountingDoFn, StageCounters
from transforms.document import Document

STAGE = "extract"
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_HTML_LANG = re.compile(r"""<html[^>]*?\blang\s*=\s*["']?([A-Za-z]{2,3}(?:[-_][A-Za-z0-9]+)*)""", re.IGNORECASE)
_META_LANG = re.compile(r"""<meta[^>]+http-equiv\s*=\s*["']?content-language["']?[^>]+content\s*=\s*["']?"""
                        r"""([A-Za-z]{2,3}(?:[-_][A-Za-z0-9]+)*)""", re.IGNORECASE)
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_LEN = struct.Struct("<Q")
_READY = b"ready\n"
_START_TIMEOUT_S = 120.0


@dataclasses.dataclass(frozen=True)
class ExtractConfig:
    timeout_s: float = 5.0
    include_tables: bool = True
    min_chars: int = 1           # fewer extracted characters = no_text

    def __post_init__(self) -> None:
        if self.timeout_s <= 0:
            raise ValueError(f"extract.timeout_s must be > 0, got {self.timeout_s}")


@dataclasses.dataclass(frozen=True)
class ExtractResult:
    text: str | None
    reason: str | None           # None when text was extracted
    lang_hint: str | None


# ---------------------------------------------------------------- pure functions

def _codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name.strip().strip("'\"")).name
    except LookupError:
        return None


def decode_html(raw: bytes, http_charset: str | None) -> str:
    """HTML bytes -> str, trying the declared charsets before detection (see the module docstring)."""
    candidates = [enc for bom, enc in _BOMS if raw.startswith(bom)]  # a BOM outranks any declaration
    candidates.append(_codec(http_charset))
    if match := _META_CHARSET.search(raw[:4096]):
        meta = _codec(match.group(1).decode("ascii", "replace"))
        # a page that can state its charset in ASCII is not UTF-16/32 (WHATWG: read such a meta as UTF-8)
        candidates.append("utf-8" if meta and meta.startswith(("utf-16", "utf-32")) else meta)
    for enc in candidates:
        if enc:
            try:
                return raw.decode(enc)
            except (UnicodeDecodeError, LookupError):
                continue
    try:
        raw.decode("utf-8")
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(raw[:200_000]).best()
    if best is not None and best.encoding:
        return raw.decode(best.encoding, errors="replace")
    return raw.decode("utf-8", errors="replace")


def page_lang_hint(html: str) -> str | None:
    head = html[:20_000]
    match = _HTML_LANG.search(head) or _META_LANG.search(head)
    return match.group(1).replace("_", "-").lower() if match else None


def extract_main_text(html: str, url: str | None, include_tables: bool = True) -> str | None:
    """trafilatura's main-content text, no time limit (callers that need one use PageExtractor)."""
    import trafilatura

    return trafilatura.extract(html, url=url, output_format="txt", include_comments=False,
                               include_tables=include_tables, deduplicate=False, with_metadata=False)


def extract_page(raw: bytes, http_charset: str | None, url: str | None, cfg: ExtractConfig) -> ExtractResult:
    html = decode_html(raw, http_charset)
    hint = page_lang_hint(html)
    text = extract_main_text(html, url, cfg.include_tables)
    if not text or len(text.strip()) < cfg.min_chars:
        return ExtractResult(None, "no_text", hint)
    return ExtractResult(text, None, hint)


# ---------------------------------------------------------------- the child process

def _send(stream: BinaryIO, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LEN.pack(len(data)) + data)
    stream.flush()


def _read_exact(fd: int, n: int, deadline_s: float | None) -> bytes | None:
    """n bytes from fd, or None on timeout or end of stream."""
    chunks, remaining = [], n
    while remaining:
        if deadline_s is not None:
            ready, _, _ = select.select([fd], [], [], deadline_s)
            if not ready:
                return None
        chunk = os.read(fd, remaining)
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


class PageExtractor:
    """Runs `extract_page` in a child process with a per-page time limit; restarts the child after a
    timeout or a crash."""

    def __init__(self, cfg: ExtractConfig | None = None, timeout_s: float | None = None) -> None:
        self._cfg = cfg or ExtractConfig(timeout_s=timeout_s or ExtractConfig.timeout_s)
        self._proc: subprocess.Popen | None = None

    def _start(self) -> subprocess.Popen:
        self._proc = subprocess.Popen([sys.executable, "-m", "transforms.extract"], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        _send(self._proc.stdin, self._cfg)
        # The child imports trafilatura (about a second) before it says it is ready: start-up does not
        # count against the first page's time limit.
        if _read_exact(self._proc.stdout.fileno(), len(_READY), _START_TIMEOUT_S) != _READY:
            self.close()
            raise RuntimeError("the extraction worker (python -m transforms.extract) did not start")
        return self._proc

    def extract(self, raw: bytes, http_charset: str | None, url: str | None) -> ExtractResult:
        proc = self._proc if self._proc and self._proc.poll() is None else self._start()
        try:
            _send(proc.stdin, (raw, http_charset, url))
        except BrokenPipeError:
            self.close()
            return ExtractResult(None, "error", None)
        fd = proc.stdout.fileno()
        header = _read_exact(fd, _LEN.size, self._cfg.timeout_s)
        if header is None:
            reason = "timeout" if proc.poll() is None else "error"
            self.close()
            return ExtractResult(None, reason, None)
        payload = _read_exact(fd, _LEN.unpack(header)[0], None)
        if payload is None:
            self.close()
            return ExtractResult(None, "error", None)
        return pickle.loads(payload)

    def close(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None


def _serve() -> None:
    """The child's loop: read (raw, charset, url), answer an ExtractResult, until stdin closes."""
    fd_in, out = sys.stdin.buffer.fileno(), sys.stdout.buffer
    header = _read_exact(fd_in, _LEN.size, None)
    cfg = pickle.loads(_read_exact(fd_in, _LEN.unpack(header)[0], None))
    import trafilatura  # noqa: F401 - imported before saying ready

    out.write(_READY)
    out.flush()
    while (header := _read_exact(fd_in, _LEN.size, None)) is not None:
        raw, charset, url = pickle.loads(_read_exact(fd_in, _LEN.unpack(header)[0], None))
        try:
            result = extract_page(raw, charset, url, cfg)
        except Exception:  # noqa: BLE001 - any extractor failure is one rejected page, not a dead worker
            result = ExtractResult(None, "error", None)
        _send(out, result)


# ---------------------------------------------------------------- DoFn and transform

class _ExtractFn(CountingDoFn):
    def __init__(self, cfg: ExtractConfig) -> None:
        super().__init__()
        self._cfg = cfg
        self._counters = StageCounters(STAGE)
        self._extractor: PageExtractor | None = None

    def setup(self) -> None:
        self._extractor = PageExtractor(self._cfg)

    def teardown(self) -> None:
        if self._extractor is not None:
            self._extractor.close()

    def process(self, doc: Document) -> Iterable[Any]:
        if doc.raw is None:
            self._counters.inc("passed_through")
            yield doc
            return
        self._counters.inc("docs_in")
        res = self._extractor.extract(doc.raw, doc.meta.get("http_charset"), doc.url)
        meta = {**doc.meta, "lang_hint": res.lang_hint} if res.lang_hint and not res.reason else dict(doc.meta)
        doc = doc.replace(raw=None, text=res.text or "", meta=meta)
        if res.reason:
            self._counters.inc(f"dropped:{res.reason}")
            yield pvalue.TaggedOutput(ExtractText.REJECTED, doc.dropped(STAGE, res.reason))
        else:
            self._counters.inc("kept")
            yield doc


class ExtractText(beam.PTransform):
    """Extracts main text from HTML documents. Outputs: main = Document, REJECTED = dropped Document."""

    REJECTED = "rejected"

    def __init__(self, cfg: ExtractConfig) -> None:
        super().__init__()
        self._cfg = cfg

    def expand(self, docs: beam.PCollection) -> pvalue.DoOutputsTuple:
        return docs | "ExtractMainText" >> beam.ParDo(_ExtractFn(self._cfg)).with_outputs(self.REJECTED, main="kept")


if __name__ == "__main__":
    # Serve from the imported module, not from __main__, so pickled results name transforms.extract classes.
    from transforms import extract

    extract._serve()
