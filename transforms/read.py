"""ReadDocuments: list input files, split them into ranges, read records into `Document`s.

Input: the pipeline root. Output (main): `Document`; tagged `DROPPED`: Documents the key filter dropped;
tagged `REJECTED`: `Rejected` dead letters (stage
`read`: invalid_json, not_object, missing_text, bad_type:<field>, invalid_utf8, truncated_file, duplicate_id,
not_html, bad_warc_record, too_large); tagged `COUNTS`: (`<source>\t<relpath>`, records) per range, so
records read per file are an output and exact on every runner. A record is a non-blank line; blank lines
are not records. A UTF-8 byte-order mark at the start of a file is not part of its first record.

Work distribution: files are listed at run time (so globs on gs:// or s3:// resolve on the workers),
uncompressed files are split into byte ranges of `read.split_bytes` (a line belongs to the range holding
its first byte), compressed files are one range each (gzip is not splittable). Ranges are Reshuffled
before reading. Each range is read twice: the first read sends only each document's id and place (range
id, position, location, URL) through the group by id; the first occurrence of each id goes, as a
`Candidate`, through the key filter (FilterUrls: blocklists and the group by URL, transforms/urls.py);
the verdicts go back to their range (combined into lists where they are decided, so the group by
range moves a few lists per range, not one element per record), and the second read turns them into
documents, `duplicate_id` dead letters and the key filter's drops (DROPPED: Documents marked
`<stage>:<reason>`). So no document crosses a shuffle before extraction (whole-document groups by id and
by URL moved every input document twice: 98 and 96 MB of the 100 MB benchmark corpus), for a second
decompression and parse of the input.

The second read works in windows (`plan_windows`): a JSONL range's verdicts are cut into [first, end)
ordinal windows of about equal work (characters of kept documents, an eighth of that for dropped ones;
the first read sends each record's size with its range), at most WINDOW_CHARS each and MAX_WINDOWS per
range; the windows are Reshuffled, and each reads the range's lines up to its end, parsing only its own.
So one large gzip file does not leave its extraction to one worker, for at most (MAX_WINDOWS + 1) / 2
decompressions of it. Other formats are one window per range.

Document ids: `<source>/<id field>` when the source names an id field and the record has it, else
`<source>/<path relative to the source's common root>:<line>`; both independent of how the input is
split. Ids are unique: documents that share one (an id field repeated in the input, 7 and "7", a WARC
record id used twice) keep the first occurrence (file, then line or row, then position in the file) and
the others become `duplicate_id` dead letters whose detail is the survivor's location.
Compression from the file name: .gz (Python's gzip), .zst (zstandard, any number of frames), others
through Beam. A compressed file that ends early or is corrupt yields its good records and one
`truncated_file` dead letter at the line where it broke (what followed cannot be known, so it cannot be
counted); Beam's own readers stop quietly at a cut gzip or zstd stream, so those two are decoded here.

Format `parquet` (one range per file): each row is a record with the source's text/id/url/date columns
(a null cell counts as a missing field), location `<file>:<row>` (1-based); a file that is not Parquet
or breaks while reading is one `truncated_file` dead letter after the rows read (read one row group at a
time, so the row groups before a corrupt one are kept). Format `text`: each file (plain or compressed) is
one document, id `<source>/<relative path>`; non-UTF-8 bytes are an `invalid_utf8` dead letter, a cut or
corrupt compressed file a `truncated_file` one (gzip and zstd decoded as for JSONL).
Format `warc` (warcio; .warc or .warc.gz, one range per file): a record is a WARC `response` or
`conversion` record. Responses with an HTML content type become documents whose undecoded bytes wait
in `raw` for ExtractText (with the HTTP charset in `meta`); other responses are `not_html` dead letters;
WET conversion records are text already. Ids are `<source>/<WARC-Record-ID>`, locations
`<file>#<WARC-Record-ID>` (a record without an id: location `<file>#record-<n>`, the n-th record read in
the file, and id `<source>/<location>`); url and crawl_date come from WARC-Target-URI and WARC-Date. A
record without a WARC-Type, or of an unknown one, is a `bad_warc_record` dead letter (warcinfo, request,
metadata, revisit, resource and continuation records are not records read). A record without a numeric
Content-Length, or that the file ends inside, is the file's `truncated_file` dead letter.
Oversized documents (`read.max_doc_chars`, default 5M characters; bytes for undecoded HTML) are cut at
a line end before the limit (`read.oversize: cut`, `meta.cut_from_chars`, counter `cut:too_large`) or
rejected as `too_large` (`oversize: reject`; HTML is always rejected), so one giant record cannot
exhaust a worker downstream.
Metrics namespace `read`: `docs_in` (records), `kept`, `dropped:<reason>`, `cut:too_large`.
"""

from __future__ import annotations

import bisect
import codecs
import dataclasses
import gzip
import json
import posixpath
import zlib
from array import array
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple

import apache_beam as beam
import pyarrow as pa
from apache_beam import pvalue
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from transforms.counters import CountingDoFn, StageCounters
from transforms.document import Document, Rejected
from transforms.hashing import hash64
from transforms.runtime import tune_process

STAGE = "read"
FORMATS = ("jsonl", "warc", "parquet", "text")
HTML_TYPES = ("text/html", "application/xhtml+xml")
_GLOB_CHARS = "*?["
_COUNT_CHUNK = 1 << 22
_SKIP_CHUNK = 1 << 20
SKIPPED = None              # `_records`' placeholder for a record before the window the second read needs
WINDOW_CHARS = 2_000_000    # the second read's unit: at most this many characters of kept documents...
MAX_WINDOWS = 4             # ...unless a range would need more windows than this (each re-reads its prefix)
DROPPED_WORK = 8            # a dropped document costs the second read about 1/8 of a kept one of its size
                            # (parsed, not extracted; 100 MB benchmark: 0.03 s per MB against 0.26)


@dataclasses.dataclass(frozen=True)
class SourceConfig:
    """One input source (a mixing bucket). Paths are absolute or remote after config resolution."""

    name: str
    paths: tuple[str, ...]
    format: str = "jsonl"
    text_field: str = "text"
    id_field: str | None = None
    url_field: str | None = "url"
    date_field: str | None = "date"
    license: str | None = None
    lang: str | None = None      # a fixed label (e.g. "code"): skips language ID for this source

    def __post_init__(self) -> None:
        if not self.name or any(c in self.name for c in "/|@:") or self.name != self.name.strip():
            raise ValueError(f"sources: a name must be non-empty, without '/', '|', '@' or ':' (used in ids, "
                             f"buckets and reasons), got {self.name!r}")
        if not self.paths:
            raise ValueError(f"sources.{self.name}.paths must list at least one path or glob")
        if self.format not in FORMATS:
            raise ValueError(f"sources.{self.name}.format must be one of {FORMATS}, got {self.format!r}")


OVERSIZE = ("cut", "reject")


@dataclasses.dataclass(frozen=True)
class ReadConfig:
    split_bytes: int = 64 << 20  # range size for uncompressed files
    max_doc_chars: int = 5_000_000   # a longer document is cut there or rejected (`oversize`), counted
    oversize: str = "cut"            # cut: keep the first max_doc_chars (at a line end when there is one)

    def __post_init__(self) -> None:
        if self.split_bytes < 1024:
            raise ValueError(f"read.split_bytes must be >= 1024, got {self.split_bytes}")
        if self.max_doc_chars < 1:
            raise ValueError(f"read.max_doc_chars must be >= 1, got {self.max_doc_chars}")
        if self.oversize not in OVERSIZE:
            raise ValueError(f"read.oversize must be one of {', '.join(OVERSIZE)}, got {self.oversize!r}")


def limit_size(doc: Document, cfg: ReadConfig) -> Document | Rejected:
    """A document within `max_doc_chars` (characters of text, bytes of undecoded HTML) as it is; a longer
    one rejected as `too_large`, or cut at the last line end before the limit (else at the limit) with
    `meta["cut_from_chars"]` = its original size."""
    size = len(doc.raw) if doc.raw is not None else len(doc.text)
    if size <= cfg.max_doc_chars:
        return doc
    if cfg.oversize == "reject" or doc.raw is not None:  # HTML cannot be cut safely: rejected
        return Rejected(id=doc.id, source=doc.source, stage=STAGE, reason="too_large", location=doc.location,
                        text=doc.text[:2000] if doc.raw is None else None, detail=str(size), chars=size)
    head = doc.text[:cfg.max_doc_chars]
    cut = head.rfind("\n")
    text = head[:cut] if cut > 0 else head
    return doc.replace(text=text, meta={**doc.meta, "cut_from_chars": str(size)})


@dataclasses.dataclass(frozen=True)
class FileRange:
    source: str
    path: str
    relpath: str
    start: int
    end: int           # -1: to the end of the file (compressed files)


class Candidate(NamedTuple):
    """A document as the read's key filter sees it (`ReadDocuments(key_filter=...)`), before the second
    read: its id, location and URL, and `place` = (range id, ordinal), where that read finds it again."""

    id: str
    location: str
    url: str | None
    place: Place


# What a key filter decides for a Candidate, (place, verdict): verdict None keeps the document, else
# (stage, reason, detail, duplicate_of) drops it (`Document.dropped(*verdict)`). Plain tuples: they cross a group.
Verdict = tuple[str, str, str | None, str | None] | None
Place = tuple[int, int]                    # (range id, ordinal): where the second read finds a document
IdRecord = tuple[int, int, str, str | None]   # what the group by id carries: (range id, ordinal, location, url)


class RangeWindow(NamedTuple):
    """The second read's unit of work: the records of the range `key` (`range_key`) with ordinals in
    [first, end), and the verdicts on its Documents, (ordinal, verdict) in ordinal order."""

    key: str
    first: int
    end: int
    verdicts: list[tuple[int, Verdict]]


# ---------------------------------------------------------------- pure functions

def glob_root(pattern: str) -> str:
    """The directory part of a glob before its first wildcard; ids are relative to it."""
    cut = min((i for i, ch in enumerate(pattern) if ch in _GLOB_CHARS), default=None)
    head = pattern if cut is None else pattern[:cut]
    return posixpath.dirname(head) if cut is not None or not head.endswith("/") else head.rstrip("/")


def common_root(patterns: tuple[str, ...]) -> str:
    """The deepest directory containing every pattern's glob root (works for scheme:// URIs too)."""
    parts = [glob_root(p).split("/") for p in patterns]
    common = []
    for column in zip(*parts, strict=False):
        if any(c != column[0] for c in column):
            break
        common.append(column[0])
    return "/".join(common)


def relative_path(path: str, root: str) -> str:
    if root and path.startswith(root.rstrip("/") + "/"):
        return path[len(root.rstrip("/")) + 1:]
    return posixpath.basename(path)


def is_compressed(path: str) -> bool:
    return CompressionTypes.detect_compression_type(path) != CompressionTypes.UNCOMPRESSED


def split_file(source: str, path: str, relpath: str, size: int, split_bytes: int,
               splittable: bool = True) -> list[FileRange]:
    if not splittable or is_compressed(path) or size <= split_bytes:
        return [FileRange(source, path, relpath, 0, -1)]
    return [FileRange(source, path, relpath, start, min(start + split_bytes, size))
            for start in range(0, size, split_bytes)]


def parse_record(line: bytes, src: SourceConfig, relpath: str, lineno: int) -> Document | Rejected:
    """Parse one JSONL line into a Document, or a Rejected dead letter naming file and line."""
    location = f"{relpath}:{lineno}"
    if lineno == 1 and line.startswith(codecs.BOM_UTF8):  # a file written with a BOM: not part of the record
        line = line[len(codecs.BOM_UTF8):]
    try:
        raw = line.decode("utf-8")
    except UnicodeDecodeError:
        return _reject(src, location, "invalid_utf8", line)
    try:
        record = json.loads(raw)
    except (ValueError, RecursionError):  # JSONDecodeError, int digit limit, pathological nesting
        return _reject(src, location, "invalid_json", line)
    return record_document(record, src, location, line)


def _reject(src: SourceConfig, location: str, reason: str, raw: bytes | str, doc_id: str | None = None) -> Rejected:
    text = raw[:2000].decode("utf-8", "replace") if isinstance(raw, bytes) else raw[:2000]
    return Rejected(id=doc_id or f"{src.name}/{location}", source=src.name, stage=STAGE, reason=reason,
                    location=location, text=text)


def record_document(record: Any, src: SourceConfig, location: str, raw: bytes | str) -> Document | Rejected:
    """A parsed record (a JSON object, a Parquet row) -> Document, or a dead letter (`raw` is kept in it)."""
    fallback_id = f"{src.name}/{location}"
    if not isinstance(record, dict):
        return _reject(src, location, "not_object", raw)
    doc_id = fallback_id
    if src.id_field and src.id_field in record:
        raw_id = record[src.id_field]
        if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)):
            return _reject(src, location, f"bad_type:{src.id_field}", raw)
        doc_id = f"{src.name}/{raw_id}"
    if src.text_field not in record:
        return _reject(src, location, "missing_text", raw, doc_id)
    text = record[src.text_field]
    if not isinstance(text, str):
        return _reject(src, location, f"bad_type:{src.text_field}", raw, doc_id)
    url, date = _optional_str(record, src.url_field), _optional_str(record, src.date_field)
    if not all(_encodable(v) for v in (text, doc_id, url, date)):  # JSON "\ud83d": a lone surrogate
        return _reject(src, location, "invalid_utf8", raw)
    return Document(id=doc_id, source=src.name, text=text, location=location,
                    url=url, crawl_date=date, license=src.license, lang=src.lang)


def iter_parquet_records(fr: FileRange, src: SourceConfig) -> Iterator[Document | Rejected]:
    """Rows of a Parquet file (locations `<file>:<row>`, 1-based): the source's text/id/url/date columns,
    missing ones as null. A file that is not Parquet, or breaks while reading, raises TruncatedFile after
    the rows read so far."""
    import pyarrow.parquet as pq

    fields = [f for f in (src.text_field, src.id_field, src.url_field, src.date_field) if f]
    row = 0
    try:
        with FileSystems.open(fr.path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
            pf = pq.ParquetFile(fh)
            columns = [f for f in dict.fromkeys(fields) if f in pf.schema_arrow.names]
            for group in range(pf.num_row_groups):  # a batch never spans two: a corrupt group loses only itself
                for batch in pf.iter_batches(batch_size=1024, row_groups=[group], columns=columns):
                    for record in batch.to_pylist():
                        row += 1
                        present = {k: v for k, v in record.items() if v is not None}  # a null cell = no field
                        yield record_document(present, src, f"{fr.relpath}:{row}",
                                              json.dumps(record, ensure_ascii=False, default=str))
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise TruncatedFile(row, f"{type(exc).__name__}: {exc}") from None


def iter_text_file(fr: FileRange, src: SourceConfig) -> Iterator[Document | Rejected]:
    """A plain-text file is one document (id `<source>/<relative path>`, location the relative path);
    text that is not UTF-8 is a dead letter, and so is a compressed file that is cut or corrupt
    (`truncated_file`: a part of a document is not the document)."""
    try:
        data = b"".join(line for _, line in _iter_compressed_lines(fr, keep_ends=True))
    except TruncatedFile as exc:
        yield Rejected(id=f"{src.name}/{fr.relpath}", source=src.name, stage=STAGE, reason="truncated_file",
                       location=fr.relpath, detail=str(exc))
        return
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        yield _reject(src, fr.relpath, "invalid_utf8", data, f"{src.name}/{fr.relpath}")
        return
    if not text.strip():
        yield _reject(src, fr.relpath, "missing_text", data, f"{src.name}/{fr.relpath}")
        return
    yield Document(id=f"{src.name}/{fr.relpath}", source=src.name, text=text, location=fr.relpath,
                   license=src.license, lang=src.lang)


def _encodable(value: str | None) -> bool:
    try:
        value is None or value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _optional_str(record: dict, field: str | None) -> str | None:
    value = record.get(field) if field else None
    return value if isinstance(value, str) else None


def iter_range_lines(fr: FileRange) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, line without newline) for the non-blank lines owned by the range."""
    if fr.end < 0:
        yield from _iter_compressed_lines(fr)
        return
    with FileSystems.open(fr.path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
        if fr.start > 0:
            # Whether byte start-1 is a newline or not, the first line owned by this range is line
            # (newlines in [0, start-1)) + 2: skip to it.
            lineno = _count_newlines(fh, fr.start - 1) + 2
            fh.seek(fr.start - 1)
            _skip_line(fh)
            pos = fh.tell()
        else:
            lineno, pos = 1, 0
        while pos < fr.end:
            line = fh.readline()
            if not line:
                break
            if line.strip():
                yield lineno, line.rstrip(b"\r\n")
            pos += len(line)
            lineno += 1


def _skip_line(fh: Any) -> None:
    """Reads past the next newline in chunks: a range that starts inside a line of gigabytes (owned by an
    earlier range) never holds that line in memory."""
    while (chunk := fh.readline(_SKIP_CHUNK)) and not chunk.endswith(b"\n"):
        pass


class TruncatedFile(Exception):
    """A compressed file whose stream ends early or is corrupt after `lineno` good lines."""

    def __init__(self, lineno: int, detail: str) -> None:
        super().__init__(detail)
        self.lineno = lineno


_ZSTD_CHUNK = 1 << 20


def _zstd_lines(raw: Any) -> Iterator[bytes]:
    """Lines of a zstd stream (one or more frames). Beam's CompressedFile stops quietly where a cut zstd
    file ends, losing the rest without a word; here a frame that does not reach its end raises EOFError."""
    import zstandard

    dobj, fed, pending = zstandard.ZstdDecompressor().decompressobj(), False, b""
    while chunk := raw.read(_ZSTD_CHUNK):
        while chunk:
            fed = True
            try:
                pending += dobj.decompress(chunk)
            except zstandard.ZstdError as exc:  # corrupt data: like a cut stream, the rest is unknowable
                raise EOFError(f"corrupt zstd data: {exc}") from None
            chunk = b""
            if dobj.eof:  # a frame ended: what is left of the chunk starts the next frame
                chunk = dobj.unused_data
                dobj, fed = zstandard.ZstdDecompressor().decompressobj(), False
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield line + b"\n"
    if fed and not dobj.eof:
        raise EOFError("zstd stream ends inside a frame")
    if pending:
        yield pending


def _iter_compressed_lines(fr: FileRange, keep_ends: bool = False) -> Iterator[tuple[int, bytes]]:
    """Lines of a whole (compressed or plain) file: the non-blank ones without their line end, or with
    `keep_ends` every line as it is. gzip goes through Python's gzip module, which notices a missing end
    of stream (Beam's CompressedFile silently stops there, losing the rest of the file)."""
    lineno = 0
    try:
        for line in _whole_file_lines(fr.path):
            lineno += 1
            if keep_ends:
                yield lineno, line
            elif line.strip():
                yield lineno, line.rstrip(b"\r\n")
    except (EOFError, OSError, zlib.error) as exc:
        raise TruncatedFile(lineno, f"{type(exc).__name__}: {exc}") from None


def _whole_file_lines(path: str) -> Iterator[bytes]:
    compression = CompressionTypes.detect_compression_type(path)
    if compression == CompressionTypes.GZIP:
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as raw, \
                gzip.GzipFile(fileobj=raw) as fh:
            yield from fh
    elif compression == CompressionTypes.ZSTD:
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as raw:
            yield from _zstd_lines(raw)
    else:
        with FileSystems.open(path) as fh:  # plain, or another codec detected from the extension
            while line := fh.readline():  # Beam's CompressedFile is not iterable
                yield line


def _http_content_type(record: Any) -> tuple[str, str | None]:
    """(mime type, charset or None) of a WARC response's HTTP headers."""
    value = (record.http_headers.get_header("Content-Type") if record.http_headers else None) or ""
    mime, _, params = value.partition(";")
    charset = None
    for param in params.split(";"):
        key, _, val = param.strip().partition("=")
        if key.lower() == "charset" and val:
            charset = val.strip().strip("'\"")
    return mime.strip().lower(), charset


def _gzip_error(path: str) -> str | None:
    """Why a gzip file does not decompress to its end (None if it does), in one streaming pass."""
    try:
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as raw, \
                gzip.GzipFile(fileobj=raw) as fh:
            while fh.read(1 << 20):
                pass
    except (EOFError, OSError, zlib.error) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def iter_warc_records(fr: FileRange, src: SourceConfig) -> Iterator[Document | Rejected]:
    """Documents of one WARC/WET file: `response` records with HTML keep their undecoded bytes in `raw`
    for ExtractText; `conversion` records (WET) are text already; other responses are dead letters
    (`not_html`), and so are records of no known type (`bad_warc_record`) and a record id repeated in the
    file (`duplicate_id`). warcinfo, request, metadata, revisit, resource and continuation records are not
    content records and are not counted. warcio yields the cut record of a truncated .warc.gz as if it
    were whole, so a gzipped file is first checked to decompress to its end; if it does not, its last
    record is replaced by the dead letter."""
    broken = _gzip_error(fr.path) if fr.path.endswith(".gz") else None
    held: Document | Rejected | None = None
    count = 0
    try:
        for item in _warc_items(fr, src):
            if held is not None:
                yield held
            held, count = item, count + 1
    except TruncatedFile:
        if held is not None:  # warcio stopped with an error: the record before it is whole
            yield held
        raise
    if broken:  # warcio finished quietly on a cut gzip stream: its last record is the cut one
        raise TruncatedFile(max(count - 1, 0), broken)
    if held is not None:
        yield held


_WARC_CONTENT = ("response", "conversion")
_WARC_OTHER = ("warcinfo", "request", "metadata", "revisit", "resource", "continuation", "arc_header")
_DRAIN_CHUNK = 1 << 16


class _BrokenRecord(Exception):
    """The record being read cannot be delimited or ends early: it and the rest of the file are lost."""


def _warc_items(fr: FileRange, src: SourceConfig) -> Iterator[Document | Rejected]:
    """Items of one WARC file in order. A break while reading a record replaces that record (TruncatedFile
    after the records before it); a break between records, or inside a record that is not a record read
    (a request without a Content-Length would swallow the rest of the file), comes after them."""
    from warcio.archiveiterator import ArchiveIterator
    from warcio.exceptions import ArchiveLoadFailed

    index, in_record = 0, False
    seen: set[str] = set()  # record ids of this file's documents: a repeated one is a duplicate_id
    try:
        with FileSystems.open(fr.path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
            for record in ArchiveIterator(fh):
                read = record.rec_type not in _WARC_OTHER  # content, or of no known type: a record read
                if read:
                    index, in_record = index + 1, True
                _check_length(record)
                item = _warc_item(record, fr, src, index, seen) if read else None
                _read_to_end(record)
                in_record = False
                if item is not None:
                    yield item
    except (ArchiveLoadFailed, EOFError, OSError, zlib.error, _BrokenRecord) as exc:
        raise TruncatedFile(index - 1 if in_record else index, f"{type(exc).__name__}: {exc}") from None


def _check_length(record: Any) -> None:
    """warcio reads a record without a Content-Length to the end of the file and one with a bad length as
    empty (its block then breaks the next record): either way where it ends is unknown."""
    if record.format != "warc":
        return
    declared = record.rec_headers.get_header("Content-Length")
    if not (declared or "").strip().isdigit():
        raise _BrokenRecord(f"Content-Length {declared!r}: the record's end is unknown")


def _read_to_end(record: Any) -> None:
    """Reads what is left of the record (warcio would, before the next one); a record that the file ends
    inside (fewer bytes than its Content-Length) raises _BrokenRecord."""
    stream = record.raw_stream
    while stream.read(_DRAIN_CHUNK):
        pass
    if getattr(stream, "limit", 0) > 0:
        raise _BrokenRecord(f"the file ends {stream.limit} bytes before the record does")


def _warc_item(record: Any, fr: FileRange, src: SourceConfig, index: int, seen: set[str]) -> Document | Rejected:
    """One record read (content, or of no known type): a Document or a dead letter."""
    record_id = (record.rec_headers.get_header("WARC-Record-ID") or "").strip().strip("<>").strip()
    location = f"{fr.relpath}#{record_id or f'record-{index}'}"
    doc_id = f"{src.name}/{record_id}" if record_id else f"{src.name}/{location}"  # unique across files
    if record.rec_type not in _WARC_CONTENT:  # no WARC-Type, or an unknown one: not silently skipped
        return Rejected(doc_id, src.name, STAGE, "bad_warc_record", location, detail=f"WARC-Type {record.rec_type!r}")
    if record_id in seen:  # the first record with this id in the file is the document
        return Rejected(doc_id, src.name, STAGE, "duplicate_id", location, detail=location)
    item = _warc_content(record, src, doc_id, location, record_id)
    if isinstance(item, Document) and record_id:
        seen.add(record_id)
    return item


def _warc_content(record: Any, src: SourceConfig, doc_id: str, location: str, record_id: str) -> Document | Rejected:
    headers = record.rec_headers
    doc = Document(id=doc_id, source=src.name, text="", location=location,
                   url=headers.get_header("WARC-Target-URI"), crawl_date=headers.get_header("WARC-Date"),
                   license=src.license, lang=src.lang, meta={"warc_record_id": record_id} if record_id else {})
    if record.rec_type == "conversion":
        try:
            return doc.replace(text=record.content_stream().read().decode("utf-8"))
        except UnicodeDecodeError:
            return Rejected(doc.id, src.name, STAGE, "invalid_utf8", location)
    mime, charset = _http_content_type(record)
    if mime not in HTML_TYPES:  # decided before reading: a video payload is never loaded
        return Rejected(doc.id, src.name, STAGE, "not_html", location, detail=mime or None)
    meta = {**doc.meta, "http_charset": charset} if charset else doc.meta
    return doc.replace(raw=record.content_stream().read(), meta=meta)


def _count_newlines(fh: Any, upto: int) -> int:
    """Newlines in bytes [0, upto): line numbers stay exact however the file is split."""
    fh.seek(0)
    count, remaining = 0, upto
    while remaining > 0:
        chunk = fh.read(min(_COUNT_CHUNK, remaining))
        if not chunk:
            break
        count += chunk.count(b"\n")
        remaining -= len(chunk)
    return count


# ---------------------------------------------------------------- DoFns

def _records(fr: FileRange, src: SourceConfig, first: int = 0) -> Iterator[Document | Rejected | None]:
    """The range's records in order; with `first` (JSONL only: a line is skipped without being parsed),
    `SKIPPED` in place of each record before that ordinal."""
    if src.format == "warc":
        yield from iter_warc_records(fr, src)
        return
    if src.format == "parquet":
        yield from iter_parquet_records(fr, src)
        return
    if src.format == "text":
        yield from iter_text_file(fr, src)
        return
    for ordinal, (lineno, line) in enumerate(iter_range_lines(fr)):
        yield SKIPPED if ordinal < first else parse_record(line, src, fr.relpath, lineno)


class _ListFilesFn(beam.DoFn):
    def __init__(self, sources: tuple[SourceConfig, ...], cfg: ReadConfig) -> None:
        super().__init__()
        self._sources = {s.name: s for s in sources}
        self._cfg = cfg

    def process(self, name: str) -> Iterable[FileRange]:
        src = self._sources[name]
        root = common_root(src.paths)
        matched = {m.path: m.size_in_bytes for pattern in src.paths
                   for m in FileSystems.match([pattern])[0].metadata_list}  # overlapping globs: each file once
        for path in sorted(matched):
            yield from split_file(name, path, relative_path(path, root), matched[path], self._cfg.split_bytes,
                                  splittable=src.format == "jsonl")


_COUNT_EVERY = 1000  # records between two increments of read's docs_in counter


def range_key(fr: FileRange) -> str:
    """A file range as a string (what `range_id` hashes and the second read gets); `file_range` inverts it."""
    return json.dumps([fr.source, fr.path, fr.relpath, fr.start, fr.end])


def file_range(key: str) -> FileRange:
    return FileRange(*json.loads(key))


def range_id(fr: FileRange) -> int:
    """The compact id a range's records carry through the groups of keys (63 bits: a signed varint); the
    range itself joins them once, at the group by range, which fails loudly should two ranges share one."""
    return hash64(0, range_key(fr)) >> 1


def first_occurrence(location: str, key: int, ordinal: int) -> tuple[str, int, str, int, int]:
    """Order of the records that share an id: file, then line or row (numerically), then their position in
    the file range read (two WARC records with the same WARC-Record-ID share a location): a total order,
    so the survivor does not depend on arrival order."""
    head, sep, tail = location.rpartition(":")
    if sep and tail.isdigit():
        return head, int(tail), location, key, ordinal
    return location, -1, location, key, ordinal


def id_decisions(seen: Iterable[IdRecord]) -> Iterator[tuple[IdRecord, str | None]]:
    """The records of one id, each as (range id, ordinal, location, url): (record, None) for the first
    occurrence, (record, the first occurrence's location) for every other one. Two streaming passes over
    the (re-iterable) group."""
    first = min(seen, key=lambda r: first_occurrence(r[2], r[0], r[1]), default=None)
    if first is None:
        return
    for record in seen:
        same = record[0] == first[0] and record[1] == first[1]
        yield record, (None if same else first[2])


def window_weight(chars: int, verdict: Verdict) -> int:
    """The second read's work on one document, in characters: all of them when it is kept (extraction and
    every stage after it work on those), `DROPPED_WORK` times fewer when a verdict drops it."""
    return chars if verdict is None else chars // DROPPED_WORK


def plan_windows(ordinals: Sequence[int], work: Sequence[int], window_chars: int,
                 max_windows: int) -> list[tuple[int, int]]:
    """The second read's windows over one range: [first, end) ordinal intervals, in order, that cover
    `ordinals` (sorted: the records with a verdict) and start and end on them. `work[i]` is the work
    behind `ordinals[i]` in characters (`window_weight`). The windows hold about equal shares of it, at most
    `window_chars` each, unless that needs more than `max_windows`: each window reads the range from its
    start (a compressed file is not seekable), so the cap bounds the reading to (max_windows + 1) / 2
    times the range."""
    if not ordinals:
        return []
    total = sum(work)
    n = max(1, min(max_windows, -(-total // window_chars)))
    windows, first, acc = [], ordinals[0], 0
    for ordinal, chars in zip(ordinals, work, strict=True):
        if len(windows) < n - 1 and acc * n >= total * (len(windows) + 1) and ordinal > first:
            windows.append((first, ordinal))
            first = ordinal
        acc += chars
    windows.append((first, ordinals[-1] + 1))
    return windows


def duplicate_id(doc: Document, first_location: str) -> Rejected:
    return Rejected(id=doc.id, source=doc.source, stage=STAGE, reason="duplicate_id", location=doc.location,
                    text=doc.text[:2000] if doc.raw is None else None, detail=first_location,
                    chars=len(doc.text) if doc.raw is None else len(doc.raw))


class _RangeReader(CountingDoFn):
    """Reads the records of file ranges; `_ScanRangeFn` and `_EmitRangeFn` read each range once each."""

    def __init__(self, sources: tuple[SourceConfig, ...], cfg: ReadConfig) -> None:
        super().__init__()
        self._sources = {s.name: s for s in sources}
        self._cfg = cfg
        self._counters = StageCounters(STAGE)

    def setup(self) -> None:
        tune_process()  # the first stage of each pass of the curation job on every worker (transforms/runtime.py)

    def _items(self, fr: FileRange, count: bool, first: int = 0) -> Iterator[Document | Rejected | None]:
        """The range's records in file order, each a Document (within `max_doc_chars`) or a dead letter;
        a truncated file ends with its `truncated_file` dead letter. `count`: update the counters.
        `first`: records before that ordinal may be `SKIPPED` (see `_records`)."""
        src = self._sources[fr.source]
        try:
            for item in _records(fr, src, first):
                if isinstance(item, Document):
                    limited = limit_size(item, self._cfg)
                    if count and limited is not item and isinstance(limited, Document):
                        self._counters.inc("cut:too_large")
                    item = limited
                yield item
        except TruncatedFile as exc:
            # The records after the break are unknowable; the break itself is one record read and rejected.
            sep = "#record-" if src.format == "warc" else ":"
            location = f"{fr.relpath}{sep}{exc.lineno + 1}"
            yield Rejected(id=f"{src.name}/{location}", source=src.name, stage=STAGE, reason="truncated_file",
                           location=location, detail=str(exc))


class _ScanRangeFn(_RangeReader):
    """The first read of a range: every Document as its id and what the groups of keys need, (id, (range
    id, ordinal, location, url)), never its text; every dead letter; the range's record count; and, when it
    holds a Document, the range itself as (range id, (range key, sizes)) (tagged RANGES), for the second
    read: `sizes` is an array("I") as bytes of each record's characters (0 for a dead letter), what the
    second read's windows are cut by."""

    RANGES = "ranges"

    def process(self, fr: FileRange) -> Iterable[Any]:  # Any: tagged outputs (apache/beam#26493)
        rid = range_id(fr)
        records = counted = docs = 0
        sizes = array("I")   # per record: its characters (bytes of undecoded HTML), 0 for a dead letter
        for ordinal, item in enumerate(self._items(fr, count=True)):
            records += 1
            if records - counted == _COUNT_EVERY:  # live progress within a long range, not only at its end
                self._counters.inc("docs_in", _COUNT_EVERY)
                counted = records
            if isinstance(item, Rejected):
                sizes.append(0)
                self._counters.inc(f"dropped:{item.reason}")
                yield pvalue.TaggedOutput(ReadDocuments.REJECTED, item)
            else:
                docs += 1
                sizes.append(min(len(item.raw if item.raw is not None else item.text), 0xFFFFFFFF))
                yield item.id, (rid, ordinal, item.location, item.url)
        self._counters.inc("docs_in", records - counted)
        yield pvalue.TaggedOutput(ReadDocuments.COUNTS, (f"{fr.source}\t{fr.relpath}", records))
        if docs:
            yield pvalue.TaggedOutput(self.RANGES, (rid, (range_key(fr), sizes.tobytes())))


class _DecideIdsFn(CountingDoFn):
    """One id's records: every occurrence after the first is decided (`duplicate_id`); the first is kept,
    or handed to the key filter as a `Candidate` (tagged CANDIDATES) when there is one."""

    CANDIDATES = "candidates"

    def __init__(self, filtered: bool) -> None:
        super().__init__()
        self._filtered = filtered
        self._counters = StageCounters(STAGE)

    def process(self, element: tuple[str, Iterable[IdRecord]]) -> Iterable[Any]:
        doc_id, seen = element
        for (key, ordinal, location, url), first in id_decisions(seen):
            if first is not None:
                self._counters.inc("dropped:duplicate_id")
                yield key, (ordinal, (STAGE, "duplicate_id", first, None))
                continue
            self._counters.inc("kept")
            if self._filtered:
                yield pvalue.TaggedOutput(self.CANDIDATES, Candidate(doc_id, location, url, (key, ordinal)))
            else:
                yield key, (ordinal, None)


def _by_range(decided: tuple[Place, Verdict]) -> tuple[int, tuple[int, Verdict]]:
    (key, ordinal), verdict = decided
    return key, (ordinal, verdict)


class _PlanWindowsFn(beam.DoFn):
    """One range with its verdicts, (range id, [(range key, sizes), [(ordinal, verdict)], ...]), as the
    `RangeWindow`s the second read works on (`plan_windows`; one window for a format other than JSONL,
    whose records cannot be skipped without being parsed)."""

    def __init__(self, sources: tuple[SourceConfig, ...], window_chars: int, max_windows: int) -> None:
        super().__init__()
        self._formats = {s.name: s.format for s in sources}
        self._window_chars, self._max_windows = window_chars, max_windows

    def process(self, element: tuple[int, Iterable[tuple[str, bytes] | list[tuple[int, Verdict]]]]
                ) -> Iterable[Any]:  # Any: RangeWindow (a NamedTuple; no schema inference)
        rid, values = element
        key, raw_sizes, verdicts = None, b"", []
        for value in values:
            if isinstance(value[0], str):   # the range, once (a list of verdicts starts with a tuple)
                if key is not None and value[0] != key:
                    raise RuntimeError(f"two file ranges share the range id {rid}: {key} and {value[0]}")
                key, raw_sizes = value
            else:
                verdicts.extend(value)
        if key is None:
            raise RuntimeError(f"verdicts for the range id {rid} without its range")
        sizes = array("I")   # the scan sized every record it read, so every ordinal with a verdict
        sizes.frombytes(raw_sizes)
        verdicts.sort(key=lambda v: v[0])
        ordinals = [ordinal for ordinal, _ in verdicts]
        work = [window_weight(sizes[o], v) for o, v in verdicts]
        cap = self._max_windows if self._formats[file_range(key).source] == "jsonl" else 1
        for first, end in plan_windows(ordinals, work, self._window_chars, cap):
            lo, hi = bisect.bisect_left(ordinals, first), bisect.bisect_left(ordinals, end)
            yield RangeWindow(key, first, end, verdicts[lo:hi])


class _EmitRangeFn(_RangeReader):
    """The second read, of one `RangeWindow`, with the verdicts on its Documents: a kept one as the
    Document, a later occurrence of an id as a `duplicate_id` dead letter, one the key filter drops as the
    Document marked (tagged DROPPED). The range's dead letters went out with the first read."""

    def process(self, window: RangeWindow) -> Iterable[Any]:
        verdicts = dict(window.verdicts)   # one small entry per Document of the window
        for ordinal, item in enumerate(self._items(file_range(window.key), count=False, first=window.first)):
            if ordinal >= window.end:
                break
            if item is SKIPPED or isinstance(item, Rejected) or ordinal not in verdicts:
                continue
            verdict = verdicts[ordinal]
            if verdict is None:
                yield item
            elif verdict[0] == STAGE:
                yield pvalue.TaggedOutput(ReadDocuments.REJECTED, duplicate_id(item, verdict[2]))
            else:
                yield pvalue.TaggedOutput(ReadDocuments.DROPPED, item.dropped(*verdict))


class ReadDocuments(beam.PTransform):
    """Reads every configured source. Outputs: main = Document, REJECTED = Rejected, COUNTS = (file, n),
    DROPPED = Documents the key filter dropped, marked `<its stage>:<reason>`.

    `key_filter`: a PTransform from `Candidate`s (each document that survived the group by id, as keys) to
    one (place, verdict) each, applied under its own label (FilterUrls: URL blocklists and URL dedup, so
    that no document crosses a shuffle before extraction)."""

    REJECTED = "rejected"
    COUNTS = "counts"
    DROPPED = "dropped"

    def __init__(self, sources: tuple[SourceConfig, ...], cfg: ReadConfig,
                 key_filter: beam.PTransform | None = None, window_chars: int = WINDOW_CHARS,
                 max_windows: int = MAX_WINDOWS) -> None:
        super().__init__()
        self._sources = sources
        self._cfg = cfg
        self._key_filter = key_filter
        self._window_chars, self._max_windows = window_chars, max_windows

    def expand(self, root: beam.pvalue.PBegin) -> dict[str, beam.PCollection]:
        ranges = (
            root
            | "SourceNames" >> beam.Create(sorted(s.name for s in self._sources))
            | "ListAndSplit" >> beam.ParDo(_ListFilesFn(self._sources, self._cfg))  # FileRange
            | "SpreadRanges" >> beam.Reshuffle()
        )
        # Decisions are made on keys, not documents: the first read sends each Document's id and place
        # through the group by id (and the survivors through the key filter's groups); the verdicts go back
        # to their range, which a second read turns into documents. No document crosses a shuffle here.
        scanned = ranges | "ReadRanges" >> beam.ParDo(_ScanRangeFn(self._sources, self._cfg)).with_outputs(
            self.REJECTED, self.COUNTS, _ScanRangeFn.RANGES, main="keys")
        ids = (
            scanned.keys
            | "GroupById" >> beam.GroupByKey()                        # (id, [(range id, ordinal, location, url)])
            | "OnePerId" >> beam.ParDo(_DecideIdsFn(self._key_filter is not None)).with_outputs(
                _DecideIdsFn.CANDIDATES, main="decided")              # (range id, (ordinal, verdict)); Candidate
        )
        # Each range's verdicts go back to it as lists, (range id, [(ordinal, verdict)]), combined where
        # they are decided (Beam lifts the combine into the deciding stage), so the group by range moves a
        # few lists per range instead of one element per record.
        parts = [scanned[_ScanRangeFn.RANGES],                        # (range id, (range key, sizes)) once per range
                 ids.decided | "DecidedPerRange" >> beam.CombinePerKey(beam.combiners.ToListCombineFn())]
        if self._key_filter is not None:
            parts.append(ids[_DecideIdsFn.CANDIDATES] | self._key_filter | "ByRange" >> beam.Map(_by_range)
                         | "FilteredPerRange" >> beam.CombinePerKey(beam.combiners.ToListCombineFn()))
        emitted = (
            parts
            | "RangesAndVerdicts" >> beam.Flatten()
            | "GroupByRange" >> beam.GroupByKey()
            # A range's verdicts as windows of about equal work, spread over the workers: one large file
            # does not leave its extraction to a single worker.
            | "PlanWindows" >> beam.ParDo(_PlanWindowsFn(self._sources, self._window_chars, self._max_windows))
            | "SpreadWindows" >> beam.Reshuffle()
            | "ReadAgain" >> beam.ParDo(_EmitRangeFn(self._sources, self._cfg)).with_outputs(
                self.REJECTED, self.DROPPED, main="docs")
        )
        rejected = (scanned[self.REJECTED], emitted[self.REJECTED]) | "AllDeadLetters" >> beam.Flatten()
        counts = scanned[self.COUNTS] | "SumPerFile" >> beam.CombinePerKey(sum)  # ("source\trelpath", n)
        return {"docs": emitted.docs, self.REJECTED: rejected, self.COUNTS: counts, self.DROPPED: emitted[self.DROPPED]}
