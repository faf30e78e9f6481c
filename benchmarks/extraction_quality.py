"""HTML -> main text extraction quality and speed of `transforms.extract.PageExtractor(timeout_s=5)`.

Sets (../shared/data):
- web-html-trafilatura-eval: the 990 pages with an evaldata.json entry. Each entry lists snippets that
  belong to the main text ("with": should be kept) and boilerplate ("without": should be dropped). Scores:
  share of should-keep snippets found in the extracted text and share of should-drop snippets absent
  (micro-averaged over snippets; whitespace collapsed on both sides; a page with no text keeps nothing
  and drops everything). The HTML archives are unpacked under /tmp, never into the repository.
- web-articles-scrapinghub-aeb: 181 news/blog pages with a human-checked article body. Scores: token-level
  precision / recall / F1 of the extracted text against the body (multiset overlap of tokens, a token being
  a run of letters/digits or one CJK/kana/Hangul character; lower-cased), mean over pages (a page with no
  text scores 0).
Both: pages with no text, pages timed out, pages/s (one extractor, wall clock including its worker).
Reference row: scrapinghub with `extract_main_text(decode_html(raw, None), url)` in-process (no worker,
no time limit), to show what the process isolation costs.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
import unicodedata
from collections import Counter
from pathlib import Path

import _common as C

NAME = "extraction_quality"
TIMEOUT_S = 5.0
QUICK_TRAF, QUICK_SH = 120, 60
_WS = re.compile(r"\s+")
_TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]|[^\W_]+", re.UNICODE)


def norm(text: str) -> str:
    return _WS.sub(" ", unicodedata.normalize("NFC", text)).strip()


def tokens(text: str) -> Counter:
    return Counter(t.lower() for t in _TOKEN.findall(unicodedata.normalize("NFC", text)))


def prf(pred: str | None, gold: str) -> tuple[float, float, float]:
    if not pred:
        return 0.0, 0.0, 0.0
    p_tok, g_tok = tokens(pred), tokens(gold)
    overlap = sum((p_tok & g_tok).values())
    if not overlap:
        return 0.0, 0.0, 0.0
    precision, recall = overlap / sum(p_tok.values()), overlap / sum(g_tok.values())
    return precision, recall, 2 * precision * recall / (precision + recall)


def extract_all(extractor, pages: list[dict]) -> tuple[list, float]:
    out = []
    start = time.perf_counter()
    for page in pages:
        raw = page["raw"] if "raw" in page else Path(page["path"]).read_bytes()
        t0 = time.perf_counter()
        try:
            res = extractor.extract(raw, None, page.get("url"))
            err = None
        except Exception as exc:  # the contract says extract() returns a reason; record it if it raises
            res, err = None, f"{type(exc).__name__}: {exc}"
        out.append((res, err, time.perf_counter() - t0))
    return out, time.perf_counter() - start


def summarize_common(results: list, seconds: float) -> dict:
    reasons = Counter()
    no_text = timeouts = raised = 0
    for res, err, _ in results:
        if err is not None:
            raised += 1
            reasons["exception"] += 1
            no_text += 1
            continue
        if not (res.text and res.text.strip()):
            no_text += 1
        if res.reason:
            reasons[res.reason] += 1
            timeouts += "timeout" in res.reason.lower()
    times = sorted(t for _, _, t in results)
    return {"pages": len(results), "no_text": no_text, "timed_out": timeouts, "raised": raised,
            "reasons": dict(reasons), "seconds": round(seconds, 2),
            "pages_per_s": len(results) / seconds if seconds else None,
            "p50_ms": round(1000 * times[len(times) // 2], 1) if times else None,
            "max_ms": round(1000 * times[-1], 1) if times else None}


def score_trafilatura(pages: list[dict], results: list, seconds: float) -> dict:
    kept = keep_total = dropped = drop_total = 0
    hint_agree = hint_total = 0
    worst = []
    for page, (res, _err, _) in zip(pages, results, strict=True):
        text = norm(res.text) if res is not None and res.text else ""
        k = sum(1 for s in page["with"] if norm(s) and norm(s) in text)
        kt = sum(1 for s in page["with"] if norm(s))
        d = sum(1 for s in page["without"] if norm(s) and norm(s) not in text)
        dt = sum(1 for s in page["without"] if norm(s))
        kept, keep_total, dropped, drop_total = kept + k, keep_total + kt, dropped + d, drop_total + dt
        if res is not None and res.lang_hint and page["html_lang"]:
            hint_total += 1
            hint_agree += C.canon(res.lang_hint) == C.canon(page["html_lang"])
        if kt and k < kt or dt and d < dt:
            worst.append({"page": Path(page["path"]).name, "kept": f"{k}/{kt}", "dropped": f"{d}/{dt}",
                          "reason": getattr(res, "reason", None), "chars": len(text)})
    out = summarize_common(results, seconds)
    out.update({"keep_found": kept / keep_total if keep_total else None, "keep_snippets": keep_total,
                "drop_absent": dropped / drop_total if drop_total else None, "drop_snippets": drop_total,
                "lang_hint_vs_html_lang": hint_agree / hint_total if hint_total else None,
                "lang_hint_pages": hint_total, "misses": worst[:30]})
    return out


def score_scrapinghub(pages: list[dict], results: list, seconds: float) -> dict:
    ps, rs, fs = [], [], []
    low = []
    for page, (res, _err, _) in zip(pages, results, strict=True):
        p, r, f = prf(res.text if res is not None else None, page["body"])
        ps.append(p)
        rs.append(r)
        fs.append(f)
        if f < 0.5:
            low.append({"id": page["id"][:12], "url": page["url"], "f1": round(f, 3), "p": round(p, 3),
                        "r": round(r, 3), "reason": getattr(res, "reason", None)})
    out = summarize_common(results, seconds)
    n = len(pages) or 1
    out.update({"precision": sum(ps) / n, "recall": sum(rs) / n, "f1": sum(fs) / n,
                "f1_median": sorted(fs)[len(fs) // 2] if fs else None, "f1_below_0.5": len(low),
                "low_f1": sorted(low, key=lambda x: x["f1"])[:20]})
    return out


def run(quick: bool = False, max_pages: int | None = None, workdir: Path | None = None) -> dict | None:
    root = C.require_shared_data("web-html-trafilatura-eval", "web-articles-scrapinghub-aeb")
    if root is None:
        return None
    from transforms.extract import PageExtractor

    workdir = workdir or C.RESULTS_DIR / "trafilatura-html"
    started = time.perf_counter()
    traf = C.trafilatura_pages(root, workdir)
    sh = C.scrapinghub_pages(root)
    traf_total, sh_total = len(traf), len(sh)
    if quick:
        traf, sh = C.subsample(traf, QUICK_TRAF), C.subsample(sh, QUICK_SH)
    elif max_pages is not None:
        traf = C.subsample(traf, max_pages)
    unpack_s = time.perf_counter() - started

    extractor = PageExtractor(timeout_s=TIMEOUT_S)
    try:
        # warm-up outside the timing: a worker process or lazy imports must not count against pages/s
        extractor.extract(b"<html><body><article><p>warm up text for the extractor.</p></article></body></html>",
                          None, None)
        traf_res, traf_s = extract_all(extractor, traf)
        print(f"trafilatura-eval: {len(traf)} pages in {traf_s:.1f} s", flush=True)
        sh_res, sh_s = extract_all(extractor, sh)
        print(f"scrapinghub: {len(sh)} pages in {sh_s:.1f} s", flush=True)
    finally:
        extractor.close()
    # reference: the same extraction in-process, without the worker process and its time limit
    from transforms.extract import ExtractResult, decode_html, extract_main_text

    class _InProcess:
        def extract(self, raw, http_charset, url):
            text = extract_main_text(decode_html(raw, http_charset), url)
            return ExtractResult(text if text and text.strip() else None, None if text else "no_text", None)

    ref_res, ref_s = extract_all(_InProcess(), sh)
    sets = {"trafilatura-eval": score_trafilatura(traf, traf_res, traf_s),
            "scrapinghub-aeb": score_scrapinghub(sh, sh_res, sh_s),
            "scrapinghub-aeb (in-process extract_main_text)": score_scrapinghub(sh, ref_res, ref_s)}
    sets["scrapinghub-aeb (in-process extract_main_text)"]["of_total"] = sh_total
    sets["trafilatura-eval"]["of_total"] = traf_total
    sets["scrapinghub-aeb"]["of_total"] = sh_total
    return {"name": NAME, "quick": quick, "max_pages": max_pages, "machine": C.machine(), "timeout_s": TIMEOUT_S,
            "unpack_s": round(unpack_s, 1), "seconds": round(time.perf_counter() - started, 1), "sets": sets}


def render(res: dict) -> list[str]:
    q = " --quick" if res.get("quick") else (f" --max-pages {res['max_pages']}" if res.get("max_pages") else "")
    t, s = res["sets"]["trafilatura-eval"], res["sets"]["scrapinghub-aeb"]
    sub = ""
    if t["pages"] < t["of_total"] or s["pages"] < s["of_total"]:
        why = "the --quick subsample" if res.get("quick") else "to keep `run_all.py` within its time budget"
        sub = (f" **Subsample**: {t['pages']} of {t['of_total']} trafilatura pages and {s['pages']} of "
               f"{s['of_total']} scrapinghub pages (deterministic, seeded; {why}); run the script without "
               "options for every page.")
    lines = ["### HTML extraction", "",
             f"`PageExtractor(timeout_s={res['timeout_s']:g})` on raw pages (no HTTP charset given). trafilatura-eval: "
             "share of should-keep snippets found in the text and of should-drop (boilerplate) snippets absent; "
             "scrapinghub: token precision/recall/F1 vs the human-checked article body (mean over pages). "
             f"pages/s = one extractor, sequential, wall clock.{sub} "
             f"Command: `python benchmarks/extraction_quality.py{q}`.", ""]
    rows = [["trafilatura-eval", f"{t['pages']} / {t['of_total']}", C.pct(t["keep_found"]), C.pct(t["drop_absent"]),
             "", "", "", t["no_text"], t["timed_out"], f"{t['pages_per_s']:.1f}", t["p50_ms"], t["max_ms"]],
            ["scrapinghub-aeb", f"{s['pages']} / {s['of_total']}", "", "", f"{s['precision']:.3f}",
             f"{s['recall']:.3f}", f"{s['f1']:.3f}", s["no_text"], s["timed_out"], f"{s['pages_per_s']:.1f}",
             s["p50_ms"], s["max_ms"]]]
    ref = res["sets"].get("scrapinghub-aeb (in-process extract_main_text)")
    if ref:
        rows.append(["scrapinghub-aeb, in-process `extract_main_text` (reference, no time limit)",
                     f"{ref['pages']} / {ref['of_total']}", "", "", f"{ref['precision']:.3f}", f"{ref['recall']:.3f}",
                     f"{ref['f1']:.3f}", ref["no_text"], "", f"{ref['pages_per_s']:.1f}", ref["p50_ms"], ref["max_ms"]])
    lines += C.md_table(["set", "pages", "keep found", "drop absent", "precision", "recall", "F1", "no text",
                         "timed out", "pages/s", "p50 ms", "max ms"], rows)
    notes = []
    for name, r in res["sets"].items():
        if r["reasons"]:
            notes.append(f"{name} reasons: " + ", ".join(f"{k} {v}" for k, v in sorted(r["reasons"].items())))
    if t.get("lang_hint_pages"):
        notes.append(f"`lang_hint` (parsed by the stage) equals the `<html lang>` attribute listed in manifest.jsonl "
                     f"on {C.pct(t['lang_hint_vs_html_lang'])} of {t['lang_hint_pages']} trafilatura pages that have "
                     "both (a parser check, not a language check)")
    if notes:
        lines += ["", "; ".join(notes) + "."]
    return lines


def _add_max_pages(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-pages", type=int, default=None,
                        help="score a deterministic subsample of this many trafilatura-eval pages")


def main() -> int:
    return C.cli(NAME, __doc__, lambda args: run(args.quick, args.max_pages), render, configure=_add_max_pages)


if __name__ == "__main__":
    sys.exit(main())
