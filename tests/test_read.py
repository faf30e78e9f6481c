import gzip
import json
from array import array

import apache_beam as beam
import pytest
from apache_beam.pvalue import TaggedOutput
from apache_beam.testing.util import assert_that, equal_to

from tests.beam_testing import fn_api_test_pipeline
from transforms.document import Document, Rejected
from transforms.read import (
    FileRange,
    ReadConfig,
    ReadDocuments,
    SourceConfig,
    TruncatedFile,
    _PlanWindowsFn,
    _ScanRangeFn,
    file_range,
    glob_root,
    id_decisions,
    iter_range_lines,
    parse_record,
    plan_windows,
    range_id,
    range_key,
    split_file,
    window_weight,
)

SRC = SourceConfig(name="web", paths=("x",), id_field="id", license="CC0")


@pytest.mark.parametrize(("line", "reason"), [
    (b'{"id": "a", "text": "hi"', "invalid_json"),
    (b"not json", "invalid_json"),
    (b'["a", "b"]', "not_object"),
    (b'{"id": "a"}', "missing_text"),
    (b'{"id": "a", "text": null}', "bad_type:text"),
    (b'{"id": "a", "text": 42}', "bad_type:text"),
    (b'{"id": "a", "text": ["x"]}', "bad_type:text"),
    (b'{"id": {"x": 1}, "text": "t"}', "bad_type:id"),
    (b'{"id": "a", "text": "caf\xe9"}', "invalid_utf8"),
])
def test_parse_record_rejects_with_reason_and_location(line, reason):
    item = parse_record(line, SRC, "dir/f.jsonl", 7)
    assert isinstance(item, Rejected)
    assert (item.stage, item.reason, item.location, item.source) == ("read", reason, "dir/f.jsonl:7", "web")


def test_parse_record_builds_document_with_provenance():
    doc = parse_record(b'{"id": 5, "text": "hello", "url": "https://e.org/", "date": "2023-01-02"}',
                       SRC, "f.jsonl", 3)
    assert doc == Document(id="web/5", source="web", text="hello", location="f.jsonl:3",
                           url="https://e.org/", crawl_date="2023-01-02", license="CC0")


def test_ids_without_id_field_come_from_path_and_line():
    src = SourceConfig(name="web", paths=("x",))
    assert parse_record(b'{"text": "t"}', src, "a/b.jsonl", 9).id == "web/a/b.jsonl:9"


def test_glob_root():
    assert glob_root("/data/crawl/*/part-*.jsonl.gz") == "/data/crawl"
    assert glob_root("/data/one.jsonl") == "/data"


@pytest.mark.parametrize("split_bytes", [1024, 1500, 4096, 1 << 20])
def test_byte_ranges_cover_every_line_once_with_exact_line_numbers(tmp_path, split_bytes):
    lines = [json.dumps({"text": "x" * (i * 37 % 300)}) if i % 11 else "" for i in range(400)]
    path = tmp_path / "f.jsonl"
    path.write_text("\n".join(lines) + "\n")
    ranges = split_file("s", str(path), "f.jsonl", path.stat().st_size, split_bytes)
    got = [item for fr in ranges for item in iter_range_lines(fr)]
    want = [(i + 1, line.encode()) for i, line in enumerate(lines) if line]
    assert got == want
    assert len(ranges) == -(-path.stat().st_size // split_bytes) if split_bytes < path.stat().st_size else 1


def test_compressed_files_are_one_range(tmp_path):
    path = tmp_path / "f.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.write('{"text": "a"}\n\n{"text": "b"}\n')
    (fr,) = split_file("s", str(path), "f.jsonl.gz", path.stat().st_size, 1024)
    assert fr == FileRange("s", str(path), "f.jsonl.gz", 0, -1)
    assert list(iter_range_lines(fr)) == [(1, b'{"text": "a"}'), (3, b'{"text": "b"}')]


def test_read_documents_transform_outputs_docs_dead_letters_and_counts(tmp_path):
    path = tmp_path / "web.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.write('{"id": "a", "text": "one"}\n{"id": "b"}\n{broken\n{"id": "c", "text": "two"}\n')
    src = SourceConfig(name="web", paths=(str(tmp_path / "*.jsonl.gz"),), id_field="id")
    with fn_api_test_pipeline() as p:
        out = p | ReadDocuments((src,), ReadConfig())
        assert_that(out["docs"] | beam.Map(lambda d: (d.id, d.location)),
                    equal_to([("web/a", "web.jsonl.gz:1"), ("web/c", "web.jsonl.gz:4")]), label="docs")
        assert_that(out[ReadDocuments.REJECTED] | beam.Map(lambda r: (r.reason, r.location)),
                    equal_to([("missing_text", "web.jsonl.gz:2"), ("invalid_json", "web.jsonl.gz:3")]),
                    label="dead")
        assert_that(out[ReadDocuments.COUNTS], equal_to([("web\tweb.jsonl.gz", 4)]), label="counts")


@pytest.mark.parametrize("line", [
    b'{"id": "a", "text": "cut \\ud83d here"}',     # a lone surrogate: valid JSON, not encodable text
    b'{"id": "a", "text": "t", "n": ' + b"9" * 5000 + b"}",  # beyond Python's int digit limit
    b"[" * 100_000,                                   # pathological nesting
])
def test_hostile_lines_become_dead_letters_not_crashes(line):
    item = parse_record(line, SRC, "f", 1)
    assert isinstance(item, Rejected) and item.reason in ("invalid_utf8", "invalid_json")


def test_truncated_gzip_yields_good_lines_then_one_dead_letter(tmp_path):
    path = tmp_path / "web.jsonl.gz"
    data = gzip.compress("".join(f'{{"id": "{i}", "text": "record {i}"}}\n' for i in range(2000)).encode())
    path.write_bytes(data[: len(data) // 2])
    lines = []
    with pytest.raises(TruncatedFile) as info:
        lines.extend(iter_range_lines(split_file("web", str(path), "web.jsonl.gz", 0, 1024)[0]))
    assert len(lines) > 500 and info.value.lineno == len(lines)

    src = SourceConfig(name="web", paths=(str(tmp_path / "*.jsonl.gz"),), id_field="id")
    good = sum(1 for _, line in lines if parse_record(line, src, "f", 1).__class__ is Document)
    with fn_api_test_pipeline() as p:
        out = p | ReadDocuments((src,), ReadConfig())
        assert_that(out["docs"] | "n" >> beam.combiners.Count.Globally(), equal_to([good]), label="docs")
        dead = out[ReadDocuments.REJECTED] | beam.Map(lambda r: (r.reason, r.location))
        assert_that(dead | beam.Filter(lambda d: d[0] == "truncated_file"),
                    equal_to([("truncated_file", f"web.jsonl.gz:{len(lines) + 1}")]), label="dead")
        assert_that(out[ReadDocuments.COUNTS], equal_to([("web\tweb.jsonl.gz", len(lines) + 1)]), label="counts")


def test_patterns_share_one_root_so_same_named_files_keep_distinct_ids(tmp_path):
    for month in ("2023-06", "2023-07"):
        (tmp_path / month).mkdir()
        (tmp_path / month / "00000.jsonl").write_text('{"text": "x"}\n')
    src = SourceConfig(name="web", paths=(str(tmp_path / "2023-06/*.jsonl"), str(tmp_path / "2023-07/*.jsonl")))
    with fn_api_test_pipeline() as p:
        out = p | ReadDocuments((src,), ReadConfig())
        assert_that(out["docs"] | beam.Map(lambda d: d.id),
                    equal_to(["web/2023-06/00000.jsonl:1", "web/2023-07/00000.jsonl:1"]), label="ids")


def test_a_file_matched_by_two_patterns_is_read_once(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"text": "x"}\n')
    src = SourceConfig(name="web", paths=(str(tmp_path / "*.jsonl"), str(tmp_path / "a.jsonl")))
    with fn_api_test_pipeline() as p:
        out = p | ReadDocuments((src,), ReadConfig())
        assert_that(out[ReadDocuments.COUNTS], equal_to([("web\ta.jsonl", 1)]))


def _zst(data: bytes, frames: int = 1) -> bytes:
    import zstandard

    c = zstandard.ZstdCompressor()
    step = -(-len(data) // frames)
    return b"".join(c.compress(data[i:i + step]) for i in range(0, len(data), step))


@pytest.mark.parametrize("frames", [1, 3])
def test_zstd_jsonl_is_read_whole_across_frames(tmp_path, frames):
    data = "".join(f'{{"id": "{i}", "text": "record {i}"}}\n' for i in range(3000)).encode()
    path = tmp_path / "web.jsonl.zst"
    path.write_bytes(_zst(data, frames))
    lines = list(iter_range_lines(split_file("web", str(path), "web.jsonl.zst", 0, 1024)[0]))
    assert [n for n, _ in lines] == list(range(1, 3001)) and lines[-1][1] == b'{"id": "2999", "text": "record 2999"}'


@pytest.mark.parametrize("damage", ["cut", "garbage_frame"])
def test_a_cut_or_corrupt_zstd_file_is_one_dead_letter_not_a_silent_stop(tmp_path, damage):
    text = "".join(f'{{"id": "{i}", "text": "record {i}"}}\n' for i in range(3000)).encode()
    # cut mid-stream, or a whole first frame followed by bytes that are not zstd at all (bad magic number)
    data = _zst(text)[: len(_zst(text)) // 2] if damage == "cut" else _zst(text[:30000]) + b"not zstd at all" * 8
    path = tmp_path / "web.jsonl.zst"
    path.write_bytes(data)
    lines = []
    with pytest.raises(TruncatedFile) as info:
        lines.extend(iter_range_lines(split_file("web", str(path), "web.jsonl.zst", 0, 1024)[0]))
    assert info.value.lineno == len(lines) and len(lines) < 3000
    if damage == "garbage_frame":
        assert len(lines) == text[:30000].count(b"\n")  # the good frame is read whole


def test_oversized_documents_are_cut_at_a_line_end_or_rejected(tmp_path):
    from transforms.read import limit_size

    text = "\n".join(f"line {i:04d} of a very long document" for i in range(100))   # 33 chars per line + \n
    doc = Document(id="web/1", source="web", text=text, location="f:1")
    cut = limit_size(doc, ReadConfig(max_doc_chars=100))
    assert cut.text == "\n".join(text.split("\n")[:2]) and cut.meta["cut_from_chars"] == str(len(text))
    assert limit_size(doc, ReadConfig(max_doc_chars=len(text))) is doc
    rejected = limit_size(doc, ReadConfig(max_doc_chars=100, oversize="reject"))
    assert isinstance(rejected, Rejected) and (rejected.reason, rejected.location, rejected.detail) == \
        ("too_large", "f:1", str(len(text)))
    with pytest.raises(ValueError, match="read.oversize"):
        ReadConfig(oversize="truncate")

    path = tmp_path / "big.jsonl"   # through the transform: one record far over the limit, one within it
    path.write_text('{"id": "big", "text": "' + "x" * 5000 + '"}\n{"id": "ok", "text": "fine"}\n')
    src = SourceConfig(name="web", paths=(str(path),), id_field="id")
    with fn_api_test_pipeline() as p:
        out = p | ReadDocuments((src,), ReadConfig(max_doc_chars=1000, oversize="reject"))
        assert_that(out["docs"] | beam.Map(lambda d: d.id), equal_to(["web/ok"]), label="docs")
        assert_that(out[ReadDocuments.REJECTED] | beam.Map(lambda r: (r.id, r.reason)),
                    equal_to([("web/big", "too_large")]), label="rejected")
        assert_that(out[ReadDocuments.COUNTS], equal_to([("web\tbig.jsonl", 2)]), label="counts")


def test_parquet_and_plain_text_sources(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"doc": ["p1", "p2", None, "p4"], "body": ["first page", None, "third", "fourth"],
                      "link": ["https://e.org/1", None, None, None]})
    pq.write_table(table, tmp_path / "a.parquet", row_group_size=2)
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 this is not parquet")
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "one.txt").write_text("A whole file\nis one document.\n", encoding="utf-8")
    (tmp_path / "t" / "bad.txt").write_bytes(b"caf\xe9")
    pq_src = SourceConfig(name="pq", paths=(str(tmp_path / "*.parquet"),), format="parquet",
                          text_field="body", id_field="doc", url_field="link")
    txt_src = SourceConfig(name="txt", paths=(str(tmp_path / "t" / "*.txt"),), format="text")
    with fn_api_test_pipeline() as p:
        out = p | ReadDocuments((pq_src, txt_src), ReadConfig())
        assert_that(out["docs"] | beam.Map(lambda d: (d.id, d.text, d.location, d.url)), equal_to([
            ("pq/p1", "first page", "a.parquet:1", "https://e.org/1"),
            ("pq/a.parquet:3", "third", "a.parquet:3", None),   # null id: the location id
            ("pq/p4", "fourth", "a.parquet:4", None),
            ("txt/one.txt", "A whole file\nis one document.\n", "one.txt", None)]), label="docs")
        assert_that(out[ReadDocuments.REJECTED] | beam.Map(lambda r: (r.id, r.reason, r.location)), equal_to([
            ("pq/p2", "missing_text", "a.parquet:2"),
            ("pq/broken.parquet:1", "truncated_file", "broken.parquet:1"),
            ("txt/bad.txt", "invalid_utf8", "bad.txt")]), label="rejected")
        assert_that(out[ReadDocuments.COUNTS], equal_to([("pq\ta.parquet", 4), ("pq\tbroken.parquet", 1),
                                                         ("txt\tbad.txt", 1), ("txt\tone.txt", 1)]), label="counts")


# ---------------------------------------------------------------- hostile inputs (issue 7): regressions

def test_duplicate_ids_keep_the_first_occurrence_and_reject_the_others(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"id": "x", "text": "first"}\n{"id": "x", "text": "second"}\n'
                                      '{"id": 7, "text": "int"}\n' + "\n" * 8 + '{"id": "7", "text": "str"}\n'
                                      '{"id": "x", "text": "first"}\n')
    (tmp_path / "b.jsonl").write_text('{"id": "x", "text": "other file"}\n{"id": "y", "text": "unique"}\n')
    src = SourceConfig(name="web", paths=(str(tmp_path / "*.jsonl"),), id_field="id")
    with fn_api_test_pipeline() as p:
        out = p | ReadDocuments((src,), ReadConfig())
        assert_that(out["docs"] | beam.Map(lambda d: (d.id, d.text, d.location)), equal_to([
            ("web/x", "first", "a.jsonl:1"), ("web/7", "int", "a.jsonl:3"), ("web/y", "unique", "b.jsonl:2")]),
            label="docs")
        assert_that(out[ReadDocuments.REJECTED] | beam.Map(lambda r: (r.id, r.reason, r.location, r.detail)),
                    equal_to([("web/x", "duplicate_id", "a.jsonl:2", "a.jsonl:1"),
                              ("web/7", "duplicate_id", "a.jsonl:12", "a.jsonl:3"),   # line 12 > line 3 numerically
                              ("web/x", "duplicate_id", "a.jsonl:13", "a.jsonl:1"),
                              ("web/x", "duplicate_id", "b.jsonl:1", "a.jsonl:1")]), label="rejected")
        assert_that(out[ReadDocuments.COUNTS], equal_to([("web\ta.jsonl", 5), ("web\tb.jsonl", 2)]), label="counts")


def test_a_utf8_bom_at_the_start_of_a_jsonl_file_is_not_part_of_the_first_record():
    assert parse_record(b'\xef\xbb\xbf{"id": "a", "text": "t"}', SRC, "f", 1).id == "web/a"
    assert parse_record(b'\xef\xbb\xbf{"id": "a", "text": "t"}', SRC, "f", 2).reason == "invalid_json"


@pytest.mark.parametrize("damage", ["cut_gz", "not_gz", "cut_zst"])
def test_a_cut_or_corrupt_compressed_text_file_is_a_dead_letter_not_a_part_or_a_crash(tmp_path, damage):
    import zstandard

    from transforms.read import iter_text_file

    data = "".join(f"Line {i} of a document of many words.\n" for i in range(2000)).encode()
    gz, zst = gzip.compress(data), zstandard.ZstdCompressor().compress(data)
    name, payload = {"cut_gz": ("d.txt.gz", gz[: len(gz) // 2]), "not_gz": ("d.txt.gz", data),
                     "cut_zst": ("d.txt.zst", zst[: len(zst) // 2])}[damage]
    (tmp_path / name).write_bytes(payload)
    src = SourceConfig(name="txt", paths=("x",), format="text")
    (item,) = iter_text_file(FileRange("txt", str(tmp_path / name), name, 0, -1), src)
    assert isinstance(item, Rejected) and (item.id, item.reason, item.location) == \
        (f"txt/{name}", "truncated_file", name)


def test_a_corrupt_parquet_row_group_keeps_the_row_groups_before_it(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from transforms.read import iter_parquet_records

    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"id": [f"r{i}" for i in range(6)], "text": [f"row {i} " * 40 for i in range(6)]}),
                   path, row_group_size=3, compression="zstd")
    column = pq.ParquetFile(path).metadata.row_group(1).column(1)
    start = column.dictionary_page_offset or column.data_page_offset
    data = bytearray(path.read_bytes())
    data[start:start + 32] = b"\xff" * 32
    path.write_bytes(bytes(data))
    src = SourceConfig(name="pq", paths=("x",), format="parquet", id_field="id")
    rows = []
    with pytest.raises(TruncatedFile) as info:
        rows.extend(iter_parquet_records(FileRange("pq", str(path), "p.parquet", 0, -1), src))
    assert [r.id for r in rows] == ["pq/r0", "pq/r1", "pq/r2"] and info.value.lineno == 3


def _warc(records: list[bytes]) -> bytes:
    return b"".join(records)


def _warc_record(rec_type: bytes | None, rid: bytes | None, block: bytes, length: bytes | None = b"auto") -> bytes:
    head = b"WARC/1.0\r\n"
    head += b"WARC-Type: " + rec_type + b"\r\n" if rec_type is not None else b""
    head += b"WARC-Record-ID: " + rid + b"\r\n" if rid is not None else b""
    head += b"WARC-Target-URI: https://example.org/\r\nContent-Type: application/http; msgtype=response\r\n"
    if length is not None:
        head += b"Content-Length: " + (str(len(block)).encode() if length == b"auto" else length) + b"\r\n"
    return head + b"\r\n" + block + b"\r\n\r\n"


_HTML = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html><body><p>A page.</p></body></html>"


def _warc_outcomes(tmp_path, files: dict[str, bytes]) -> list[tuple]:
    from transforms.read import iter_warc_records

    src = SourceConfig(name="cc", paths=("x",), format="warc")
    got = []
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        try:
            for item in iter_warc_records(FileRange("cc", str(tmp_path / name), name, 0, -1), src):
                got.append((item.id, item.location, getattr(item, "reason", "doc")))
        except TruncatedFile as exc:
            got.append(("break", name, exc.lineno))
    return got


def test_warc_records_without_an_id_get_location_ids_unique_across_files(tmp_path):
    files = {"a.warc": _warc([_warc_record(b"response", None, _HTML), _warc_record(b"response", b"<>", _HTML),
                              _warc_record(b"response", b"<urn:x:1>", _HTML)]),
             "b.warc": _warc([_warc_record(b"response", None, _HTML)])}
    assert _warc_outcomes(tmp_path, files) == [
        ("cc/a.warc#record-1", "a.warc#record-1", "doc"), ("cc/a.warc#record-2", "a.warc#record-2", "doc"),
        ("cc/urn:x:1", "a.warc#urn:x:1", "doc"), ("cc/b.warc#record-1", "b.warc#record-1", "doc")]


def test_warc_records_of_no_known_type_are_dead_letters_not_skipped(tmp_path):
    files = {"t.warc": _warc([_warc_record(b"warcinfo", b"<urn:i>", b"software: x\r\n"),
                              _warc_record(None, b"<urn:none>", _HTML), _warc_record(b"respnse", b"<urn:typo>", _HTML),
                              _warc_record(b"request", b"<urn:req>", b"GET / HTTP/1.1\r\n\r\n"),
                              _warc_record(b"response", b"<urn:ok>", _HTML)])}
    assert _warc_outcomes(tmp_path, files) == [("cc/urn:none", "t.warc#urn:none", "bad_warc_record"),
                                               ("cc/urn:typo", "t.warc#urn:typo", "bad_warc_record"),
                                               ("cc/urn:ok", "t.warc#urn:ok", "doc")]


@pytest.mark.parametrize("length", [None, b"abc", b"-5", b"999999"])
def test_a_warc_record_with_no_valid_or_a_too_long_content_length_is_the_files_break(tmp_path, length):
    files = {"l.warc": _warc([_warc_record(b"response", b"<urn:ok>", _HTML),
                              _warc_record(b"response", b"<urn:bad>", _HTML, length=length),
                              _warc_record(b"response", b"<urn:after>", _HTML)])}
    got = _warc_outcomes(tmp_path, files)
    # missing: warcio would read the rest of the file as this record's payload; 999999: past the file's end
    assert got == [("cc/urn:ok", "l.warc#urn:ok", "doc"), ("break", "l.warc", 1)]


def test_an_uncompressed_warc_cut_inside_a_record_is_a_dead_letter_not_a_partial_page(tmp_path):
    record = _warc_record(b"response", b"<urn:cut>", _HTML)
    files = {"c.warc": _warc([_warc_record(b"response", b"<urn:ok>", _HTML), record[:-30]])}
    assert _warc_outcomes(tmp_path, files) == [("cc/urn:ok", "c.warc#urn:ok", "doc"), ("break", "c.warc", 1)]


def test_a_repeated_warc_record_id_in_one_file_is_a_duplicate_after_the_first(tmp_path):
    files = {"d.warc": _warc([_warc_record(b"response", b"<urn:d>", _HTML),
                              _warc_record(b"response", b"<urn:d>", _HTML.replace(b"A page", b"Another"))])}
    assert _warc_outcomes(tmp_path, files) == [("cc/urn:d", "d.warc#urn:d", "doc"),
                                               ("cc/urn:d", "d.warc#urn:d", "duplicate_id")]


def test_a_range_starting_inside_a_huge_line_skips_it_in_chunks(tmp_path, monkeypatch):
    import transforms.read as read

    monkeypatch.setattr(read, "_SKIP_CHUNK", 64)   # many chunks per skipped line
    lines = [json.dumps({"text": "a"}), json.dumps({"text": "x" * 20_000}), json.dumps({"text": "b"}), ""]
    lines += [json.dumps({"text": "y" * 5000}), json.dumps({"text": "c"})]
    path = tmp_path / "f.jsonl"
    path.write_text("\n".join(lines) + "\n")
    ranges = split_file("s", str(path), "f.jsonl", path.stat().st_size, 1024)
    got = [(n, len(line)) for fr in ranges for n, line in iter_range_lines(fr)]
    assert got == [(i + 1, len(line)) for i, line in enumerate(lines) if line]


def test_a_non_content_warc_record_without_content_length_breaks_the_file_after_the_records_before_it(tmp_path):
    request = _warc_record(b"request", b"<urn:req>", b"GET / HTTP/1.1\r\n\r\n", length=None)
    files = {"r.warc": _warc([_warc_record(b"response", b"<urn:ok>", _HTML), request,
                              _warc_record(b"response", b"<urn:after>", _HTML)])}
    assert _warc_outcomes(tmp_path, files) == [("cc/urn:ok", "r.warc#urn:ok", "doc"), ("break", "r.warc", 1)]


def test_ids_are_made_unique_on_keys_and_a_second_read(tmp_path):
    """The first read of a range sends ids and places to the group by id, never a Document (nor its text);
    the second read emits the documents and the duplicates, the first the dead letters and the counts,
    each once."""
    (tmp_path / "a.jsonl").write_text('{"id": "x", "text": "first"}\n{"id": "x", "text": "second"}\n'
                                      'not json\n{"id": "y", "text": "unique"}\n')
    (tmp_path / "b.jsonl").write_text('{"id": "x", "text": "other file"}\n')
    src = SourceConfig(name="web", paths=(str(tmp_path / "*.jsonl"),), id_field="id")
    scan = _ScanRangeFn((src,), ReadConfig())
    fr = FileRange("web", str(tmp_path / "a.jsonl"), "a.jsonl", 0, -1)
    main = [o for o in scan.process(fr) if not isinstance(o, TaggedOutput)]
    rid = range_id(fr)
    assert main == [("web/x", (rid, 0, "a.jsonl:1", None)), ("web/x", (rid, 1, "a.jsonl:2", None)),
                    ("web/y", (rid, 3, "a.jsonl:4", None))]
    tagged = [(o.tag, o.value) for o in scan.process(fr) if isinstance(o, TaggedOutput) and o.tag != "rejected"]
    sizes = array("I", [5, 6, 0, 6]).tobytes()   # characters per record, 0 for the dead letter
    assert tagged == [("counts", ("web\ta.jsonl", 4)), ("ranges", (rid, (range_key(fr), sizes)))]
    with fn_api_test_pipeline() as p:
        out = p | ReadDocuments((src,), ReadConfig())
        assert_that(out["docs"] | beam.Map(lambda d: (d.id, d.text, d.location)), equal_to([
            ("web/x", "first", "a.jsonl:1"), ("web/y", "unique", "a.jsonl:4")]), label="docs")
        assert_that(out[ReadDocuments.REJECTED] | beam.Map(lambda r: (r.id, r.reason, r.location, r.detail)),
                    equal_to([("web/x", "duplicate_id", "a.jsonl:2", "a.jsonl:1"),
                              ("web/a.jsonl:3", "invalid_json", "a.jsonl:3", None),
                              ("web/x", "duplicate_id", "b.jsonl:1", "a.jsonl:1")]), label="rejected")
        assert_that(out[ReadDocuments.COUNTS], equal_to([("web\ta.jsonl", 4), ("web\tb.jsonl", 1)]), label="counts")


def test_id_decisions_keep_the_first_occurrence_by_file_line_then_position():
    a = range_key(FileRange("s", "/d/a.warc", "a.warc", 0, -1))
    b, c = range_key(FileRange("s", "/d/b", "b", 0, 100)), range_key(FileRange("s", "/d/c", "c", 0, -1))
    assert file_range(a) == FileRange("s", "/d/a.warc", "a.warc", 0, -1)
    seen = [(c, 1, "c:1", None), (b, 0, "b:10", "u"), (b, 3, "b:9", None)]  # file first, then line numerically
    assert sorted(id_decisions(seen), key=repr) == [((b, 0, "b:10", "u"), "b:9"), ((b, 3, "b:9", None), None),
                                                    ((c, 1, "c:1", None), "b:9")]
    one_file = [(a, 7, "a.warc#urn:x", None), (a, 2, "a.warc#urn:x", None)]   # a WARC-Record-ID used twice
    assert sorted(id_decisions(one_file), key=repr) == [((a, 2, "a.warc#urn:x", None), None),
                                                        ((a, 7, "a.warc#urn:x", None), "a.warc#urn:x")]
    assert list(id_decisions([])) == []


def test_plan_windows_cuts_by_kept_characters_within_the_cap():
    ordinals, kept = [0, 1, 2, 3, 5, 8], [10, 0, 10, 10, 0, 10]   # ordinals 1 and 5 are dropped: no work
    assert plan_windows(ordinals, kept, window_chars=100, max_windows=4) == [(0, 9)]     # 40 chars: one window
    assert plan_windows(ordinals, kept, window_chars=20, max_windows=4) == [(0, 3), (3, 9)]
    assert plan_windows(ordinals, kept, window_chars=10, max_windows=4) == [(0, 1), (1, 3), (3, 5), (5, 9)]
    assert plan_windows(ordinals, kept, window_chars=10, max_windows=2) == [(0, 3), (3, 9)]  # the cap wins
    assert plan_windows([4, 7], [0, 0], window_chars=10, max_windows=4) == [(4, 8)]   # nothing kept: one
    assert plan_windows([], [], window_chars=10, max_windows=4) == []
    assert (window_weight(800, None), window_weight(800, ("urls", "duplicate_url", None, None))) == (800, 100)


def test_second_read_in_windows_gives_the_same_outputs(tmp_path):
    """A gzipped JSONL range read again in windows (most of them skipping a prefix of lines unparsed, the
    last stopping early) emits exactly what one window does; a text file (not skippable) stays one window."""
    dup_of = {30: 2, 35: 7}   # records 30 and 35 repeat the ids of records 2 and 7
    lines = [json.dumps({"id": str(dup_of.get(i, i)), "text": f"record {i} " * (i % 4 + 1)}) for i in range(40)]
    lines[11] = "not json"
    (tmp_path / "a.jsonl.gz").write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    (tmp_path / "t.txt").write_text("a text document\n")
    srcs = (SourceConfig(name="web", paths=(str(tmp_path / "*.jsonl.gz"),), id_field="id"),
            SourceConfig(name="notes", paths=(str(tmp_path / "*.txt"),), format="text"))
    expected_docs = [(f"web/{i}", f"record {i} " * (i % 4 + 1), f"a.jsonl.gz:{i + 1}")
                     for i in range(40) if i != 11 and i not in dup_of]
    expected_docs.append(("notes/t.txt", "a text document\n", "t.txt"))
    expected_rejected = [("web/a.jsonl.gz:12", "invalid_json", "a.jsonl.gz:12", None)] + [
        (f"web/{j}", "duplicate_id", f"a.jsonl.gz:{i + 1}", f"a.jsonl.gz:{j + 1}") for i, j in dup_of.items()]

    def outputs(window_chars):
        with fn_api_test_pipeline() as p:
            out = p | ReadDocuments(srcs, ReadConfig(), window_chars=window_chars, max_windows=3)
            docs = out["docs"] | beam.Map(lambda d: (d.id, d.text, d.location))
            rejected = out[ReadDocuments.REJECTED] | beam.Map(lambda r: (r.id, r.reason, r.location, r.detail))
            assert_that(docs, equal_to(expected_docs), label="docs")
            assert_that(rejected, equal_to(expected_rejected), label="rejected")

    outputs(window_chars=10_000)   # one window per range
    outputs(window_chars=50)       # three windows for the JSONL file

    scan = _ScanRangeFn(srcs, ReadConfig())
    fr = FileRange("web", str(tmp_path / "a.jsonl.gz"), "a.jsonl.gz", 0, -1)
    ((_, ranges),) = [o.value for o in scan.process(fr) if isinstance(o, TaggedOutput) and o.tag == "ranges"]
    verdicts = [(o, None) for o in range(40) if o != 11]
    windows = list(_PlanWindowsFn(srcs, 50, 3).process((range_id(fr), [ranges, verdicts[:20], verdicts[20:]])))
    assert [(w.first, w.end) for w in windows] == [(0, 16), (16, 28), (28, 40)]   # 337, 300, 300 characters
    assert [o for w in windows for o, _ in w.verdicts] == [o for o, _ in verdicts]
