"""Pipeline efficiency (issue 9): each stage's time in the pipeline against the same work done bare.

1. Builds the benchmark corpus (scripts/build_corpus.py, `--target-mb`, default 100).
2. Runs `curate run` on it pinned to one core (in_memory, 1 worker) and reads Beam's measured execution
   time per top-level step (report/timings.json `beam_steps`: the FnApiRunner's state sampler attributes
   time to the step that is executing, fused downstream steps excluded; sampled every 10 ms instead of
   Beam's 200, see SAMPLING_MS) and the run's wall time. The run
   uses the corpus's own config, as a user would run it (it keeps the text of a seeded 5% of rejected
   documents, `run.rejected_text_fraction: 0.05`).
3. Replays each stage bare, in this process on the same core, right before and right after that run (the
   mean of the two replays is the bare time; see main): the stage's own pure functions and
   library calls in a plain loop over the documents that entered that stage in the run (recovered from
   the run's outputs: kept rows and the rejected rows of that stage or a later one; a rejected row
   without its text gets the text that entered its stage back from the input, rebuilt untimed with the
   stages' own functions, see `entering_text`), under the garbage collector settings the pipeline's
   processes use (transforms/runtime.py).
4. Stage efficiency = bare time / the stage's pipeline time; end-to-end efficiency = the sum of the bare
   times (launcher steps such as tokenizer training count as their own wall time) / the run's wall time.

What "bare" covers per stage is listed in BARE below; shuffles (GroupByKey), Beam's coders and bundle
overheads are what the pipeline adds. With `--workers 2` it also runs multi_processing with 2 workers for the
speed-up (and with `--mp-baseline` multi_processing with 1 worker). Runs are made in `--repeats` interleaved
rounds and every ratio is taken within a round (see main). The multi_processing runs are not pinned: this
process unpins itself after each bare replay, since a child inherits its parent's CPU affinity.

Writes the section between <!-- efficiency:begin --> and <!-- efficiency:end --> of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import gzip
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import _common as C  # noqa: E402 - benchmarks/ is on sys.path when this runs as a script

BEGIN, END = C.markers("efficiency")
CORE = 0

# top-level Beam step labels (pipeline/graph.py) -> the stage whose bare time they are measured against
STEPS = {
    "curation/Read": "read", "curation/FilterUrls": "urls", "curation/ExtractText": "extract",
    "curation/Normalize": "normalize", "curation/ExactDedup": "exact_dedup",
    "curation/IdentifyLanguage": "langid", "curation/FilterRules": "rules", "curation/FilterSafety": "safety",
    "curation/ScoreQuality": "quality", "curation/NearDedup": "near_dedup", "curation/Decontaminate": "decontam",
    "curation/WriteCurated": "write_parquet", "curation/WriteRejected": "write_parquet",
    "curation/SampleCells": "write_parquet",
    "mixing/Tokenize": "tokenize", "mixing/MixPhases": "mix", "mixing/Pack": "pack",
    "mixing/WriteShards": "write_shards",
}
# launcher steps (pipeline/run.py `seconds`) that run outside Beam: their time is their own work, bare
# (the report: counts of curated/ and rejected/, report.json and its plots, drawn with matplotlib)
LAUNCHER_STEPS = ("quality_training", "tokenizer", "report")
BARE = {
    "read": "gzip decompression, JSON parse + Document per line (transforms.read.parse_record)",
    "urls": "URL normalization (normalize_url) for documents with a URL",
    "normalize": "normalize_text on the raw text",
    "exact_dedup": "content_hash of the normalized text",
    "langid": "identify_batch (fastText lid.176.ftz) in batches of the stage's batch size",
    "rules": "apply_rules with each source's rule sets",
    "safety": "check_safety (blocklists, PII redaction)",
    "near_dedup": "shingle hashes, datasketch MinHash signature, band buckets, candidate edges, verification of "
                  "each distinct pair (exact Jaccard of shingle sets), union-find clusters, one survivor each",
    "decontam": "decontaminate against the configured eval sets",
    "write_parquet": "per part: records to rows, sorted, pyarrow table, Parquet bytes (part_table, part_table_bytes), "
                     "its report summary (part_summary) and for curated/ the tokenizer's sample rows "
                     "(sample_part_bytes, after the cells' characters are counted)",
    "tokenize": "SentencePiece batch encode (encode_batch) of every kept document",
    "mix": "plan_mix (the phase plan: histograms, cuts, cursors; the stage's functions in memory) and each "
           "document's units (MixSpec.assign_units, the cut copy, its split and pack bucket)",
    "pack": "pack_documents per (phase, split, bucket) of the run's assignment",
    "write_shards": "Arrow IPC bytes of each packed shard",
}


_START_AFFINITY = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None


def pin(core: int | None = CORE) -> None:
    """Pins this process to `core` (None: back to the cores it started with)."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core} if core is not None else _START_AFFINITY)


# Beam's state sampler attributes the time between two samples to the step executing at the second one,
# sampling every 200 ms (apache_beam/runners/worker/statesampler.py). A stage of a few seconds fused with
# others (language ID between normalization and the rules) then gets a few dozen samples, and its time moves
# by 15% from run to run on sampling alone (language ID: 5.0-7.8 s for the same work here). The pinned run
# samples every SAMPLING_MS instead: the same `curate run`, started with the sampler's default period changed.
SAMPLING_MS = 10
FINE_SAMPLING = ("import sys; from apache_beam.runners.worker import statesampler; "
                 f"statesampler.StateSampler.__init__.__defaults__ = ({SAMPLING_MS},); "
                 "sys.argv[0] = 'curate'; from pipeline.cli import entry; entry()")


def run_pipeline(config: Path, out: Path, beam_args: list[str], pinned: bool) -> dict[str, Any]:
    """One `curate run`; `pinned`: on one core, with step times sampled every SAMPLING_MS."""
    subprocess.run(["rm", "-rf", str(out)], check=True)
    launch = ["-c", FINE_SAMPLING] if pinned else ["-m", "pipeline"]
    cmd = [sys.executable, *launch, "run", "--quiet", "--config", str(config), "--output", str(out)]
    if beam_args:
        cmd += ["--", *beam_args]
    if pinned:
        cmd = ["taskset", "-c", str(CORE), *cmd]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"curate run failed:\n{proc.stderr[-3000:]}")
    timings = json.loads((out / "report" / "timings.json").read_text())
    return {"wall": wall, "timings": timings}


# ---------------------------------------------------------------- bare replay

REBUILT_STAGES = ("exact_dedup", "langid", "rules", "safety", "near_dedup")


def safety_matchers(word_blocklists: Mapping[str, str]) -> dict[str, Any]:
    """The safety stage's blocklist matchers for these lists (name -> path), built once per set of lists."""
    return _matchers(tuple(sorted(word_blocklists.items())))


@functools.lru_cache(maxsize=4)
def _matchers(lists: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    from transforms.safety import BlocklistMatcher, load_blocklists

    return {n: BlocklistMatcher.of(t) for n, t in load_blocklists(dict(lists)).items()}


def entering_text(raw: str, row: dict[str, Any], cfg: Any) -> str:
    """The text a document had when it entered the stage that rejected it (`row`: its rejected row),
    rebuilt from its raw input text with the stages' functions, as the pipeline passes it on: normalized
    (exact dedup, language ID and the rules see that), rewritten by the rules (safety sees that; a
    document the rules drop keeps its text as it came in), then PII-redacted (near-dedup sees that).
    For records read as text (no HTML), whose extraction passes the text through."""
    from transforms.normalize import normalize_text
    from transforms.rules import evaluate
    from transforms.safety import check_safety

    text = normalize_text(raw)
    stage = row["stage"]
    if stage in ("exact_dedup", "langid", "rules"):
        return text
    text = evaluate(text, row["lang"], cfg.rules.rule_sets_for(row["source"]), cfg.rules).text
    if stage == "safety" or not cfg.safety.enabled:
        return text
    return check_safety(text, safety_matchers(cfg.safety.word_blocklists), cfg.safety).text


def _timed(label: str, totals: dict[str, float], fn: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    result = fn()
    totals[label] += time.perf_counter() - start
    return result


def _rows(out: Path, kind: str) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    rows: list[dict[str, Any]] = []
    for part in sorted((out / kind).glob("part-*.parquet")):
        rows += pq.read_table(part).to_pylist()
    return rows


def input_files(cfg: Any) -> list[tuple[Any, Path]]:
    """(source config, path) of every input file the run's config names, in source and path order."""
    return [(src, path) for src in cfg.sources for pattern in src.paths
            for path in sorted(Path(pattern).parent.glob(Path(pattern).name))]


def bare_times(corpus: Path, config_path: Path, out: Path) -> dict[str, float]:
    """Seconds of each stage's own work on the documents that entered it in the run in `out`."""
    import numpy as np

    from pipeline.config import load_config
    from pipeline.manifest import load_ledger, read_shard
    from pipeline.report_stats import STAGE_ORDER, part_summary
    from tokenizer.wrapper import Tokenizer
    from transforms.arrow_shards import shard_bytes
    from transforms.decontam import decontaminate, load_eval_ngrams
    from transforms.document import Document, Rejected
    from transforms.hashing import content_hash, unit_interval
    from transforms.langid import identify_batch, load_model
    from transforms.mix import MixSpec, plan_mix, unit_hash
    from transforms.near_dedup import (
        band_keys,
        bucket_edges,
        document_shingle_hashes,
        minhash_inputs,
        minhash_template,
        payload_jaccard,
        signature,
        survivor_rank,
    )
    from transforms.normalize import normalize_text
    from transforms.pack import pack_documents
    from transforms.parquet_out import part_of, part_table, part_table_bytes
    from transforms.read import parse_record
    from transforms.rules import apply_rules
    from transforms.safety import check_safety
    from transforms.tokenize import TokenizedDoc
    from transforms.tokenizer_sample import cell_stats, sample_part_bytes
    from transforms.urls import normalize_url

    cfg = load_config(config_path)
    totals: dict[str, float] = defaultdict(float)
    curated = _rows(out, "curated")
    rejected = _rows(out, "rejected")
    order = {s: i for i, s in enumerate(STAGE_ORDER)}

    # read: every line of every input file
    raw_text: dict[str, str] = {}
    for src, path in input_files(cfg):
        rel = path.name

        def parse(path=path, src=src, rel=rel) -> list[Any]:   # decompression is the stage's work too
            with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as fh:
                lines = fh.read().splitlines()
            return [parse_record(line, src, rel, n) for n, line in enumerate(lines, 1) if line.strip()]

        for item in _timed("read", totals, parse):
            if hasattr(item, "text") and getattr(item, "raw", None) is None and hasattr(item, "lang_shares"):
                raw_text[item.id] = item.text
    # rejected rows whose text the run did not keep (rejected_text_fraction) get the text that entered their
    # stage, for the stages' replays (the Parquet replay below writes the rows as the run wrote them)
    replayed = [{**r, "text": entering_text(raw_text[r["id"]], r, cfg)}
                if r["text"] is None and r["id"] in raw_text and r["stage"] in REBUILT_STAGES else r
                for r in rejected]

    def entering(stage: str) -> list[dict[str, Any]]:
        i = order[stage]
        return [r for r in curated if r["decision"] == "keep"] + [
            r for r in replayed if order.get(r["stage"], len(order)) >= i and r["stage"] != "read"]

    # urls
    urls = [r["url"] for r in entering("urls") if r.get("url")]
    _timed("urls", totals, lambda: [normalize_url(u) for u in urls])
    # normalize: the raw text of the documents that reached it
    raws = [raw_text[r["id"]] for r in entering("normalize") if r["id"] in raw_text]
    _timed("normalize", totals, lambda: [normalize_text(t) for t in raws])
    texts = [r["text"] or "" for r in entering("exact_dedup")]
    _timed("exact_dedup", totals, lambda: [content_hash(t) for t in texts])
    # langid (documents of sources without a fixed language)
    fixed = {s.name for s in cfg.sources if s.lang}
    lid_texts = [r["text"] or "" for r in entering("langid") if r["source"] not in fixed]
    model = load_model(cfg.langid.model)
    batch = cfg.langid.batch_size

    def lid() -> None:
        for i in range(0, len(lid_texts), batch):
            identify_batch(model, lid_texts[i:i + batch], cfg.langid)

    _timed("langid", totals, lid)
    rules_rows = entering("rules")

    def rules() -> None:
        for r in rules_rows:
            sets = cfg.rules.by_source.get(r["source"], cfg.rules.default)
            apply_rules(r["text"] or "", r["lang"], sets, cfg.rules)

    _timed("rules", totals, rules)
    if cfg.safety.enabled:
        matchers = safety_matchers(cfg.safety.word_blocklists)
        safety_texts = [r["text"] or "" for r in entering("safety")]
        _timed("safety", totals, lambda: [check_safety(t, matchers, cfg.safety) for t in safety_texts])
    if cfg.near_dedup.enabled:
        nd = cfg.near_dedup
        template = minhash_template(nd)
        nd_rows = entering("near_dedup")
        docs_nd = [Document(id=r["id"], source=r["source"], text=r["text"] or "", url=r.get("url"),
                            crawl_date=r.get("crawl_date"), quality_score=r.get("quality_score")) for r in nd_rows]

        def near() -> None:
            # signatures and band buckets, candidate edges per bucket, verification of each distinct
            # candidate pair on what the run compares (exact: the shingle sets), then clusters with a
            # union-find and one survivor per cluster: the stage's work, in one process
            buckets: dict[bytes, list[int]] = defaultdict(list)
            payload: dict[int, bytes] = {}
            for i, r in enumerate(nd_rows):
                inputs = minhash_inputs(document_shingle_hashes(r["id"], r["text"] or "", nd))
                sig = signature(inputs, nd, template)
                payload[i] = inputs.tobytes() if nd.verify == "exact" else sig
                for band in band_keys(np.frombuffer(sig, dtype=np.uint32), nd.bands, nd.rows):
                    buckets[band].append(i)
            edges = {e for members in buckets.values() if len(members) > 1 for e in bucket_edges(members)}
            verified = [(a, b) for a, b in edges if payload_jaccard(payload[a], payload[b], nd.verify) >= nd.threshold]
            clusters: dict[int, list[int]] = defaultdict(list)
            for i, root in C.components(range(len(nd_rows)), verified).items():
                clusters[root].append(i)
            for members in clusters.values():
                if len(members) > 1:
                    min(members, key=lambda i: survivor_rank(docs_nd[i], nd.survivor_priority))

        _timed("near_dedup", totals, near)
    if cfg.decontam.enabled and cfg.decontam.eval_sets:
        index = load_eval_ngrams(cfg.decontam)
        dec_texts = [r["text"] or "" for r in entering("decontam")]
        _timed("decontam", totals, lambda: [decontaminate(t, index, cfg.decontam.mode) for t in dec_texts])
    # writing curated/ and rejected/: each record to its row (document_row / rejected_row), rows sorted per
    # part, Arrow tables and Parquet bytes; beside each part its report summary and, for curated/, the
    # tokenizer's sample rows (the cells' characters counted first, as the job's SampleCells does)
    train, heldout_only = cfg.tokenizer.train, cfg.tokenizer.model is not None
    cleaned = cfg.decontam.enabled and bool(cfg.decontam.eval_sets)
    for rows, kind, cls in ((curated, "curated", Document), (rejected, "rejected", Rejected)):
        names = {f.name for f in dataclasses.fields(cls)}
        items = [cls(**{k: (dict(v) if k in ("scores", "meta", "lang_shares") and v is not None else v)
                        for k, v in r.items() if k in names}) for r in rows]
        parts = defaultdict(list)
        for item in items:
            parts[part_of(cfg.run.seed, item.id, cfg.run.parts)].append(item)

        def write(parts=parts, kind=kind, items=items) -> None:
            cells: dict[Any, tuple[int, int]] = {}
            if kind == "curated":
                for d in items:
                    if d.decision == "keep":
                        for cell, (n, sq) in cell_stats(d, train, heldout_only):
                            chars, squares = cells.get(cell, (0, 0))
                            cells[cell] = (chars + n, squares + sq)
            for p in parts.values():
                table = part_table(kind, p)
                part_table_bytes(table)
                part_summary(kind, table, cleaned)
                if kind == "curated":
                    sample_part_bytes(p, train, cells)

        _timed("write_parquet", totals, write)
    # mixing: tokenize every kept document, pack the run's buckets, write shard bytes
    tok = Tokenizer((out / "tokenizer" / "tokenizer.model").read_bytes())
    kept = [r for r in curated if r["decision"] == "keep"]
    texts_kept = [r["text"] for r in kept]

    def encode() -> list[Any]:   # the stage's library call: SentencePiece's batch encoder, 256 documents a call
        return [a for i in range(0, len(texts_kept), 256) for a in tok.encode_batch(texts_kept[i:i + 256])]

    ids = _timed("tokenize", totals, encode)
    docs = {r["id"]: TokenizedDoc(r["id"], r["source"], r["lang"] or "und", i, quality_score=r.get("quality_score"),
                                  cluster_size=r.get("cluster_size") or 1) for r, i in zip(kept, ids, strict=True)}
    ledger = load_ledger(cfg.mix.previous, cfg.phases, tok.sha256) if cfg.mix.previous else None
    spec = MixSpec(cfg.phases, cfg.mix, ledger)

    def mix() -> None:   # the plan from every document's key, then each document's units (MixPhases' Assign)
        plan, _ = plan_mix([spec.base_key(d) for d in docs.values()], cfg.phases, cfg.mix, ledger)
        for d in docs.values():
            for k, bucket, r, tokens in spec.assign_units(spec.full_key(spec.base_key(d), plan), plan):
                unit = dataclasses.replace(d, source=bucket.name, ids=d.ids[:tokens], repeat=r)
                phase = spec.phases[k]
                if unit_interval(cfg.mix.seed, "validation", d.id) >= phase.validation_fraction:
                    unit_hash(cfg.mix.seed, "pack", unit.id, r) % phase.pack_buckets

    _timed("mix", totals, mix)
    for phase in cfg.phases:
        manifest = json.loads((out / "phases" / phase.name / "manifest.json").read_text())
        for entries, sub in ((manifest["shards"], ""), (manifest["validation"]["shards"], "validation/")):
            for entry in entries:
                table = read_shard(str(out / "phases" / phase.name / f"{sub}{entry['file']}"))
                members = [docs[d] for row in table.column("doc_ids").to_pylist() for d in dict.fromkeys(row)
                           if d in docs]
                packed = _timed("pack", totals, lambda members=members, seq_len=phase.seq_len: pack_documents(
                    members, seq_len, tok.pad_id))
                _timed("write_shards", totals, lambda packed=packed: shard_bytes(packed))
    return dict(totals)


# ---------------------------------------------------------------- report

def stage_times(beam_steps: dict[str, float]) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for step, msecs in beam_steps.items():
        out[STEPS.get(step, "other")] += msecs / 1000
    return dict(out)


def per_stage_efficiency(rounds: list[dict[str, Any]]) -> dict[str, list[float]]:
    """stage -> its bare / pipeline ratio in each round (rounds where the stage took no pipeline time are
    left out)."""
    out: dict[str, list[float]] = defaultdict(list)
    for r in rounds:
        in_pipeline = stage_times(r["one"]["timings"]["beam_steps"])
        for stage, secs in in_pipeline.items():
            if secs and stage in r["bare"]:
                out[stage].append(r["bare"][stage] / secs)
    return dict(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="bench-out/efficiency")
    parser.add_argument("--report", default="BENCHMARKS.md")
    parser.add_argument("--target-mb", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3, help="rounds (medians over rounds)")
    parser.add_argument("--shard-mb", type=float, default=8.0,
                        help="text MB per input file of the corpus (build_corpus.py --shard-mb; 0 = one per source)")
    parser.add_argument("--workers", type=int, default=2, help="also run multi_processing with N workers (0: skip)")
    parser.add_argument("--mp-baseline", action="store_true",
                        help="also run multi_processing with 1 worker each round (the same runner mode's own scaling)")
    parser.add_argument("--no-bare", action="store_true",
                        help="skip the bare replays (only the speed-up section; the efficiency section is kept)")
    parser.add_argument("--no-write", action="store_true", help="print, do not update BENCHMARKS.md")
    args = parser.parse_args()
    work = Path(args.out).resolve()
    corpus = work / "corpus"
    C.build_bench_corpus(corpus, args.target_mb, args.shard_mb)
    config = corpus / "config.yaml"   # the corpus's own config (rejected texts sampled as by default)
    texts_mb = sum(f.stat().st_size for f in corpus.glob("*.jsonl.gz")) / 1e6   # compressed size, for the record
    from pipeline.config import load_config
    from transforms.runtime import tune_gc

    n_files = len(input_files(load_config(config)))
    tune_gc()  # the bare loops run under the pipeline's collector settings (transforms/runtime.py)
    command = " ".join(["python benchmarks/efficiency.py", *sys.argv[1:]])

    # Rounds, each: multi_processing with N workers -> bare replay (pinned) -> 1 worker (pinned) -> bare replay
    # again (pinned) -> multi_processing with N workers again -> (with --mp-baseline) multi_processing with 1
    # worker. Interleaving keeps every ratio within one round: this shared host's speed drifts by tens of
    # percent over minutes (a fixed pure-Python loop measured 4.0 to 6.9 s within ten minutes), which would
    # bias ratios of runs made minutes apart. The
    # bare work is the mean of a replay right before and one right after the 1-worker run, so that a drift
    # of the host's speed during the round cancels to first order instead of landing on one side of the
    # ratio; likewise the N-worker wall is the mean of a run before and one after it. The replay before it
    # reads the outputs of the round's multi_processing run (byte-identical to the 1-worker run's, the
    # runner-mode tests check it; without --workers, the previous round's).
    mp = ["--direct_running_mode=multi_processing"]
    rounds = []
    for k in range(args.repeats):
        r: dict[str, Any] = {}
        prior = work / f"out-1w-{k - 1}" if k else None
        if args.workers:
            r["multi"] = run_pipeline(config, work / f"out-{args.workers}w-{k}",
                                      [*mp, f"--direct_num_workers={args.workers}"], pinned=False)["wall"]
            prior = work / f"out-{args.workers}w-{k}"
        replays = []
        if not args.no_bare and prior is not None:
            pin()
            replays.append(bare_times(corpus, config, prior))
            pin(None)
        one = run_pipeline(config, work / f"out-1w-{k}", [], pinned=True)
        r["one"] = one
        if not args.no_bare:
            pin()
            replays.append(bare_times(corpus, config, work / f"out-1w-{k}"))
            pin(None)
            r["replays"] = [sum(x.values()) for x in replays]
            r["bare"] = {stage: statistics.fmean(x.get(stage, 0.0) for x in replays)
                         for stage in dict.fromkeys(s for x in replays for s in x)}
            seconds = one["timings"]["seconds"]
            r["launcher"] = {j: v for j, v in seconds.items() if j in LAUNCHER_STEPS}
            r["bare_total"] = sum(r["bare"].values()) + sum(r["launcher"].values())
        if args.workers:
            r["multis"] = [r["multi"], run_pipeline(config, work / f"out-{args.workers}w-{k}-after",
                                                    [*mp, f"--direct_num_workers={args.workers}"],
                                                    pinned=False)["wall"]]
            r["multi"] = statistics.fmean(r["multis"])
        if args.mp_baseline:
            r["mp1"] = run_pipeline(config, work / f"out-mp1-{k}", [*mp, "--direct_num_workers=1"],
                                    pinned=False)["wall"]
        rounds.append(r)
        print(f"round {k}: 1 worker {one['wall']:.1f} s"
              + (f", bare {r['bare_total']:.1f} s (replays {', '.join(f'{x:.1f}' for x in r['replays'])} s)"
                 if "bare" in r else "")
              + (f", x{args.workers} {r['multi']:.1f} s ({', '.join(f'{w:.1f}' for w in r['multis'])} s)"
                 if args.workers else "")
              + (f", mp x1 {r['mp1']:.1f} s" if args.mp_baseline else ""), flush=True)
    walls = [r["one"]["wall"] for r in rounds]
    report = json.loads((work / "out-1w-0" / "report" / "report.json").read_text())
    corpus_line = (f"Machine: {platform.machine()}, 2 cores, Python {platform.python_version()}. Corpus: "
                   f"{report['totals']['read']} records ({texts_mb:.1f} MB gzipped JSONL in {n_files} files, "
                   f"`--shard-mb {args.shard_mb:g}`), {report['totals']['kept']} "
                   f"kept. {args.repeats} interleaved rounds; ratios are taken within a round, then the median over "
                   "rounds (this shared host's speed drifts by tens of percent within minutes).")
    sections = []
    if not args.no_bare:
        effs = [r["bare_total"] / r["one"]["wall"] for r in rounds]
        median_round = rounds[effs.index(statistics.median_low(effs))]
        efficiency = statistics.median(effs)
        bare, launcher, bare_total = median_round["bare"], median_round["launcher"], median_round["bare_total"]
        in_pipeline = stage_times(median_round["one"]["timings"]["beam_steps"])
        lines = [BEGIN, "## Efficiency: stages in the pipeline against the same work bare (issue 9)", "",
                 f"Produced by `{command}`. {corpus_line} One worker (in_memory) pinned to one core; the bare "
                 "replay runs in one process on the same core, over the documents that entered each stage in "
                 "that run, once right before it and once right after it, and its seconds are the mean of the "
                 "two (a drift of the host's speed during the round cancels to first order; each round's two "
                 "replay totals are listed below). The seconds are those of the round with the median end-to-end "
                 "efficiency; a stage's efficiency is the median of its ratio over the rounds (each round's "
                 "ratio in brackets), since a stage of a few seconds moves with the host's drift on its own.", "",
                 "| stage | pipeline s | share of wall | bare s | efficiency (median) | per round | bare work |",
                 "|---|---|---|---|---|---|---|"]
        stage_effs = per_stage_efficiency(rounds)
        for stage in [*BARE, "other"]:
            p, b = in_pipeline.get(stage, 0.0), bare.get(stage, 0.0)
            if not p and not b:
                continue
            ratios = stage_effs.get(stage, [])
            eff = f"{statistics.median(ratios):.2f}" if ratios else "-"
            each = ", ".join(f"{x:.2f}" for x in ratios) or "-"
            what = BARE.get(stage, "Beam steps outside the stages")
            lines.append(f"| {stage} | {p:.1f} | {p / median_round['one']['wall']:.0%} | {b:.1f} | {eff} | {each} "
                         f"| {what} |")
        for step, secs in launcher.items():
            share = secs / median_round["one"]["wall"]
            lines.append(f"| {step} (launcher) | {secs:.1f} | {share:.0%} | {secs:.1f} | 1.00 | - "
                         "| runs outside Beam |")
        for stage, name in (("langid", "language ID"), ("tokenize", "tokenization")):
            if stage_effs.get(stage):
                lines += ["", f"{name} stage efficiency: {statistics.median(stage_effs[stage]):.2f} (median of "
                          f"{', '.join(f'{x:.2f}' for x in stage_effs[stage])})"]
        wall = median_round["one"]["wall"]
        no_report = [(r["bare_total"] - r["launcher"].get("report", 0.0)) / r["one"]["wall"] for r in rounds]
        lines += ["", "Bare replay totals per round, before and after the 1-worker run (launcher steps not "
                  "included): " + "; ".join(", ".join(f"{x:.1f}" for x in r["replays"]) + " s" for r in rounds)]
        lines += ["", f"end-to-end efficiency: {efficiency:.2f} (median of {args.repeats} rounds: "
                  f"{', '.join(f'{e:.2f}' for e in effs)}; median round: bare {bare_total:.1f} s / wall {wall:.1f} s, "
                  f"1 worker; walls {', '.join(f'{w:.1f}' for w in walls)} s)", "",
                  f"(the same without the report as bare work, all of its time counted as overhead: "
                  f"{statistics.median(no_report):.2f}, median of {', '.join(f'{e:.2f}' for e in no_report)})", END]
        sections.append(("efficiency", "\n".join(lines)))
    if args.workers:
        begin, end = C.markers("speedup")
        speedups = [r["one"]["wall"] / r["multi"] for r in rounds]
        lines = [begin, f"## Speed-up with {args.workers} workers (issue 9)", "", f"Produced by `{command}`. "
                 f"{corpus_line} Whole `curate run` wall times (curation job, tokenizer training, mixing job, "
                 "report); 1 worker is the FnApiRunner in_memory pinned to one core, multi_processing is not "
                 f"pinned. The x{args.workers} wall of a round is the mean of a run right before and one right "
                 "after its 1-worker run (in brackets), so that a drift of the host's speed during the round "
                 "cancels to first order.", "",
                 f"- 1 worker (in_memory): {', '.join(f'{w:.1f}' for w in walls)} s",
                 f"- multi_processing x{args.workers}: " + ", ".join(
                     f"{r['multi']:.1f} ({', '.join(f'{w:.1f}' for w in r['multis'])})" for r in rounds) + " s",
                 f"- speed-up x{args.workers} over 1 worker (in_memory): {statistics.median(speedups):.2f}x "
                 f"(median of {', '.join(f'{x:.2f}' for x in speedups)})"]
        if args.mp_baseline:
            mp1 = [r["mp1"] for r in rounds]
            ups = [r["mp1"] / r["multi"] for r in rounds]
            lines += [f"- multi_processing x1: {', '.join(f'{w:.1f}' for w in mp1)} s",
                      f"- speed-up x{args.workers} over multi_processing x1: {statistics.median(ups):.2f}x "
                      f"(median of {', '.join(f'{x:.2f}' for x in ups)})"]
        sections.append(("speedup", "\n".join([*lines, end])))
    for name, section in sections:
        print(section)
        if not args.no_write:
            C.replace_section(Path(args.report), name, section)
    if sections and not args.no_write and not args.no_bare:
        update_throughput(efficiency, f"{command}: end-to-end efficiency, 1 worker")


def update_throughput(efficiency: float, source: str, path: Path = ROOT / "pipeline" / "throughput.json") -> None:
    """`curate plan` divides bare per-core rates by this efficiency (pipeline/plan.py)."""
    data = json.loads(path.read_text())
    data["efficiency"], data["efficiency_source"] = round(efficiency, 3), source
    path.write_text(json.dumps(data, indent=1) + "\n")


if __name__ == "__main__":
    main()
