"""A generated corpus of hostile inputs, with its ground truth (issue 7, reliability).

`write_hostile_corpus(dir)` writes small input files for four source formats (JSONL plain/gzip/zstd,
WARC, Parquet, plain text) plus one file holding two `big_line_mb` MB lines, and returns what the
pipeline must make of every record: kept (with its exact text after normalization where it is known) or
rejected by which stage for which reason, at which location, under which id; and the records read per
file. Nothing large is committed: the big file is written at test time.

The corpus is meant to run with the config hints in the ground truth (`read`: a small `max_doc_chars`,
`split_bytes` so the big file spans several ranges; no rule sets, every language kept, low-confidence
language scores kept as `und`), so that no stage after reading drops a well-formed document: each
rejection below is the hostile input's own.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tests.warc_fixtures import article

MAX_DOC_CHARS = 100_000
SPLIT_BYTES = 16 << 20

# source name -> the source's config entry (paths relative to the corpus directory)
SOURCES = {
    "jl": {"paths": ["jl/*"], "format": "jsonl", "id_field": "id"},
    "big": {"paths": ["big/*"], "format": "jsonl", "id_field": "id"},
    "wa": {"paths": ["wa/*"], "format": "warc"},
    "pq": {"paths": ["pq/*"], "format": "parquet", "id_field": "id"},
    "tx": {"paths": ["tx/*"], "format": "text"},
}


@dataclasses.dataclass(frozen=True)
class Case:
    """One record of the corpus and its expected fate."""

    case: str                    # what it exercises
    source: str
    file: str                    # relative to the source's root (= its directory here)
    location: str                # as the pipeline writes it: file:line, file:row, file#record-id, file
    id: str                      # the document id, or the dead letter's id
    outcome: str                 # "kept" | "rejected"
    stage: str | None = None     # for rejected
    reason: str | None = None
    text: str | None = None      # kept: the exact curated text (None: not known exactly, see `contains`)
    contains: str | None = None  # kept: a passage the curated text must hold (extracted HTML)
    detail: str | None = None    # rejected: the rejected row's detail, where it is asserted


# ---------------------------------------------------------------- text

_SYLLABLES = ["ka", "lo", "mi", "ren", "tas", "vo", "quel", "dri", "sen", "par", "nu", "fel", "gor", "bai",
              "tem", "ris", "hal", "wen", "cor", "zul", "pim", "sad", "ob", "ith", "mur", "len", "gas", "ved"]


class _Prose:
    """Seeded pseudo-words, so that no two documents are near-duplicates and no PII pattern, digit or
    stop-word list comes into play."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._vocab = sorted({"".join(self._rng.choice(_SYLLABLES) for _ in range(self._rng.randint(1, 3)))
                              for _ in range(3000)})

    def sentence(self, words: int) -> str:
        text = " ".join(self._rng.choice(self._vocab) for _ in range(words))
        return text[0].upper() + text[1:] + "."

    def paragraph(self, sentences: int = 4) -> str:
        return " ".join(self.sentence(self._rng.randint(6, 14)) for _ in range(sentences))

    def document(self, lines: int = 3) -> str:
        return "\n".join(self.paragraph(2) for _ in range(lines))


# ---------------------------------------------------------------- writers

class _Corpus:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.cases: list[Case] = []
        self.files: dict[str, dict[str, int]] = {name: {} for name in SOURCES}
        self.prose = _Prose(7)

    def file(self, source: str, rel: str) -> Path:
        path = self.root / source / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        self.files[source].setdefault(rel, 0)
        return path

    def add(self, case: Case) -> Case:
        self.cases.append(case)
        self.files[case.source][case.file] = self.files[case.source].get(case.file, 0) + 1
        return case

    def kept(self, case: str, source: str, file: str, location: str, doc_id: str, text: str | None = None,
             contains: str | None = None) -> None:
        self.add(Case(case, source, file, location, doc_id, "kept", text=text, contains=contains))

    def rejected(self, case: str, source: str, file: str, location: str, doc_id: str, stage: str, reason: str,
                 detail: str | None = None) -> None:
        self.add(Case(case, source, file, location, doc_id, "rejected", stage, reason, detail=detail))


def _jl(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


class _JsonlFile:
    """Lines of one JSONL file with their expectations; line numbers are counted as written."""

    def __init__(self, corpus: _Corpus, source: str, rel: str) -> None:
        self.corpus, self.source, self.rel = corpus, source, rel
        self.lines: list[bytes] = []

    def _loc(self) -> str:
        return f"{self.rel}:{len(self.lines)}"

    def blank(self, raw: bytes = b"") -> None:
        self.lines.append(raw)  # blank lines are not records

    def good(self, case: str, doc_id: str | int, text: str | None = None, expect: str | None = None) -> str:
        text = self.corpus.prose.document() if text is None else text
        self.lines.append(_jl({"id": doc_id, "text": text}))
        self.corpus.kept(case, self.source, self.rel, self._loc(), f"{self.source}/{doc_id}",
                         text=text if expect is None else expect)
        return text

    def bad(self, case: str, raw: bytes, stage: str, reason: str, doc_id: str | None = None,
            detail: str | None = None) -> None:
        self.lines.append(raw)
        loc = self._loc()
        self.corpus.rejected(case, self.source, self.rel, loc, doc_id or f"{self.source}/{loc}", stage, reason,
                             detail)

    def truncated(self, case: str) -> None:
        """The dead letter of a compressed file that breaks after the lines so far."""
        loc = f"{self.rel}:{len(self.lines) + 1}"
        self.corpus.rejected(case, self.source, self.rel, loc, f"{self.source}/{loc}", "read", "truncated_file")

    def data(self, eol: bytes = b"\n") -> bytes:
        return b"".join(line + eol for line in self.lines)

    def write(self) -> Path:
        path = self.corpus.file(self.source, self.rel)
        path.write_bytes(self.data())
        return path


# ---------------------------------------------------------------- JSONL

def _jsonl_cases(c: _Corpus) -> None:
    p = c.prose
    f = _JsonlFile(c, "jl", "main.jsonl")
    f.good("good record", "good-1")
    f.blank()
    f.blank(b"   \t ")
    f.good("good record", "good-2")
    # invalid UTF-8 inside a line: the whole line is a dead letter (no replacement characters)
    f.bad("invalid UTF-8 bytes", b'{"id": "u8", "text": "caf\xe9 ' + p.sentence(8).encode() + b'"}',
          "read", "invalid_utf8")
    f.bad("UTF-8-encoded surrogate bytes (CESU)", b'{"id": "sb", "text": "x \xed\xa0\x80 y"}', "read", "invalid_utf8")
    f.bad("lone surrogate escape", b'{"id": "se", "text": "cut \\ud800 here ' + p.sentence(6).encode() + b'"}',
          "read", "invalid_utf8")
    f.bad("lone low surrogate escape", b'{"id": "se2", "text": "x \\udc00"}', "read", "invalid_utf8")
    f.bad("lone surrogate in the id", b'{"id": "id\\ud800", "text": "fine"}', "read", "invalid_utf8")
    body = p.sentence(9)
    f.good("escaped surrogate pair (valid)", "pair", "emoji \U0001F600 " + body)
    # NULs and control characters: escaped in JSON they are text, removed by normalize; raw in the line
    # they make it invalid JSON (JSON forbids unescaped control characters in strings)
    body = p.sentence(10)
    f.good("escaped NULs", "nul", "al\u0000pha\u0000 " + body, expect="alpha " + body)
    body = p.sentence(10)
    f.good("escaped control characters, CRLF and a tab", "ctrl",
           "bell\u0007 esc\u001b del\u007f vt\u000b\r\n\tindented " + body + "\u0001",
           expect="bell esc del vt\n\tindented " + body)
    body = p.sentence(10)
    f.good("C1 control (NEL)", "c1", body + " and\u0085 more", expect=body + " and\u2026 more")
    body = p.sentence(10)
    f.good("BOM, zero-width no-break space inside the text", "bomtext", "\ufeff" + body + "\ufeff", expect=body)
    body = p.sentence(10)
    f.good("mojibake", "moji", "The cafÃ© " + body, expect="The café " + body)
    text = "\u200b\u200d\u2060\u200b"
    f.good("only zero-width characters (format, not whitespace: kept; rule sets, off here, drop it)", "zw", text)
    body = p.sentence(10)
    f.good("U+2028 line separator and U+3000 ideographic space are kept", "ls", body + "\u2028\u3000" + body)
    f.bad("raw NUL byte", b'{"id": "rawnul", "text": "a\x00b ' + p.sentence(5).encode() + b'"}',
          "read", "invalid_json")
    f.bad("raw control characters", b'{"id": "rawctl", "text": "a\x01\x1bb"}', "read", "invalid_json")
    f.bad("a line of NULs (zero-filled block)", b"\x00" * 64, "read", "invalid_json")
    # wrong types and nesting
    f.bad("text is a number", _jl({"id": "t-num", "text": 42}), "read", "bad_type:text", "jl/t-num")
    f.bad("text is a list", _jl({"id": "t-list", "text": ["a", "b"]}), "read", "bad_type:text", "jl/t-list")
    f.bad("text is null", _jl({"id": "t-null", "text": None}), "read", "bad_type:text", "jl/t-null")
    f.bad("text is a bool", _jl({"id": "t-bool", "text": True}), "read", "bad_type:text", "jl/t-bool")
    f.bad("nested text (a dict)", _jl({"id": "t-dict", "text": {"body": "nested", "lang": "en"}}),
          "read", "bad_type:text", "jl/t-dict")
    f.bad("id is an object", _jl({"id": {"x": 1}, "text": "fine"}), "read", "bad_type:id")
    f.bad("id is a list", _jl({"id": ["a"], "text": "fine"}), "read", "bad_type:id")
    f.bad("id is a float", _jl({"id": 1.5, "text": "fine"}), "read", "bad_type:id")
    f.bad("id is a bool", _jl({"id": True, "text": "fine"}), "read", "bad_type:id")
    f.bad("id is null", _jl({"id": None, "text": "fine"}), "read", "bad_type:id")
    f.bad("no text field", _jl({"id": "notext", "body": "x"}), "read", "missing_text", "jl/notext")
    f.bad("not an object: list", b'["a", "b"]', "read", "not_object")
    f.bad("not an object: string", b'"just a string"', "read", "not_object")
    f.bad("not an object: number", b"42", "read", "not_object")
    f.bad("not an object: null", b"null", "read", "not_object")
    f.bad("unterminated JSON", b'{"id": "cut", "text": "unterminated', "read", "invalid_json")
    f.bad("trailing garbage", b'{"id": "tg", "text": "x"} trailing', "read", "invalid_json")
    f.bad("pathological nesting", b"[" * 100_000, "read", "invalid_json")
    f.bad("integer past the digit limit", b'{"id": "bigint", "text": "t", "n": ' + b"9" * 5000 + b"}",
          "read", "invalid_json")
    f.bad("NaN (not JSON, but Python's parser accepts it): a wrong-typed text",
          b'{"id": "nan", "text": NaN}', "read", "bad_type:text", "jl/nan")
    # zero-length and empty-after-normalization documents
    f.bad("zero-length text", _jl({"id": "empty", "text": ""}), "normalize", "empty", "jl/empty")
    f.bad("whitespace-only text", _jl({"id": "ws", "text": " \t\r\n \u00a0\n"}), "normalize", "empty", "jl/ws")
    f.bad("only NULs and controls", _jl({"id": "nuls", "text": "\u0000\u0000\u0001\ufeff"}), "normalize", "empty",
          "jl/nuls")
    # duplicate ids: the first occurrence (file order, then line) is kept, later ones are dead letters
    first = f.good("duplicate id: first occurrence", "dup-a")
    f.bad("duplicate id in one file, other text", _jl({"id": "dup-a", "text": p.document()}), "read",
          "duplicate_id", "jl/dup-a")
    f.bad("duplicate id in one file, same text", _jl({"id": "dup-a", "text": first}), "read", "duplicate_id",
          "jl/dup-a")
    f.good("duplicate id across files: first occurrence", "dup-b")
    f.good("int id 7", 7)
    f.bad("string id '7' equals int id 7", _jl({"id": "7", "text": p.document()}), "read", "duplicate_id", "jl/7")
    f.good("last line without a newline", "no-eol")
    data = f.data()
    c.file("jl", f.rel).write_bytes(data[:-1])

    g = _JsonlFile(c, "jl", "other.jsonl")
    g.bad("duplicate id across files", _jl({"id": "dup-b", "text": p.document()}), "read", "duplicate_id", "jl/dup-b")
    g.good("good record in a second file", "other-1")
    c.file("jl", g.rel).write_bytes(g.data(b"\r\n"))  # CRLF line ends

    h = _JsonlFile(c, "jl", "bom.jsonl")
    h.good("UTF-8 BOM at the start of the file", "bom-1")
    h.good("line after a BOM line", "bom-2")
    c.file("jl", h.rel).write_bytes(b"\xef\xbb\xbf" + h.data())

    # empty files: not records, but listed in counts with 0
    c.file("jl", "empty.jsonl").write_bytes(b"")
    c.file("jl", "blank.jsonl").write_bytes(b"\n \n\r\n\t\n")
    c.file("jl", "empty.jsonl.gz").write_bytes(b"")
    c.file("jl", "empty-stream.jsonl.gz").write_bytes(gzip.compress(b""))
    c.file("jl", "empty.jsonl.zst").write_bytes(b"")

    # a gzip file cut inside its last line: the lines before are whole (flushed), the cut is one dead letter
    z = _JsonlFile(c, "jl", "cut.jsonl.gz")
    for i in range(4):
        z.good("line before a gzip cut", f"gz-{i}")
    head = z.data()
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        gz.write(head)
        gz.flush()                       # Z_SYNC_FLUSH: everything above decodes without what follows
        flushed = buf.tell()
        gz.write(_jl({"id": "gz-lost", "text": _incompressible(200_000)}) + b"\n")
    c.file("jl", z.rel).write_bytes(buf.getvalue()[: flushed + 20_000])
    z.truncated("truncated gzip")

    # a zstd file cut inside its second frame
    import zstandard

    zs = _JsonlFile(c, "jl", "cut.jsonl.zst")
    for i in range(4):
        zs.good("line before a zstd cut", f"zst-{i}")
    cctx = zstandard.ZstdCompressor()
    frame1 = cctx.compress(zs.data())
    frame2 = cctx.compress(_jl({"id": "zst-lost", "text": _incompressible(200_000)}) + b"\n")
    c.file("jl", zs.rel).write_bytes(frame1 + frame2[: len(frame2) // 2])
    zs.truncated("truncated zstd")

    n = _JsonlFile(c, "jl", "notgzip.jsonl.gz")
    c.file("jl", n.rel).write_bytes(_jl({"id": "ng", "text": "plain text named .gz"}) + b"\n")
    n.truncated("a .gz file that is not gzip")


def _name_survivors(c: _Corpus) -> None:
    """A duplicate's detail names its survivor's location: the first kept case with the same id (cases are
    added in file order, then line order)."""
    survivors: dict[str, str] = {}
    for i, case in enumerate(c.cases):
        if case.outcome == "kept":
            survivors.setdefault(case.id, case.location)
        elif case.reason == "duplicate_id":
            c.cases[i] = dataclasses.replace(case, detail=survivors[case.id])


def _incompressible(n: int) -> str:
    rng = random.Random(n)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return "".join(rng.choice(alphabet) for _ in range(n))


# ---------------------------------------------------------------- the big lines

def _big_cases(c: _Corpus, big_line_mb: int) -> None:
    f = _JsonlFile(c, "big", "big.jsonl")
    f.good("small line before the big ones", "before")
    block = "\n".join(c.prose.sentence(12) for _ in range(400))          # ~35 KB of lines
    size = big_line_mb << 20
    text = (block + "\n") * (size // (len(block) + 1) + 1)
    text = text[:size]
    head = text[:MAX_DOC_CHARS]
    f.good(f"a {big_line_mb} MB JSON record: cut at the last line end before read.max_doc_chars", "huge",
           text, expect=head[: head.rfind("\n")])
    del text
    f.bad(f"a {big_line_mb} MB line that is not JSON", b'{"id": "huge-broken", "text": "' + b"y" * size,
          "read", "invalid_json")
    f.good("small line after the big ones", "after")
    f.write()


# ---------------------------------------------------------------- WARC

def _warc_record(rec_type: bytes | None, record_id: bytes | None, url: bytes, block: bytes,
                 content_length: bytes | None = None, version: bytes = b"WARC/1.0",
                 extra: tuple[tuple[bytes, bytes], ...] = ()) -> bytes:
    headers = [(b"WARC-Type", rec_type)] if rec_type is not None else []
    if record_id is not None:
        headers.append((b"WARC-Record-ID", record_id))
    headers += [(b"WARC-Target-URI", url), (b"WARC-Date", b"2023-05-17T10:00:00Z")]
    headers.append((b"Content-Type", b"application/http; msgtype=response" if rec_type == b"response"
                    else b"text/plain"))
    headers += list(extra)
    headers.append((b"Content-Length", content_length if content_length is not None else str(len(block)).encode()))
    head = b"".join(k + b": " + v + b"\r\n" for k, v in headers)
    return version + b"\r\n" + head + b"\r\n" + block + b"\r\n\r\n"


def _http(payload: bytes, content_type: bytes | None = b"text/html; charset=utf-8") -> bytes:
    head = b"HTTP/1.1 200 OK\r\n" + (b"Content-Type: " + content_type + b"\r\n" if content_type else b"")
    return head + b"\r\n" + payload


class _WarcFile:
    def __init__(self, corpus: _Corpus, rel: str) -> None:
        self.corpus, self.rel = corpus, rel
        self.data = b""
        self.index = 0      # content records (response, conversion, or of no known type) so far

    def next_record(self, rid: str | None) -> tuple[str, str]:
        """(location, id) of the next record read: its WARC-Record-ID, else its index in the file."""
        self.index += 1
        loc = f"{self.rel}#{rid}" if rid else f"{self.rel}#record-{self.index}"
        return loc, f"wa/{rid}" if rid else f"wa/{loc}"

    def page(self, case: str, rid: str | None, rid_header: bytes | None = None, url: bytes | None = None,
             expect: bool = True) -> None:
        """An HTML response whose extracted text holds its second paragraph; `rid_header` overrides the
        WARC-Record-ID header written (default `<rid>`, none when rid is None)."""
        paragraphs = [self.corpus.prose.paragraph(5) for _ in range(3)]
        url = url or f"https://example.org/{self.rel}/{self.index + 1}".encode()
        header = rid_header if rid_header is not None else (f"<{rid}>".encode() if rid else None)
        self.data += _warc_record(b"response", header, url, _http(article("Harbour", paragraphs)))
        loc, doc_id = self.next_record(rid)
        if expect:
            self.corpus.kept(case, "wa", self.rel, loc, doc_id, contains=paragraphs[1])

    def wet(self, case: str, rid: str) -> None:
        text = self.corpus.prose.document()
        self.data += _warc_record(b"conversion", f"<{rid}>".encode(), b"https://example.org/wet", text.encode())
        loc, doc_id = self.next_record(rid)
        self.corpus.kept(case, "wa", self.rel, loc, doc_id, text=text)

    def other(self, raw: bytes) -> None:
        """A record that is not a content record (warcinfo, request): not a record read."""
        self.data += raw

    def bad(self, raw: bytes, case: str, rid: str | None, stage: str, reason: str) -> None:
        self.data += raw
        loc, doc_id = self.next_record(rid)
        self.corpus.rejected(case, "wa", self.rel, loc, doc_id, stage, reason)

    def truncated(self, case: str) -> None:
        """The dead letter of a file that breaks at its next record (which, if written, is replaced)."""
        loc = f"{self.rel}#record-{self.index + 1}"
        self.corpus.rejected(case, "wa", self.rel, loc, f"wa/{loc}", "read", "truncated_file")

    def write(self) -> None:
        self.corpus.file("wa", self.rel).write_bytes(self.data)


def _html_response(rid: bytes | None, url: bytes, paragraphs: list[str], **kwargs: Any) -> bytes:
    return _warc_record(b"response", rid, url, _http(article("Harbour", paragraphs)), **kwargs)


def _warc_cases(c: _Corpus) -> None:
    p = c.prose
    info = _warc_record(b"warcinfo", b"<urn:test:info>", b"", b"software: tests\r\n")

    w = _WarcFile(c, "good.warc")
    w.other(info)
    w.page("good HTML response", "urn:test:good-1")
    w.wet("WET conversion record", "urn:test:wet-1")
    w.bad(_warc_record(b"response", b"<urn:test:png>", b"https://example.org/logo.png",
                       _http(b"\x89PNG\r\n\x1a\n", b"image/png")),
          "non-HTML response", "urn:test:png", "read", "not_html")
    w.bad(_warc_record(b"response", b"<urn:test:blank>", b"https://example.org/blank",
                       _http(b"<html><body></body></html>")),
          "HTML with no text", "urn:test:blank", "extract", "no_text")
    w.other(_warc_record(b"request", b"<urn:test:req>", b"https://example.org/", b"GET / HTTP/1.1\r\n\r\n"))
    w.bad(_warc_record(b"conversion", b"<urn:test:wet-bad>", b"https://example.org/wet-bad", b"caf\xe9 au lait"),
          "WET record with invalid UTF-8", "urn:test:wet-bad", "read", "invalid_utf8")
    w.bad(_warc_record(b"response", b"<urn:test:nostatus>", b"https://example.org/nostatus",
                       b"<html><body><p>no HTTP head</p></body></html>"),
          "response without an HTTP status line", "urn:test:nostatus", "read", "not_html")
    w.page("non-UTF-8 bytes in the WARC-Target-URI header", "urn:test:latin1-url",
           url=b"https://example.org/caf\xe9")
    w.write()

    w = _WarcFile(c, "noid.warc")
    w.page("response without WARC-Record-ID: location id", None)
    w.page("response with an empty WARC-Record-ID '<>': location id", None, rid_header=b"<>")
    w.page("good response after records without ids", "urn:test:noid-ok")
    w.write()

    w = _WarcFile(c, "noid2.warc")  # the same record index in another file: the ids must not collide
    w.page("response without WARC-Record-ID in a second file", None)
    w.write()

    w = _WarcFile(c, "notype.warc")
    w.bad(_warc_record(None, b"<urn:test:notype>", b"https://example.org/notype",
                       _http(article("Harbour", [p.paragraph(5)]))),
          "record without WARC-Type", "urn:test:notype", "read", "bad_warc_record")
    w.bad(_warc_record(b"respnse", b"<urn:test:typo>", b"https://example.org/typo",
                       _http(article("Harbour", [p.paragraph(5)]))),
          "record of an unknown WARC-Type", "urn:test:typo", "read", "bad_warc_record")
    w.page("good response after records of no known type", "urn:test:notype-ok")
    w.write()

    w = _WarcFile(c, "dupid.warc")
    w.page("duplicate WARC-Record-ID: first occurrence", "urn:test:dup")
    w.bad(_html_response(b"<urn:test:dup>", b"https://example.org/dup-2", [p.paragraph(5) for _ in range(3)]),
          "duplicate WARC-Record-ID in one file", "urn:test:dup", "read", "duplicate_id")
    w.write()

    w = _WarcFile(c, "dupid2.warc")
    w.bad(_html_response(b"<urn:test:dup>", b"https://example.org/dup-3", [p.paragraph(5) for _ in range(3)]),
          "duplicate WARC-Record-ID across files", "urn:test:dup", "read", "duplicate_id")
    w.write()

    w = _WarcFile(c, "badversion.warc")
    w.page("good response before an unknown WARC version", "urn:test:bv-ok")
    w.truncated("unknown WARC version line: the rest of the file is unreadable")
    w.data += _html_response(b"<urn:test:bv>", b"https://example.org/bv", [p.paragraph(5)], version=b"WARC/9.9")
    w.data += _html_response(b"<urn:test:bv-lost>", b"https://example.org/bv-lost", [p.paragraph(5)])
    w.write()

    w = _WarcFile(c, "badlength.warc")
    w.page("good response before a non-numeric Content-Length", "urn:test:bl-ok")
    w.truncated("non-numeric Content-Length: the record's end is unknown")
    w.data += _html_response(b"<urn:test:bl>", b"https://example.org/bl", [p.paragraph(5)], content_length=b"abc")
    w.data += _html_response(b"<urn:test:bl-lost>", b"https://example.org/bl-lost", [p.paragraph(5)])
    w.write()

    w = _WarcFile(c, "nolength.warc")
    w.page("good response before one without Content-Length", "urn:test:nl-ok")
    w.truncated("no Content-Length: the record's end is unknown")
    w.data += _html_response(b"<urn:test:nl>", b"https://example.org/nl", [p.paragraph(5)], content_length=b"")
    w.data = w.data.replace(b"Content-Length: \r\n", b"")
    w.data += _html_response(b"<urn:test:nl-lost>", b"https://example.org/nl-lost", [p.paragraph(5)])
    w.write()

    w = _WarcFile(c, "reqnolength.warc")
    w.page("good response before a request record without Content-Length", "urn:test:rq-ok")
    w.truncated("request record without Content-Length: warcio would read the rest of the file into it")
    w.other(_warc_record(b"request", b"<urn:test:rq>", b"https://example.org/", b"GET / HTTP/1.1\r\n\r\n",
                         content_length=b"").replace(b"Content-Length: \r\n", b""))
    w.data += _html_response(b"<urn:test:rq-lost>", b"https://example.org/rq-lost", [p.paragraph(5)])
    w.write()

    w = _WarcFile(c, "shortlength.warc")
    w.page("good response before a too-small Content-Length", "urn:test:sl-ok")
    head = _http(b"")
    # the declared length covers the HTTP head and one byte of the page: an HTML page with no text; the rest
    # of the page is one line, which warcio skips (with a warning) before finding the next record
    w.bad(_html_response(b"<urn:test:sl>", b"https://example.org/sl", [p.paragraph(5)],
                         content_length=str(len(head) + 1).encode()),
          "too-small Content-Length: a cut HTML page", "urn:test:sl", "extract", "no_text")
    w.page("record after a too-small Content-Length: warcio finds it", "urn:test:sl-next")
    w.write()

    w = _WarcFile(c, "shortlength2.warc")
    w.page("good response before a Content-Length that ends inside the HTTP head", "urn:test:sh-ok")
    w.bad(_html_response(b"<urn:test:sh>", b"https://example.org/sh", [p.paragraph(5)],
                         content_length=str(len(b"HTTP/1.1 200 OK\r\nConte")).encode()),
          "Content-Length ending inside the HTTP head: no content type", "urn:test:sh", "read", "not_html")
    w.truncated("what follows a too-small Content-Length is not a record")
    w.data += _html_response(b"<urn:test:sh-lost>", b"https://example.org/sh-lost", [p.paragraph(5)])
    w.write()

    w = _WarcFile(c, "cut.warc")
    w.page("good response before a record cut by the end of the file", "urn:test:cut-ok")
    w.truncated("uncompressed WARC cut inside a record (Content-Length past the end of the file)")
    record = _html_response(b"<urn:test:cut>", b"https://example.org/cut", [p.paragraph(5) for _ in range(3)])
    w.data += record[: len(record) - 600]
    w.write()

    w = _WarcFile(c, "cutgz.warc.gz")
    members = [gzip.compress(info, mtime=0)]
    for i in range(2):
        w.data = b""
        w.page("record of a gzipped WARC before its cut", f"urn:test:gz-{i}")
        members.append(gzip.compress(w.data, mtime=0))
    w.truncated("gzipped WARC cut inside its last record")
    last = gzip.compress(_html_response(b"<urn:test:gz-2>", b"https://example.org/gz-2",
                                        [p.paragraph(5) for _ in range(3)]), mtime=0)
    c.file("wa", w.rel).write_bytes(b"".join(members) + last[: len(last) // 2])

    w = _WarcFile(c, "notwarc.warc")
    w.data = b"hello world\nthis is not a WARC file\n"
    w.truncated("a file that is not a WARC")
    w.write()

    c.file("wa", "empty.warc").write_bytes(b"")
    c.file("wa", "empty.warc.gz").write_bytes(b"")


# ---------------------------------------------------------------- Parquet

def _parquet_cases(c: _Corpus) -> None:
    p = c.prose
    texts = [p.document() for _ in range(4)]
    body = p.sentence(10)
    table = pa.table({
        "id": ["p1", "p2", None, "p4", "p5", "p1", "p7"],
        "text": [texts[0], None, texts[1], "", "nul\u0000 " + body, texts[2], texts[3]],
    })
    pq.write_table(table, c.file("pq", "good.parquet"))
    c.kept("Parquet row", "pq", "good.parquet", "good.parquet:1", "pq/p1", text=texts[0])
    c.rejected("Parquet null text", "pq", "good.parquet", "good.parquet:2", "pq/p2", "read", "missing_text")
    c.kept("Parquet null id: location id", "pq", "good.parquet", "good.parquet:3", "pq/good.parquet:3",
           text=texts[1])
    c.rejected("Parquet zero-length text", "pq", "good.parquet", "good.parquet:4", "pq/p4", "normalize", "empty")
    c.kept("Parquet text with a NUL", "pq", "good.parquet", "good.parquet:5", "pq/p5", text="nul " + body)
    c.rejected("Parquet duplicate id", "pq", "good.parquet", "good.parquet:6", "pq/p1", "read", "duplicate_id")
    c.kept("Parquet row after a duplicate", "pq", "good.parquet", "good.parquet:7", "pq/p7", text=texts[3])

    pq.write_table(pa.table({"id": ["i1", "i2"], "text": [1, 2]}), c.file("pq", "int_text.parquet"))
    for row in (1, 2):
        c.rejected("Parquet text column of integers", "pq", "int_text.parquet", f"int_text.parquet:{row}",
                   f"pq/i{row}", "read", "bad_type:text")
    pq.write_table(pa.table({"id": ["l1"], "text": [["a", "b"]]}), c.file("pq", "list_text.parquet"))
    c.rejected("Parquet text column of lists", "pq", "list_text.parquet", "list_text.parquet:1", "pq/l1",
               "read", "bad_type:text")
    pq.write_table(pa.table({"id": ["s1"], "text": [{"body": "nested"}]}), c.file("pq", "struct_text.parquet"))
    c.rejected("Parquet nested text (struct)", "pq", "struct_text.parquet", "struct_text.parquet:1", "pq/s1",
               "read", "bad_type:text")
    pq.write_table(pa.table({"id": ["b1"], "text": [b"bytes"]}), c.file("pq", "binary_text.parquet"))
    c.rejected("Parquet binary text column", "pq", "binary_text.parquet", "binary_text.parquet:1", "pq/b1",
               "read", "bad_type:text")
    pq.write_table(pa.table({"id": [1.5], "text": ["fine"]}), c.file("pq", "float_id.parquet"))
    c.rejected("Parquet float id", "pq", "float_id.parquet", "float_id.parquet:1", "pq/float_id.parquet:1",
               "read", "bad_type:id")
    pq.write_table(pa.table({"id": pa.array([], pa.string()), "text": pa.array([], pa.string())}),
                   c.file("pq", "zero_rows.parquet"))

    whole = io.BytesIO()
    pq.write_table(pa.table({"id": ["t1", "t2"], "text": [p.document(), p.document()]}), whole)
    c.file("pq", "truncated.parquet").write_bytes(whole.getvalue()[: len(whole.getvalue()) // 2])
    c.rejected("truncated Parquet (no footer)", "pq", "truncated.parquet", "truncated.parquet:1",
               "pq/truncated.parquet:1", "read", "truncated_file")
    c.file("pq", "empty.parquet").write_bytes(b"")
    c.rejected("empty Parquet file (0 bytes)", "pq", "empty.parquet", "empty.parquet:1", "pq/empty.parquet:1",
               "read", "truncated_file")

    # two row groups; the second's text column is corrupt: the first's rows are kept, then one dead letter
    texts = [p.document() for _ in range(6)]
    path = c.file("pq", "corrupt_rowgroup.parquet")
    pq.write_table(pa.table({"id": [f"rg{i}" for i in range(6)], "text": texts}), path, row_group_size=3,
                   compression="zstd")
    column = pq.ParquetFile(path).metadata.row_group(1).column(1)
    start = column.dictionary_page_offset or column.data_page_offset
    data = bytearray(path.read_bytes())
    data[start:start + 32] = b"\xff" * 32          # an unreadable page header
    path.write_bytes(bytes(data))
    for i in range(3):
        c.kept("Parquet row group before a corrupt one", "pq", "corrupt_rowgroup.parquet",
               f"corrupt_rowgroup.parquet:{i + 1}", f"pq/rg{i}", text=texts[i])
    c.rejected("Parquet row group with a corrupt page", "pq", "corrupt_rowgroup.parquet",
               "corrupt_rowgroup.parquet:4", "pq/corrupt_rowgroup.parquet:4", "read", "truncated_file")


# ---------------------------------------------------------------- plain text files

def _text_cases(c: _Corpus) -> None:
    p = c.prose
    text = p.document() + "\n"
    c.file("tx", "good.txt").write_text(text, encoding="utf-8")
    c.kept("plain text file", "tx", "good.txt", "good.txt", "tx/good.txt", text=text.rstrip("\n"))
    text = p.document()
    c.file("tx", "good.txt.gz").write_bytes(gzip.compress(text.encode(), mtime=0))
    c.kept("gzipped text file", "tx", "good.txt.gz", "good.txt.gz", "tx/good.txt.gz", text=text)
    c.file("tx", "latin1.txt").write_bytes(("caf\u00e9 " + p.sentence(8)).encode("latin-1"))
    c.rejected("text file with invalid UTF-8", "tx", "latin1.txt", "latin1.txt", "tx/latin1.txt", "read",
               "invalid_utf8")
    c.file("tx", "surrogate.txt").write_bytes(b"a \xed\xa0\x80 b")
    c.rejected("text file with an encoded surrogate", "tx", "surrogate.txt", "surrogate.txt", "tx/surrogate.txt",
               "read", "invalid_utf8")
    body = p.sentence(10)
    c.file("tx", "controls.txt").write_bytes(b"\xef\xbb\xbfnul\x00 bell\x07\r\n" + body.encode() + b"\x1b\n")
    c.kept("text file with a BOM, NULs, controls and CRLF", "tx", "controls.txt", "controls.txt",
           "tx/controls.txt", text="nul bell\n" + body)
    c.file("tx", "empty.txt").write_bytes(b"")
    c.rejected("empty text file", "tx", "empty.txt", "empty.txt", "tx/empty.txt", "read", "missing_text")
    c.file("tx", "blank.txt").write_bytes(b" \n\n\t\r\n")
    c.rejected("whitespace-only text file", "tx", "blank.txt", "blank.txt", "tx/blank.txt", "read", "missing_text")
    c.file("tx", "nuls.txt").write_bytes(b"\x00\x00\x00\n")
    c.rejected("text file of NULs", "tx", "nuls.txt", "nuls.txt", "tx/nuls.txt", "normalize", "empty")
    data = gzip.compress((p.document() * 20).encode(), mtime=0)
    c.file("tx", "cut.txt.gz").write_bytes(data[: len(data) // 2])
    c.rejected("truncated gzipped text file", "tx", "cut.txt.gz", "cut.txt.gz", "tx/cut.txt.gz", "read",
               "truncated_file")
    c.file("tx", "notgzip.txt.gz").write_bytes(b"plain text named .gz")
    c.rejected("a .gz text file that is not gzip", "tx", "notgzip.txt.gz", "notgzip.txt.gz", "tx/notgzip.txt.gz",
               "read", "truncated_file")
    import zstandard

    frame = zstandard.ZstdCompressor().compress((p.document() * 20).encode())
    c.file("tx", "cut.txt.zst").write_bytes(frame[: len(frame) // 2])
    c.rejected("truncated zstd text file", "tx", "cut.txt.zst", "cut.txt.zst", "tx/cut.txt.zst", "read",
               "truncated_file")


# ---------------------------------------------------------------- entry point

def write_hostile_corpus(dir: Path, big_line_mb: int = 50) -> dict:  # noqa: A002 - the documented signature
    """Writes the corpus under `dir` and returns its ground truth:

    - `sources`: {name: config entry (paths relative to `dir`)}
    - `cases`: [{case, source, file, location, id, outcome, stage, reason, text, contains, detail}], one per
      record read (a blank line is not a record; a truncated file's dead letter is one)
    - `files`: {source: {file: records read}} (empty files with 0)
    - `read`: the `read:` config section the expectations assume (max_doc_chars, split_bytes)
    """
    root = Path(dir)
    root.mkdir(parents=True, exist_ok=True)
    c = _Corpus(root)
    _jsonl_cases(c)
    _warc_cases(c)
    _parquet_cases(c)
    _text_cases(c)
    if big_line_mb > 0:
        _big_cases(c, big_line_mb)
    else:
        del c.files["big"]
    _name_survivors(c)
    sources = {name: dict(entry) for name, entry in SOURCES.items() if name in c.files}
    return {
        "sources": sources,
        "cases": [dataclasses.asdict(case) for case in c.cases],
        "files": c.files,
        "read": {"max_doc_chars": MAX_DOC_CHARS, "split_bytes": SPLIT_BYTES, "oversize": "cut"},
    }
