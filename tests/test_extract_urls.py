"""ExtractText, FilterUrls and the `warc` source format."""

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from tests.beam_testing import fn_api_test_pipeline
from tests.warc_fixtures import article, write_warc
from transforms.document import Document, Rejected
from transforms.extract import ExtractConfig, ExtractText, PageExtractor, decode_html, page_lang_hint
from transforms.read import Candidate, FileRange, ReadConfig, ReadDocuments, SourceConfig, iter_warc_records
from transforms.urls import FilterUrls, UrlsConfig, blocked_by, list_name, normalize_url, parse_blocklist

EN = ["The harbour town keeps its history in the stones of its narrow streets and old walls.",
      "Fishermen still mend their nets by the water, and the market opens early on Saturdays."]
ZH = ["这是一篇关于城市历史的文章，讲述了老街区的变化和居民的生活。", "第二段继续讲述河流、桥梁和市场的发展。"]


@pytest.mark.parametrize(("raw", "charset", "expected"), [
    ("中文网页".encode("gbk"), "gbk", "中文网页"),
    (b"<meta charset='gb2312'>" + "中文网页".encode("gb2312"), None, "<meta charset='gb2312'>中文网页"),
    ("café".encode("cp1252"), "windows-1252", "café"),
    ("café".encode(), "latin-9-nonsense", "café"),        # unknown declared charset: next source
    ("naïve".encode(), "ascii", "naïve"),                  # declared charset fails: next source
    (b"\xef\xbb\xbfBOM text", None, "\ufeffBOM text"),
])
def test_decode_html_charsets(raw, charset, expected):
    assert decode_html(raw, charset) == expected


def test_decode_html_detects_undeclared_legacy_encodings():
    text = "Съешь же ещё этих мягких французских булок, да выпей чаю. " * 20
    assert decode_html(text.encode("cp1251"), None) == text


def test_page_lang_hint():
    assert page_lang_hint("<html lang='zh-CN'><body>") == "zh-cn"
    assert page_lang_hint('<meta http-equiv="Content-Language" content="de-AT">') == "de-at"
    assert page_lang_hint("<html><body>") is None


@pytest.fixture(scope="module")
def extractor():
    ex = PageExtractor(ExtractConfig(timeout_s=10))
    yield ex
    ex.close()


def test_extracts_main_content_and_hint(extractor):
    res = extractor.extract(article("Harbour", EN), None, "https://example.org/a")
    assert res.reason is None and EN[0] in res.text and EN[1] in res.text and "Contact us" not in res.text
    res = extractor.extract(article("城市", ZH, lang="zh-CN", charset="gbk"), None, None)
    assert ZH[0] in res.text and res.lang_hint == "zh-cn"


def test_empty_page_is_no_text(extractor):
    empty = b"<html><head><title>t</title></head><body> </body></html>"
    assert extractor.extract(empty, None, None).reason == "no_text"


def test_a_page_over_the_time_limit_is_rejected_and_the_worker_recovers():
    ex = PageExtractor(ExtractConfig(timeout_s=1e-6))
    try:
        assert ex.extract(article("Harbour", EN * 200), None, None).reason == "timeout"
    finally:
        ex.close()
    ex = PageExtractor(ExtractConfig(timeout_s=10))
    try:
        assert ex.extract(article("Harbour", EN), None, None).reason is None
    finally:
        ex.close()


def test_extract_text_transform_passes_text_documents_through():
    docs = [Document(id="w/1", source="w", text="", raw=article("Harbour", EN), url="https://e.org/1"),
            Document(id="w/2", source="w", text="", raw=b"<html><body></body></html>"),
            Document(id="j/1", source="j", text="already text")]
    with fn_api_test_pipeline() as p:
        out = p | beam.Create(docs) | ExtractText(ExtractConfig())
        assert_that(out.kept | beam.Map(lambda d: (d.id, d.raw is None, EN[0] in d.text or d.text == "already text",
                                                   d.meta.get("lang_hint"))),
                    equal_to([("w/1", True, True, "en"), ("j/1", True, True, None)]), label="kept")
        assert_that(out[ExtractText.REJECTED] | beam.Map(lambda d: (d.id, d.decision)),
                    equal_to([("w/2", "extract:no_text")]), label="rejected")


@pytest.mark.parametrize(("url", "expected"), [
    ("HTTPS://Example.ORG:443/a/b/#frag", "https://example.org/a/b"),
    ("http://example.org:8080/?q=1", "http://example.org:8080?q=1"),
    ("http://example.org", "http://example.org"),
])
def test_normalize_url(url, expected):
    assert normalize_url(url) == expected


def test_blocklist_matches_host_and_parent_domains():
    domains = frozenset(parse_blocklist("# ads\nspam.example\n.casino.test  # trailing comment\n"))
    assert domains == {"spam.example", "casino.test"}
    lists = [("ads", domains), ("more", frozenset({"www.spam.example", "other.test"}))]
    assert blocked_by("www.spam.example", lists) == ("ads", "spam.example")   # first list in config order
    assert blocked_by("casino.test", lists) == ("ads", "casino.test")
    assert blocked_by("a.other.test", lists) == ("more", "other.test")
    assert blocked_by("notspam.example", lists) is None
    assert list_name("/x/lists/adult-domains.txt.gz") == "adult-domains"


def test_blocklists_with_the_same_name_are_a_config_error():
    with pytest.raises(ValueError, match="two lists share a name"):
        UrlsConfig(blocklists=("/a/ads.txt", "/b/ads.txt"))


def test_filter_urls_decides_on_candidates(tmp_path):
    blocklist = tmp_path / "block.txt"
    blocklist.write_text("spam.example\n")
    cands = [Candidate("w/2", "f:2", "https://example.org/page/", ("r", 1)),
             Candidate("w/1", "f:1", "https://EXAMPLE.org/page#top", ("r", 0)),
             Candidate("w/3", "f:3", "https://www.spam.example/x", ("r", 2)),
             Candidate("w/5", "f:5", "https://www.spam.example/x", ("r", 4)),
             Candidate("w/4", "f:4", None, ("r", 3))]
    with fn_api_test_pipeline() as p:
        out = p | beam.Create(cands) | FilterUrls(UrlsConfig(blocklists=(str(blocklist),)))
        assert_that(out, equal_to([
            (("r", 0), None), (("r", 3), None),
            (("r", 1), ("urls", "duplicate_url", None, "w/1")),
            (("r", 2), ("urls", "blocked_domain:block", "spam.example", None)),
            (("r", 4), ("urls", "blocked_domain:block", "spam.example", None))]))


@pytest.mark.parametrize("dedup", [True, False])
def test_url_drops_leave_the_read_as_marked_documents(tmp_path, dedup):
    """FilterUrls as the read's key filter: kept documents, the URL drops as whole Documents marked
    `urls:<reason>` (with the survivor's id or the matched domain), duplicate ids as dead letters."""
    blocklist = tmp_path / "ads.txt"
    blocklist.write_text("ads.example\n")
    (tmp_path / "a.jsonl").write_text(
        '{"id": "2", "text": "copy", "url": "https://x.example/p/"}\n'
        '{"id": "1", "text": "first", "url": "https://X.example/p"}\n'
        '{"id": "3", "text": "advert", "url": "https://ads.example/a"}\n'
        '{"id": "1", "text": "same id", "url": "https://y.example/"}\n'
        '{"id": "4", "text": "no url"}\n')
    src = SourceConfig(name="w", paths=(str(tmp_path / "a.jsonl"),), id_field="id")
    with fn_api_test_pipeline() as p:
        out = p | ReadDocuments((src,), ReadConfig(), key_filter=FilterUrls(
            UrlsConfig(blocklists=(str(blocklist),), dedup=dedup)))
        kept = ["w/1", "w/4"] if dedup else ["w/1", "w/2", "w/4"]
        assert_that(out["docs"] | beam.Map(lambda d: d.id), equal_to(kept), label="kept")
        dropped = [("w/3", "advert", "urls:blocked_domain:ads", {"drop_detail": "ads.example"})]
        if dedup:
            dropped.append(("w/2", "copy", "urls:duplicate_url", {"duplicate_of": "w/1"}))
        assert_that(out[ReadDocuments.DROPPED] | beam.Map(lambda d: (d.id, d.text, d.decision, dict(d.meta))),
                    equal_to(dropped), label="dropped")
        assert_that(out[ReadDocuments.REJECTED] | beam.Map(lambda r: (r.id, r.reason, r.detail)),
                    equal_to([("w/1", "duplicate_id", "a.jsonl:2")]), label="dead")


def test_filter_urls_counters_add_up_with_and_without_dedup(tmp_path):
    from apache_beam.metrics.metric import MetricsFilter

    blocklist = tmp_path / "ads.txt"
    blocklist.write_text("ads.example\n")
    docs = [Candidate(f"s/{i}", f"f:{i}", u, ("r", i)) for i, u in enumerate(
        ["https://ads.example/a", "https://ads.example/a", "https://x.example/p", "https://x.example/p/", None])]
    for dedup, expected in ((True, {"docs_in": 5, "kept": 2, "dropped:blocked_domain:ads": 2,
                                    "dropped:duplicate_url": 1}),
                            (False, {"docs_in": 5, "kept": 3, "dropped:blocked_domain:ads": 2})):
        p = fn_api_test_pipeline()
        _ = p | beam.Create(docs) | FilterUrls(UrlsConfig(blocklists=(str(blocklist),), dedup=dedup))
        result = p.run()
        result.wait_until_finish()
        counters = {c.key.metric.name: c.committed
                    for c in result.metrics().query(MetricsFilter().with_namespace("urls"))["counters"]}
        assert counters == expected, dedup


def test_warc_reader_documents_dead_letters_and_provenance(tmp_path):
    path = tmp_path / "crawl.warc.gz"
    write_warc(path, [("response", "https://example.org/a", article("Harbour", EN), "text/html; charset=utf-8"),
                      ("response", "https://example.org/logo.png", b"\x89PNG...", "image/png"),
                      ("conversion", "https://example.org/b", b"Plain WET text.\nSecond line.", "")])
    src = SourceConfig(name="cc", paths=(str(path),), format="warc")
    items = list(iter_warc_records(FileRange("cc", str(path), "crawl.warc.gz", 0, -1), src))
    html, png, wet = items
    assert isinstance(html, Document) and html.raw.startswith(b"<html") and html.text == ""
    assert (html.url, html.crawl_date, html.meta["http_charset"]) == ("https://example.org/a", "2023-05-17T10:00:00Z",
                                                                     "utf-8")
    assert html.id == f"cc/{html.meta['warc_record_id']}" and html.location.startswith("crawl.warc.gz#urn:uuid:")
    assert isinstance(png, Rejected) and (png.reason, png.detail) == ("not_html", "image/png")
    assert isinstance(wet, Document) and wet.text == "Plain WET text.\nSecond line." and wet.raw is None


def test_truncated_warc_is_a_dead_letter_not_a_crash(tmp_path):
    path = tmp_path / "crawl.warc.gz"
    write_warc(path, [("response", f"https://example.org/{i}", article("Harbour", EN), "text/html")
                      for i in range(20)])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    src = SourceConfig(name="cc", paths=(str(path),), format="warc")
    with fn_api_test_pipeline() as p:
        out = p | ReadDocuments((src,), ReadConfig())
        reasons = out[ReadDocuments.REJECTED] | beam.Map(lambda r: r.reason)
        assert_that(reasons, equal_to(["truncated_file"]), label="dead")
        total = ((out["docs"] | "n1" >> beam.combiners.Count.Globally(),
                  reasons | "n2" >> beam.combiners.Count.Globally()) | beam.Flatten() | beam.CombineGlobally(sum))
        counted = out[ReadDocuments.COUNTS] | beam.Map(lambda kv: kv[1])
        assert_that((total, counted) | "both" >> beam.Flatten() | beam.Distinct() | beam.combiners.Count.Globally(),
                    equal_to([1]), label="counts agree")


def test_curate_run_on_a_warc_source(tmp_path):
    """The whole pipeline on WARC input: extraction, URL dedup, provenance, dead letters, reconciliation."""
    import gzip
    import json

    from pipeline.cli import main
    from tests.conftest import ROOT
    from tests.output_checks import check_reconciled, curated_table, rejected_rows

    planted = json.loads((ROOT / "data" / "sample" / "planted.json").read_text())
    originals = set(planted["originals"])
    texts = []
    with gzip.open(ROOT / "data" / "sample" / "web_en.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # the sample's planted broken lines
            if isinstance(record, dict) and record.get("id") in originals and len(texts) < 8:
                texts.append(record["text"])
    topics = [f"page{i}" for i in range(len(texts))]
    records = [("response", f"https://example.org/{t}", article(t, text.split("\n\n")), "text/html")
               for t, text in zip(topics, texts, strict=True)]
    # the same page under an equivalent URL (which copy survives depends on the random WARC-Record-IDs)
    records.append(("response", "https://example.org/page0/", article("page0", texts[0].split("\n\n")), "text/html"))
    records.append(("response", "https://example.org/empty", b"<html><body></body></html>", "text/html"))
    records.append(("response", "https://example.org/logo.png", b"\x89PNG", "image/png"))
    write_warc(tmp_path / "crawl.warc.gz", records)
    (tmp_path / "c.yaml").write_text(
        "run: {parts: 1, rejected_text_fraction: 1.0}\n"
        "sources: [{name: cc, paths: [crawl.warc.gz], format: warc}]\n"
        "langid: {keep: [en]}\n"
        "tokenizer: {train: {vocab_size: 600}}\n"
        "phases: [{name: p, tokens: 500, seq_len: 64, weights: {cc: 1}}]\n")
    assert main(["run", "--config", str(tmp_path / "c.yaml"), "--output", str(tmp_path / "out")]) == 0
    curated = curated_table(tmp_path / "out")
    urls = sorted(normalize_url(r["url"]) for r in curated.values())
    assert urls == sorted(f"https://example.org/{t}" for t in topics)
    row = curated[next(i for i, r in curated.items() if r["url"].endswith("/page1"))]
    assert row["crawl_date"] == "2023-05-17T10:00:00Z" and dict(row["meta"])["lang_hint"] == "en"
    # the article: its heading and paragraphs (trafilatura's txt output: one per line), no nav or footer
    assert row["text"] == "page1\n" + texts[1].replace("\n\n", "\n")
    rejected = sorted((r["stage"], r["reason"]) for r in rejected_rows(tmp_path / "out"))
    assert rejected == [("extract", "no_text"), ("read", "not_html"), ("urls", "duplicate_url")]
    check_reconciled(tmp_path / "out")


def test_a_corrupt_record_after_good_ones_loses_none_of_them(tmp_path):
    path = tmp_path / "crawl.warc"
    write_warc(path, [("response", f"https://example.org/{i}", article("Harbour", EN), "text/html") for i in range(2)])
    with open(path, "ab") as fh:
        fh.write(b"GARBAGE LINE\r\n\r\n")
    src = SourceConfig(name="cc", paths=(str(path),), format="warc")
    with fn_api_test_pipeline() as p:
        out = p | ReadDocuments((src,), ReadConfig())
        assert_that(out["docs"] | beam.Map(lambda d: d.url),
                    equal_to(["https://example.org/0", "https://example.org/1"]), label="docs")
        assert_that(out[ReadDocuments.REJECTED] | beam.Map(lambda r: r.reason), equal_to(["truncated_file"]),
                    label="dead")
        assert_that(out[ReadDocuments.COUNTS] | beam.Map(lambda kv: kv[1]), equal_to([3]), label="counts")
