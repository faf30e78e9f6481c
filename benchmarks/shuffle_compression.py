"""How much the whole-document shuffles shrink with transforms.shuffle's zstd encoding, and its cost.

Two inputs, each encoded as the shuffles carry it (`encode_value` of the `Document`) against the plain
pickle (the encoding before compression):
- HTML: every raw page of web-html-trafilatura-eval and web-articles-scrapinghub-aeb as the WARC reader
  builds it (`Document.raw` = the HTML bytes, before extraction): what the read stage's group by id and
  URL dedup move for WARC input.
- text: every record of the benchmark corpus (`make bench`'s, built if missing) as the JSONL reader parses
  it: what the later document shuffles move.
Encode and decode times are one core's, best of 3 passes. The ratios are the `shuffle_*_ratio`
assumptions of `curate plan` (pipeline/plan.py). Command: `python benchmarks/shuffle_compression.py`.
"""

from __future__ import annotations

import gzip
import pickle
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import _common as C  # noqa: E402

SECTION = "shuffle-compression"
CORPUS = C.ROOT / "bench-out" / "efficiency" / "corpus"


def html_documents(root: Path) -> list[Any]:
    from transforms.document import Document

    pages = [(p["url"], Path(p["path"]).read_bytes()) for p in C.trafilatura_pages(root, C.RESULTS_DIR /
                                                                                   "trafilatura-html")]
    pages += [(p["url"], p["raw"]) for p in C.scrapinghub_pages(root)]
    return [Document(id=f"web/{i}", source="web", text="", location=f"pages.warc.gz:{i}", url=url,
                     crawl_date="2024-04-25T16:24:44Z", meta={"warc_record_id": f"<urn:uuid:{i:032x}>"}, raw=raw)
            for i, (url, raw) in enumerate(pages)]


def text_documents(corpus: Path) -> list[Any]:
    from transforms.document import Document
    from transforms.read import SourceConfig, parse_record

    if not list(corpus.glob("*.jsonl.gz")):
        C.build_bench_corpus(corpus, 100, 8.0)
    docs = []
    for path in sorted(corpus.glob("*.jsonl.gz")):
        src = SourceConfig(name=path.name.split("-")[0], paths=(str(path),), id_field="id")
        with gzip.open(path, "rb") as fh:
            for n, line in enumerate(fh, 1):
                item = parse_record(line.rstrip(b"\n"), src, path.name, n)
                if isinstance(item, Document):  # not a dead letter
                    docs.append(item)
    return docs


def measure(docs: list[Any]) -> dict[str, Any]:
    from transforms.shuffle import decode_value, encode_value

    plain = sum(len(pickle.dumps(d, protocol=5)) for d in docs)
    enc_s, dec_s = [], []
    for _ in range(3):
        start = time.perf_counter()
        blobs = [encode_value(d) for d in docs]
        enc_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        for b in blobs:
            decode_value(b)
        dec_s.append(time.perf_counter() - start)
    assert [decode_value(b) for b in blobs[:50]] == docs[:50]
    encoded = sum(len(b) for b in blobs)
    pickle_s = min(C.timed(lambda: [pickle.dumps(d, protocol=5) for d in docs])[1] for _ in range(3))
    return {"docs": len(docs), "plain_bytes": plain, "encoded_bytes": encoded, "ratio": encoded / plain,
            "compressed_docs": sum(b[:1] == b"Z" for b in blobs), "encode_s": min(enc_s), "decode_s": min(dec_s),
            "pickle_s": pickle_s, "encode_mb_s": plain / 1e6 / min(enc_s), "decode_mb_s": plain / 1e6 / min(dec_s)}


def run(args: Any) -> dict | None:
    root = C.require_shared_data("web-html-trafilatura-eval", "web-articles-scrapinghub-aeb")
    if root is None:
        return None
    note = C.pin_one_core()
    started = time.perf_counter()
    res = {"machine": C.machine(), "pinned": note, "html": measure(html_documents(root)),
           "text": measure(text_documents(CORPUS))}
    res["seconds"] = round(time.perf_counter() - started, 1)
    return res


def render(res: dict) -> list[str]:
    begin, end = C.markers(SECTION)
    rows = []
    for name, what in (("html", "raw HTML pages as WARC documents (trafilatura-eval + scrapinghub)"),
                       ("text", "benchmark corpus records as JSONL documents")):
        r = res[name]
        rows.append([what, r["docs"], f"{r['plain_bytes'] / 1e6:.1f}", f"{r['encoded_bytes'] / 1e6:.1f}",
                     f"{r['ratio']:.3f}", r["compressed_docs"], f"{r['encode_mb_s']:.0f}", f"{r['decode_mb_s']:.0f}",
                     f"{r['pickle_s']:.2f} / {r['encode_s']:.2f}"])
    return [begin, "## Shuffle encoding: zstd-compressed documents (issue 9)", "",
            "Produced by `python benchmarks/shuffle_compression.py` (" + res["pinned"] + "). Each document is "
            "encoded as the whole-document shuffles carry it (`transforms.shuffle.encode_value`: the pickle, "
            "zstd level 1 when it is at least 8 KB and shrinks) and compared with the plain pickle; MB/s are "
            "plain-pickle MB per second of one core, best of 3.", "",
            *C.md_table(["documents", "n", "pickle MB", "encoded MB", "ratio", "compressed", "encode MB/s",
                         "decode MB/s", "pickle s / encode s"], rows), "",
            "The text ratio is `curate plan`'s `shuffle_text_ratio` (pipeline/plan.py); raw HTML no longer "
            "crosses a shuffle (ids and URLs are made unique on keys, before extraction).",
            end]


def main() -> int:
    parser = C.arg_parser(__doc__)
    parser.add_argument("--no-report", action="store_true", help="print only; leave BENCHMARKS.md as it is")
    args = parser.parse_args()
    res = run(args)
    if res is None:
        return 0
    path = C.write_results("shuffle_compression", res, args.json)
    lines = render(res)
    print("\n".join(lines) + f"\n\nraw results: {path} ({res['seconds']} s)")
    if not args.no_report:
        C.replace_section(C.ROOT / "BENCHMARKS.md", SECTION, "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
