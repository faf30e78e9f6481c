"""`curate plan --config C --input-bytes N`: a pre-flight estimate of a run at scale, before any work.

From the config (which stages run, near-dedup bands, phase budgets), the input size, documented
assumptions (document size, survival per stage, text share of HTML) and the per-core throughputs measured
by the benchmarks (pipeline/throughput.json, refreshed from BENCHMARKS.md), it computes per stage the bytes
and documents that reach it and its core-hours, the MinHash shuffle, intermediate and output sizes,
worker memory, the wall time on a given number of workers, and what the launcher does in one process
between and after the jobs (the tokenizer's pick from the rows the curation job kept for it and its
training, the report's reads of the parts' summaries: these do not scale with the workers). Every figure
is arithmetic on those inputs, printed with them, so it can be checked by hand (docs/scale.md walks
through it).
"""

from __future__ import annotations

import dataclasses
import json
from importlib import resources
from typing import Any

from pipeline.config import PipelineConfig

# Survival of each stage (share of the documents entering it that it keeps), for web-scale input.
# Sources: RefinedWeb (Penedo et al. 2023, fig. 2: URL filter -2.3%, language ID keeps ~48% of CC
# documents as English, repetition + quality filters remove ~45% of the rest, MinHash dedup ~40%, exact
# dedup a further ~10%); FineWeb (Penedo et al. 2024: Gopher + C4 + FineWeb filters together drop ~50%
# of English documents); InternLM (2023): keeps English and Chinese (~55% of CC documents together).
DEFAULT_SURVIVAL = {
    "read": 0.999,          # broken records
    "urls": 0.97,           # domain blocklists + URL dedup
    "extract": 0.95,        # pages without main text
    "exact_dedup": 0.90,
    "langid": 0.55,         # en + zh
    "rules": 0.55,
    "safety": 0.97,
    "quality": 1.0,         # replaced by quality.top_fraction / threshold of the config's sources (below)
    "near_dedup": 0.60,
    "decontam": 0.999,
}
STAGES = ("read", "urls", "extract", "normalize", "exact_dedup", "langid", "rules", "safety", "quality",
          "near_dedup", "decontam")


@dataclasses.dataclass(frozen=True)
class Assumptions:
    doc_bytes: int = 3000               # mean UTF-8 bytes of text per document (FineWeb: ~3.1 KB)
    html_share: float = 0.0             # share of the input bytes that is WARC HTML (needs extraction)
    page_bytes: int = 60_000            # mean bytes of an HTML response in a WARC file
    text_per_html_byte: float = 0.10    # extracted text per HTML byte (Common Crawl WET vs WARC)
    bytes_per_token: float = 3.6        # kept text bytes per token (en ~4.2, zh ~2.9 with a 100k BPE vocabulary)
    parquet_ratio: float = 0.35         # zstd Parquet bytes per text byte
    band_key_bytes: int = 24            # per (band, document) in the LSH shuffle: band hash, doc key, framing
    # the groups of keys before extraction (transforms/read.py, transforms/urls.py), per record; sized for
    # Common Crawl WARC (ids ~50 B, locations ~130 B: relative path + WARC-Record-ID, URLs ~80 B)
    id_key_bytes: int = 280             # group by id: id, range id, position, location, URL
    url_key_bytes: int = 160            # group by URL: normalized URL, id, place, blocklist verdict
    verdict_bytes: int = 52             # group by range, then the second read's windows (a Reshuffle): range
                                        # id, position and verdict twice, and the record's size (4 B)
    # bytes a whole-document shuffle carries per text byte (transforms/shuffle.py: zstd level 1); measured
    # by benchmarks/shuffle_compression.py (BENCHMARKS.md, "Shuffle encoding")
    shuffle_text_ratio: float = 0.85
    rejected_row_bytes: int = 120       # a rejected/ row without its text (ids, stage, reason, location, scores)
    worker_cores: int = 4
    store_request_s: float = 0.05       # one request to the object store (GCS, S3) from the launcher
    survival: tuple[tuple[str, float], ...] = tuple(DEFAULT_SURVIVAL.items())


def load_throughput() -> dict[str, Any]:
    return json.loads(resources.files("pipeline").joinpath("throughput.json").read_text(encoding="utf-8"))


def _enabled(cfg: PipelineConfig) -> dict[str, bool]:
    return {"read": True, "urls": True, "extract": any(s.format == "warc" for s in cfg.sources),
            "normalize": True, "exact_dedup": True, "langid": True, "rules": True, "safety": cfg.safety.enabled,
            "quality": cfg.quality.model is not None or cfg.quality.train is not None,
            "near_dedup": cfg.near_dedup.enabled, "decontam": cfg.decontam.enabled and bool(cfg.decontam.eval_sets)}


def plan(cfg: PipelineConfig, input_bytes: int, workers: int, a: Assumptions,
         throughput: dict[str, Any] | None = None) -> dict[str, Any]:
    tp = throughput or load_throughput()
    rates, eff = tp["bare_mb_per_s"], tp["efficiency"]
    survival = dict(a.survival)
    on = _enabled(cfg)
    if on["quality"]:
        q = cfg.quality
        survival["quality"] = q.top_fraction if q.top_fraction is not None else survival["quality"]
    html_bytes = input_bytes * a.html_share
    text_bytes = input_bytes - html_bytes + html_bytes * a.text_per_html_byte
    rows: list[dict[str, Any]] = []
    bytes_in = text_bytes
    pages = html_bytes / a.page_bytes
    docs_in = (input_bytes - html_bytes) / a.doc_bytes + pages   # a page is one document
    for stage in STAGES:
        if not on.get(stage, True):
            continue
        if stage == "extract":
            seconds = pages / tp["extract_pages_per_s"] / eff
        else:
            seconds = bytes_in / 1e6 / rates[stage] / eff
        if stage == "read":
            seconds *= 2   # each file range is read twice: keys for the group by id, then the documents
        keep = survival.get(stage, 1.0)
        rows.append({"stage": stage, "bytes_in": bytes_in, "docs_in": docs_in, "survival": keep,
                     "core_hours": seconds / 3600})
        bytes_in *= keep
        docs_in *= keep
    kept_bytes = bytes_in
    kept_docs = docs_in
    tokens_available = kept_bytes / a.bytes_per_token
    tokens_wanted = sum(p.tokens for p in cfg.phases)
    write = kept_bytes / 1e6 / rates["write_parquet"] / eff
    tok = kept_bytes / 1e6 / rates["tokenize"] / eff
    pack = tokens_wanted * 4 / 1e6 / rates["pack_write"] / eff
    rows += [{"stage": "write curated/, rejected/", "bytes_in": kept_bytes, "docs_in": kept_docs, "survival": 1.0,
              "core_hours": write / 3600},
             {"stage": "tokenize (mixing job)", "bytes_in": kept_bytes, "docs_in": kept_docs, "survival": 1.0,
              "core_hours": tok / 3600},
             {"stage": "pack + shards", "bytes_in": tokens_wanted * 4, "docs_in": None, "survival": 1.0,
              "core_hours": pack / 3600}]
    nd = next((r for r in rows if r["stage"] == "near_dedup"), None)
    bands = cfg.near_dedup.bands or 17   # bands: null -> chosen from the threshold (0.7 -> 17 x 5)
    shuffle = nd["docs_in"] * bands * a.band_key_bytes if nd else 0
    docs_read = (input_bytes - html_bytes) / a.doc_bytes + pages
    # stages that shuffle whole documents: exact dedup (group by content) and near-dedup's last join
    # (cluster ids onto documents), both text (compressed on the wire by its measured ratio). Ids and URLs
    # are made unique on keys before extraction (transforms/read.py: each range is read twice), so the raw
    # HTML of WARC pages never crosses a shuffle.
    by_stage = {r["stage"]: r["bytes_in"] for r in rows}
    document_shuffle = sum(by_stage.get(s, 0) for s in ("exact_dedup", "near_dedup")) * a.shuffle_text_ratio
    urls_in = next(r["docs_in"] for r in rows if r["stage"] == "urls")
    key_shuffle = (docs_read * (a.id_key_bytes + a.verdict_bytes)
                   + (urls_in * a.url_key_bytes if cfg.urls.dedup else 0))
    core_hours = sum(r["core_hours"] for r in rows)
    cores = workers * a.worker_cores
    launcher = launcher_steps(cfg, kept_bytes, a, tp["launcher"])
    launcher_hours = sum(h for _, h in launcher)
    return {
        "input_bytes": input_bytes, "text_bytes": text_bytes, "workers": workers, "worker_cores": a.worker_cores,
        "assumptions": dataclasses.asdict(a) | {"survival": survival},
        "throughput": {"efficiency": eff, "source": tp.get("efficiency_source")},
        "stages": rows, "core_hours": core_hours,
        "wall_hours": core_hours / cores,
        "launcher": [{"step": name, "hours": h} for name, h in launcher], "launcher_hours": launcher_hours,
        "run_wall_hours": core_hours / cores + launcher_hours,
        "minhash_shuffle_bytes": shuffle, "key_shuffle_bytes": key_shuffle, "document_shuffle_bytes": document_shuffle,
        "kept_text_bytes": kept_bytes, "kept_docs": kept_docs,
        "tokens_available": tokens_available, "tokens_in_phases": tokens_wanted,
        "curated_bytes": kept_bytes * a.parquet_ratio + kept_docs * 200,
        "rejected_bytes": (docs_read - kept_docs) * a.rejected_row_bytes,
        "shard_bytes": tokens_wanted * 4 * 1.02,   # uint32 ids + cu_seqlens, doc ids and offsets (~2%)
        "worker_memory_mb": tp.get("peak_rss_mb_per_worker"),
    }


# The rows the curation job keeps for the tokenizer (transforms/tokenizer_sample.py): per cell, the share of
# its characters that `key_share` gives for the budget (with documents of `Assumptions.doc_bytes`
# characters), at most 3 UTF-8 bytes a character. Held-out cells: one per source and kept language, the
# languages plus `und`; `keep: all` counts as LANGUAGES_IF_ALL.
UTF8_BYTES_PER_CHAR = 3
LANGUAGES_IF_ALL = 20
# The report reads each part's summary (pipeline/report_stats.py): per part, the summary and the part's
# footer, ~4 requests; `curate run` builds the report's counts 3 times (after the curation job, for the run
# manifest, for the report), with SUMMARY_READERS threads.
SUMMARY_REQUESTS, REPORT_PASSES = 4, 3


def _rows_chars(budget: int, chars: float, doc_chars: int) -> float:
    """Characters the curation job keeps for a cell's budget (tokenizer/train.py `key_share`)."""
    from tokenizer.train import key_share

    if chars <= 0:
        return 0.0
    return min(1.0, key_share(budget, int(chars), int(chars * doc_chars))) * chars


def launcher_steps(cfg: PipelineConfig, kept_bytes: float, a: Assumptions,
                   rates: dict[str, float]) -> list[tuple[str, float]]:
    """(step, hours) of what the launcher does in one process between and after the jobs, at the rates
    measured locally (pipeline/throughput.json "launcher"): the tokenizer's pick from the rows the curation
    job kept for it (the sample cells together, as one cell of the kept text, and `fertility_chars` per
    held-out cell; characters taken as bytes, an upper bound) and its training, or for a pinned model the
    held-out rows alone; the report's reads of the parts' summaries, bound by the object store's latency
    (`a.store_request_s`). None of it grows with the corpus beyond the number of parts."""
    from pipeline.report_stats import SUMMARY_READERS

    train = cfg.tokenizer.train
    langs = len(cfg.langid.keep) if cfg.langid.keep is not None else LANGUAGES_IF_ALL
    cells = len(cfg.sources) * (langs + 1)
    held = train.heldout_fraction * kept_bytes
    heldout_mb = cells * _rows_chars(train.fertility_chars, held / cells, a.doc_bytes) * UTF8_BYTES_PER_CHAR / 1e6
    pick = rates["tokenizer_pick_mb_per_s"]
    if cfg.tokenizer.model is None:
        sample_chars = _rows_chars(train.sample_chars, kept_bytes - held, a.doc_bytes)
        sample_mb = sample_chars * UTF8_BYTES_PER_CHAR / 1e6 + heldout_mb
        steps = [("tokenizer sample (the curation job's rows)", sample_mb / pick),
                 ("tokenizer training", train.sample_chars / rates["tokenizer_train_chars_per_s"])]
    else:
        steps = [("tokenizer held-out documents (the curation job's rows)", heldout_mb / pick)]
    requests = REPORT_PASSES * 2 * cfg.run.parts * SUMMARY_REQUESTS
    steps.append(("report (the parts' summaries)", requests * a.store_request_s / SUMMARY_READERS))
    return [(name, seconds / 3600) for name, seconds in steps]


def _hours(h: float) -> str:
    return f"{h:,.1f} h" if h >= 0.1 else f"{h * 60:,.1f} min"


def _si(n: float, unit: str = "B") -> str:
    for prefix, scale in (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:,.2f} {prefix}{unit}"
    return f"{n:,.0f} {unit}"


def plan_lines(p: dict[str, Any]) -> list[str]:
    a = p["assumptions"]
    lines = [f"input: {_si(p['input_bytes'])} ({a['html_share']:.0%} WARC HTML -> {a['text_per_html_byte']:.0%} text); "
             f"text entering the text stages: {_si(p['text_bytes'])}",
             f"throughputs: pipeline/throughput.json, efficiency {p['throughput']['efficiency']} "
             f"({p['throughput']['source']})",
             "",
             f"{'stage':28s} {'text in':>12s} {'docs in':>14s} {'keeps':>6s} {'core-hours':>12s}"]
    for r in p["stages"]:
        docs = f"{r['docs_in']:,.0f}" if r["docs_in"] is not None else "-"
        lines.append(f"{r['stage']:28s} {_si(r['bytes_in']):>12s} {docs:>14s} {r['survival']:>6.1%} "
                     f"{r['core_hours']:>12,.0f}")
    lines += [
        "",
        f"total: {p['core_hours']:,.0f} core-hours; wall {p['wall_hours']:,.1f} h on {p['workers']} workers x "
        f"{p['worker_cores']} cores",
        "launcher, one process between and after the jobs (does not scale with workers): "
        + "; ".join(f"{s['step']} {_hours(s['hours'])}" for s in p["launcher"])
        + f"; {_hours(p['launcher_hours'])} in all",
        f"run wall: {p['run_wall_hours']:,.1f} h (jobs {p['wall_hours']:,.1f} h + launcher "
        f"{_hours(p['launcher_hours'])})",
        f"MinHash shuffle: {_si(p['minhash_shuffle_bytes'])} (documents at near-dedup x bands x "
        f"{a['band_key_bytes']} B); groups by id, URL and range: {_si(p['key_shuffle_bytes'])} of keys "
        f"(records read x ({a['id_key_bytes']} + {a['verdict_bytes']}) B, documents at urls x "
        f"{a['url_key_bytes']} B); whole-document shuffles (exact dedup, near-dedup's last join; "
        f"zstd-compressed text x {a['shuffle_text_ratio']}): {_si(p['document_shuffle_bytes'])}",
        f"kept: {_si(p['kept_text_bytes'])} of text, {p['kept_docs']:,.0f} documents, "
        f"~{p['tokens_available'] / 1e9:,.0f}B tokens at {a['bytes_per_token']} bytes/token; the phases ask for "
        f"{p['tokens_in_phases'] / 1e9:,.0f}B"
        + (" (short: upsample with max_epochs or add input)" if p["tokens_available"] < p["tokens_in_phases"] else ""),
        f"outputs: curated/ {_si(p['curated_bytes'])}, rejected/ {_si(p['rejected_bytes'])} (without texts), "
        f"shards {_si(p['shard_bytes'])}",
        f"worker memory: ~{p['worker_memory_mb']} MB per worker process measured locally (models + bundles); "
        "plan 2-4 GB per core on Dataflow/Flink for shuffle buffers",
    ]
    return lines
