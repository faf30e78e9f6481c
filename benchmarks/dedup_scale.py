"""Near-dedup cost: signature throughput, peak memory per input MB, shuffle bytes per document.

Corpus: `scripts/build_corpus.py --target-mb 20` (real documents of ../shared/data, planted near and exact
duplicates, filler variants), built under /tmp; the small size is a seeded subsample of its records with
1/10 of its text bytes (quick: the 11 MB corpus without filler, 10 MB and 1 MB). MB = 1e6 UTF-8 bytes of
the `text` fields.

(a) Signatures, one process pinned to one core, best of 3 interleaved runs on the small corpus:
    the stage's `_SignatureFn.process` (vectorized `shingle_hashes` + datasketch MinHash(128) with an
    identity base hash and reused permutations) vs datasketch's default `MinHash(num_perm=128)` (sha1,
    permutations drawn per object) + `update_batch` on the same shingles as bytes (`shingles(text, 5, 5)`).
    Like for like (text -> signature, shingling included on both sides) is the acceptance ratio (stage >=
    2x); MinHash only (shingles precomputed on both sides) is also given.
(b) Peak RSS: `DeduplicateNearDuplicates(NearDedupConfig())` alone (ReadFromText of gzip JSONL -> Document
    -> the transform -> counts) in a subprocess on Beam's FnApiRunner (in_memory), at the two sizes and on
    20 documents (fixed cost: interpreter, Beam, runner). Peak RSS is the child's ru_maxrss from os.wait4
    (getrusage RUSAGE_CHILDREN for that one child). The in-memory runner keeps every PCollection between
    stages in memory, so RSS grows with the corpus; the slope between the two sizes is the cost per MB.
(c) Shuffle bytes: every GroupByKey / CombinePerKey input of the transform rebuilt in-process on the large
    corpus with the module's own functions (`_SignatureFn`, `_bands_of`, `bucket_edges`, the verify threshold,
    min-label rounds) and encoded with Beam's `FastPrimitivesCoder` (`coders.registry.get_coder(object)`,
    what a shuffle of untyped Python values uses; Documents fall back to pickle). CombinePerKey inputs are
    counted before combiner lifting (an upper bound). Candidate and verified pair counts are checked
    against the pipeline's `near_dedup` counters from (b). The two verification joins are also given for
    `verify: exact` (shingle-hash sets instead of signatures).
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import _common as C

NAME = "dedup_scale"
WORK = C.RESULTS_DIR / "dedup-scale"
REPEATS = 3
FULL_MB, QUICK_MB = 20, 10        # large size; the small one is a tenth
QUICK_SIGNATURE_DOCS = 600
MAX_ENCODED = 20_000              # elements encoded per shuffle input (the mean is scaled to the count)


# ------------------------------------------------------------------------------------------- corpus


def _records(corpus: Path) -> list[dict]:
    out = []
    for path in sorted(corpus.glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            out += [json.loads(line) for line in fh if line.strip()]
    return [r for r in out if isinstance(r.get("text"), str)]


def _write(records: list[dict], path: Path) -> float:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps({"id": r["id"], "text": r["text"]}, ensure_ascii=False) + "\n")
    return sum(len(r["text"].encode("utf-8")) for r in records) / 1e6


def build_inputs(root: Path, quick: bool) -> dict[str, dict]:
    """{"small"|"large"|"tiny": {"path", "mb", "docs"}} gzip JSONL files under WORK."""
    target = QUICK_MB if quick else FULL_MB
    corpus = WORK / f"corpus-{'quick' if quick else target}"
    subprocess.run([sys.executable, str(C.ROOT / "scripts" / "build_corpus.py"), "--shared", str(root),
                    "--out", str(corpus), *([] if quick else ["--target-mb", str(target)])],
                   check=True, capture_output=True)
    records = _records(corpus)
    order = list(range(len(records)))
    random.Random(C.SEED).shuffle(order)
    sizes = [len(r["text"].encode("utf-8")) for r in records]

    def take(mb: float) -> list[dict]:
        keep, total = [], 0
        for i in order:
            if total >= mb * 1e6:
                break
            keep.append(i)
            total += sizes[i]
        return [records[i] for i in sorted(keep)]

    out = {}
    for name, recs in [("tiny", [records[i] for i in sorted(order[:20])]),
                       ("small", take(target / 10)), ("large", take(target))]:
        path = WORK / f"input-{name}-{'quick' if quick else 'full'}.jsonl.gz"
        out[name] = {"path": str(path), "mb": round(_write(recs, path), 3), "docs": len(recs)}
    return out


# ------------------------------------------------------------------------------- (a) signatures


def signature_throughput(texts: list[str]) -> dict:
    import numpy as np
    from datasketch import MinHash

    from transforms.document import Document
    from transforms.near_dedup import (
        NearDedupConfig,
        _SignatureFn,
        document_shingle_hashes,
        minhash_inputs,
        minhash_template,
        shingles,
        signature,
    )

    cfg = NearDedupConfig()
    fn = _SignatureFn(cfg)
    fn.setup()
    template = minhash_template(cfg)
    docs = [Document(id=f"d/{i}", source="d", text=t) for i, t in enumerate(texts)]
    readable = [shingles(t, cfg.word_ngram, cfg.char_ngram) for t in texts]
    inputs = [minhash_inputs(document_shingle_hashes(d.id, d.text, cfg)) for d in docs]
    n_shingles = sum(len(s) for s in readable)

    def stage() -> None:
        for d in docs:
            for _ in fn.process(d):
                pass

    def datasketch_from_text() -> None:
        for t in texts:
            m = MinHash(num_perm=128)
            m.update_batch(shingles(t, cfg.word_ngram, cfg.char_ngram))
            m.hashvalues.astype(np.uint32).tobytes()

    def stage_hash_only() -> None:
        for x in inputs:
            signature(x, cfg, template)

    def datasketch_hash_only() -> None:
        for s in readable:
            m = MinHash(num_perm=128)
            m.update_batch(s)
            m.hashvalues.astype(np.uint32).tobytes()

    def stage_shingles_only() -> None:
        for d in docs:
            minhash_inputs(document_shingle_hashes(d.id, d.text, cfg))

    def readable_shingles_only() -> None:
        for t in texts:
            shingles(t, cfg.word_ngram, cfg.char_ngram)

    fns = {"stage `_SignatureFn.process`": stage, "shingles + datasketch MinHash(128) sha1": datasketch_from_text,
           "stage MinHash only (shingle hashes precomputed)": stage_hash_only,
           "datasketch MinHash(128) sha1 only (shingles precomputed)": datasketch_hash_only,
           "stage shingle hashing only (`shingle_hashes` + `minhash_inputs`)": stage_shingles_only,
           "readable shingles only (`shingles`, bytes)": readable_shingles_only}
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(REPEATS):
        for name, f in fns.items():
            t0 = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - t0)
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    runs = {name: {"seconds": round(min(ts), 4), "docs_per_s": len(texts) / min(ts),
                   "shingles_per_s": n_shingles / min(ts), "mb_per_s": mb / min(ts)} for name, ts in times.items()}
    names = list(fns)
    return {"docs": len(texts), "shingles": n_shingles, "mb": round(mb, 3), "runs": runs,
            "ratio_text": runs[names[0]]["docs_per_s"] / runs[names[1]]["docs_per_s"],
            "ratio_hash_only": runs[names[2]]["docs_per_s"] / runs[names[3]]["docs_per_s"],
            "ratio_stage_vs_datasketch_hash_only": runs[names[0]]["docs_per_s"] / runs[names[3]]["docs_per_s"]}


# ----------------------------------------------------------------------------------- (b) memory


def child(path: str, out: str) -> None:
    """Runs in the measured subprocess: the transform alone on one gzip JSONL file."""
    import resource

    import apache_beam as beam
    from apache_beam.metrics.metric import MetricsFilter

    from pipeline.run import make_pipeline
    from transforms.document import Document
    from transforms.near_dedup import DeduplicateNearDuplicates, NearDedupConfig

    def to_doc(line: str) -> Document:
        row = json.loads(line)
        return Document(id=row["id"], source="corpus", text=row["text"])

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dedup-scale-", dir="/tmp") as tmp:
        p = make_pipeline([])
        res = (p | "Read" >> beam.io.ReadFromText(path) | "Docs" >> beam.Map(to_doc)
               | "NearDedup" >> DeduplicateNearDuplicates(NearDedupConfig()))
        for tag in ("kept", DeduplicateNearDuplicates.REJECTED):
            _ = (res[tag] | f"Count_{tag}" >> beam.combiners.Count.Globally()
                 | f"Write_{tag}" >> beam.io.WriteToText(f"{tmp}/{tag}", num_shards=1, shard_name_template=""))
        result = p.run()
        result.wait_until_finish()
        counts = {tag: int(Path(f"{tmp}/{tag}").read_text().strip() or 0)
                  for tag in ("kept", DeduplicateNearDuplicates.REJECTED)}
    counters = {r.key.metric.name: r.committed for r in
                result.metrics().query(MetricsFilter().with_namespace("near_dedup"))["counters"]}
    Path(out).write_text(json.dumps({"seconds": time.perf_counter() - t0, "counts": counts, "counters": counters,
                                     "self_maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))


def measure_memory(inp: dict) -> dict:
    with tempfile.NamedTemporaryFile(prefix="dedup-scale-", suffix=".json", dir="/tmp") as out, \
            tempfile.TemporaryFile(dir="/tmp") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--child", inp["path"], out.name],
                                stdout=subprocess.DEVNULL, stderr=err, cwd=C.ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        if proc.returncode:
            err.seek(0)
            raise SystemExit(f"child failed on {inp['path']}:\n{err.read().decode()[-3000:]}")
        child_res = json.loads(Path(out.name).read_text())
    return {**inp, "wall_s": round(wall, 1), "pipeline_s": round(child_res["seconds"], 1),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "counts": child_res["counts"],
            "counters": child_res["counters"]}


# ---------------------------------------------------------------------------------- (c) shuffles


def shuffle_bytes(path: str, counters: dict) -> dict:
    from apache_beam import coders

    from transforms.document import Document
    from transforms.hashing import doc_key
    from transforms.near_dedup import (
        NearDedupConfig,
        _bands_of,
        _SignatureFn,
        bucket_edges,
        estimated_jaccard,
        survivor_rank,
    )

    cfg = NearDedupConfig()
    coder = coders.registry.get_coder(object)
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        docs = [Document(id=r["id"], source="corpus", text=r["text"]) for r in map(json.loads, fh)]
    n = len(docs)
    fn = _SignatureFn(cfg)
    fn.setup()
    sigs = dict(next(iter(fn.process(d))) for d in docs)   # the main output: (key, signature)
    bands = [be for kv in sigs.items() for be in _bands_of(kv, cfg.bands, cfg.rows)]
    buckets = defaultdict(list)
    for band, key in bands:
        buckets[band].append(key)
    star = [e for members in buckets.values() for e in bucket_edges(members)]
    candidates = sorted(set(star))
    verified = [(a, b) for a, b in candidates if estimated_jaccard(sigs[a], sigs[b]) >= cfg.threshold]
    adjacency = [(a, b) for a, b in verified] + [(b, a) for a, b in verified]
    nodes = sorted({a for a, _ in adjacency})
    label = {v: v for v in nodes}
    neighbours = defaultdict(list)
    for a, b in adjacency:
        neighbours[a].append(b)
    for _ in range(cfg.max_rounds):  # the same min-label propagation, for the label values only
        new = dict(label)
        for v in nodes:
            for w in neighbours[v]:
                new[w] = min(new[w], label[v])
        label = new
    ranks = {doc_key(d.id): survivor_rank(d, cfg.survivor_priority) for d in docs}
    members = defaultdict(list)
    for v in nodes:
        members[label[v]].append(v)
    winners = {lab: min((ranks[v], v) for v in ms) for lab, ms in members.items()}

    endpoints = [(v, ("node", None)) for edge in candidates for v in edge]
    in_pairs = {v for v, _ in endpoints}

    def sig_side(only_candidates: bool = False):  # the payload join also carries each survivor rank
        return [(k, ("sig", (s, ranks[k]) if not only_candidates else s)) for k, s in sigs.items()
                if not only_candidates or k in in_pairs]

    # verify: exact joins the shingle-hash sets instead of the signatures (the other shuffles are the same
    # up to the few edges the two verifications decide differently)
    exact_fn = _SignatureFn(dataclasses.replace(cfg, verify="exact"))
    exact_fn.setup()
    shingle_sets = {k: payload for d in docs for tagged in exact_fn.process(d) if not isinstance(tagged, tuple)
                    for k, (payload, _) in [tagged.value]}

    def shingle_side(only_candidates: bool = False):
        return [(k, ("sig", (x, ranks[k]) if not only_candidates else x)) for k, x in shingle_sets.items()
                if not only_candidates or k in in_pairs]

    shuffles = [  # (name, verify mode or None for both, times per run, elements)
        ("GroupBands (band key, doc key)", None, 1, bands),
        ("DistinctCandidates ((a, b), None), before combining", None, 1, [(e, None) for e in star]),
        ("JoinCandidatePayload: signatures and ranks + candidate endpoints", "estimated", 1, sig_side() + endpoints),
        ("JoinFirstSignature: candidates' signatures + candidate edges", "estimated", 1,
         sig_side(True) + [(a, ("edge", b)) for a, b in candidates]),
        ("JoinSecondSignature: candidates' signatures + (b, (a, sig a))", "estimated", 1,
         sig_side(True) + [(b, ("half", (a, sigs[a]))) for a, b in candidates]),
        ("verify: exact, JoinCandidatePayload: shingle hashes and ranks + candidate endpoints", "exact", 1,
         shingle_side() + endpoints),
        ("verify: exact, JoinFirstSignature: candidates' shingle hashes + candidate edges", "exact", 1,
         shingle_side(True) + [(a, ("edge", b)) for a, b in candidates]),
        ("verify: exact, JoinSecondSignature: candidates' shingle hashes + (b, (a, shingles a))", "exact", 1,
         shingle_side(True) + [(b, ("half", (a, shingle_sets[a]))) for a, b in candidates]),
        (f"Round group: adjacency + labels sent (x{cfg.max_rounds + 1})", None, cfg.max_rounds + 1,
         [(a, (0, b)) for a, b in adjacency] + [(b, (1, label[a])) for a, b in adjacency]
         + [(v, (2, label[v])) for v in nodes]),
        ("JoinRanks: labels + candidates' ranks", None, 1,
         [(v, ("label", label[v])) for v in nodes] + [(k, ("rank", ranks[k])) for k in sorted(in_pairs)]),
        ("Survivor + ClusterSize (CombinePerKey, 2 inputs)", None, 2, [(label[v], (ranks[v], v)) for v in nodes]),
        ("JoinClusters: members + winners + sizes", None, 1,
         [(label[v], ("member", v)) for v in nodes] + [(lab, ("winner", w)) for lab, w in winners.items()]
         + [(lab, ("size", len(ms))) for lab, ms in members.items()]),
        ("JoinDocs: every Document + cluster rows", None, 1,
         [(doc_key(d.id), ("doc", d)) for d in docs]
         + [(v, ("cluster", (label[v], winners[label[v]][1], winners[label[v]][0][-1], len(members[label[v]]))))
            for v in nodes]),
    ]
    rows = []
    for name, mode, times, elements in shuffles:
        sample = elements if len(elements) <= MAX_ENCODED else random.Random(C.SEED).sample(elements, MAX_ENCODED)
        per_element = (sum(len(coder.encode(e)) for e in sample) / len(sample)) if sample else 0.0
        total = per_element * len(elements) * times
        rows.append({"shuffle": name, "mode": mode, "times": times, "elements": len(elements),
                     "elements_per_doc": len(elements) * times / n, "bytes_per_element": per_element,
                     "bytes_per_doc": total / n})
    text_bytes = sum(len(d.text.encode("utf-8")) for d in docs)
    return {"docs": n, "text_bytes_per_doc": text_bytes / n, "rows": rows,
            "total_bytes_per_doc": sum(r["bytes_per_doc"] for r in rows if r["mode"] != "exact"),
            "total_bytes_per_doc_exact": sum(r["bytes_per_doc"] for r in rows if r["mode"] != "estimated"),
            "candidates": len(candidates), "bucket_edges": len(star), "verified": len(verified),
            "graph_nodes": len(nodes),
            "pipeline_counters": {k: counters.get(k) for k in ("candidate_pairs", "verified_pairs")},
            "signature_bytes": len(next(iter(sigs.values())))}


# ---------------------------------------------------------------------------------------- run


def run(quick: bool = False) -> dict | None:
    root = C.require_shared_data("en-wiki-wikitext2-test", "forum-stackexchange-posts", "zh-hans-wiki-cmrc2018",
                                 "code-humaneval-x")
    if root is None:
        return None
    started = time.perf_counter()
    inputs = build_inputs(root, quick)
    print("inputs: " + ", ".join(f"{k} {v['docs']} docs {v['mb']} MB" for k, v in inputs.items()), flush=True)

    memory = {}
    for name in ("tiny", "small", "large"):
        memory[name] = measure_memory(inputs[name])
        m = memory[name]
        print(f"memory {name}: {m['docs']} docs {m['mb']} MB: peak RSS {m['peak_rss_mb']} MB, "
              f"{m['pipeline_s']} s", flush=True)
    base = memory["tiny"]["peak_rss_mb"]
    for name in ("small", "large"):
        m = memory[name]
        m["rss_per_input_mb"] = m["peak_rss_mb"] / m["mb"]
        m["rss_above_fixed_per_input_mb"] = (m["peak_rss_mb"] - base) / m["mb"]
    slope = ((memory["large"]["peak_rss_mb"] - memory["small"]["peak_rss_mb"])
             / (memory["large"]["mb"] - memory["small"]["mb"]))

    shuffle = shuffle_bytes(inputs["large"]["path"], memory["large"]["counters"])
    print(f"shuffle: {shuffle['total_bytes_per_doc']:.0f} bytes per document", flush=True)

    with gzip.open(inputs["small"]["path"], "rt", encoding="utf-8") as fh:
        texts = [json.loads(line)["text"] for line in fh]
    if quick:
        texts = C.subsample(texts, QUICK_SIGNATURE_DOCS)
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    pinned = C.pin_one_core()
    try:
        signatures = signature_throughput(texts)
    finally:
        if affinity:
            os.sched_setaffinity(0, affinity)
    print(f"signatures: stage / datasketch = {signatures['ratio_text']:.2f}x (text -> signature), "
          f"{signatures['ratio_hash_only']:.2f}x (hashing only)", flush=True)
    return {
        "name": NAME, "quick": quick, "machine": C.machine(), "seconds": round(time.perf_counter() - started, 1),
        "inputs": inputs, "memory": memory, "rss_slope_mb_per_input_mb": slope, "shuffle": shuffle,
        "signatures": signatures, "pinned": pinned,
        "acceptance": {"criterion": "stage `_SignatureFn.process` docs/s >= 2x shingles + datasketch "
                                    "MinHash(num_perm=128) update_batch (text -> signature)",
                       "ratio": round(signatures["ratio_text"], 2), "pass": signatures["ratio_text"] >= 2.0},
    }


def render(res: dict) -> list[str]:
    q = " --quick" if res.get("quick") else ""
    s = res["signatures"]
    lines = ["### Near-dedup cost: signatures, memory, shuffle", "",
             f"Signatures per second on one core ({res['pinned']}), best of {REPEATS} interleaved runs on "
             f"{s['docs']} documents of the small corpus ({s['mb']} MB, {s['shingles']} shingles from "
             f"`shingles(text, 5, 5)`; the stage hashes the same shingles with `shingle_hashes`). "
             f"Command: `python benchmarks/dedup_scale.py{q}`.", ""]
    rows = [[name, f"{r['docs_per_s']:.0f}", f"{r['shingles_per_s'] / 1e6:.2f}", f"{r['mb_per_s']:.2f}"]
            for name, r in s["runs"].items()]
    lines += C.md_table(["signature code", "docs/s", "M shingles/s", "MB/s"], rows)
    verdict = "PASS" if res["acceptance"]["pass"] else "FAIL"
    lines += ["", f"Stage vs datasketch default, text -> signature: **{s['ratio_text']:.2f}x** (acceptance >= 2x: "
              f"**{verdict}**); MinHash only, shingles precomputed on both sides: {s['ratio_hash_only']:.2f}x; "
              f"the whole stage (with its shingling) vs datasketch on precomputed shingles: "
              f"{s['ratio_stage_vs_datasketch_hash_only']:.2f}x.", ""]
    mem = res["memory"]
    lines += ["Peak RSS of `DeduplicateNearDuplicates(NearDedupConfig())` alone (read gzip JSONL, 16x8 bands, "
              "t = 0.7) in a subprocess on the FnApiRunner (in_memory), which keeps every PCollection between "
              "stages in memory:", ""]
    rows = []
    for name in ("tiny", "small", "large"):
        m = mem[name]
        rows.append([name, m["docs"], m["mb"], m["pipeline_s"], f"{m['docs'] / m['pipeline_s']:.0f}",
                     m["peak_rss_mb"], f"{m['rss_per_input_mb']:.0f}" if "rss_per_input_mb" in m else "-",
                     f"{m['rss_above_fixed_per_input_mb']:.0f}" if "rss_above_fixed_per_input_mb" in m else "-",
                     m["counts"]["rejected"]])
    lines += C.md_table(["input", "docs", "text MB", "pipeline s", "docs/s", "peak RSS MB", "RSS MB per input MB",
                         "(RSS - tiny) per input MB", "dropped"], rows)
    lines += ["", f"Marginal RSS between the two sizes: **{res['rss_slope_mb_per_input_mb']:.0f} MB per input MB** "
              "(tiny = 20 documents: interpreter, Beam and runner).", ""]
    sh = res["shuffle"]
    pc = sh["pipeline_counters"]
    lines += [f"Shuffle bytes per input document on the large corpus ({sh['docs']} documents, "
              f"{sh['text_bytes_per_doc']:.0f} text bytes per document): each GroupByKey/CombinePerKey input "
              "encoded with Beam's FastPrimitivesCoder. Candidates: "
              f"{sh['bucket_edges']} bucket edges (pipeline counter candidate_pairs {pc['candidate_pairs']}), "
              f"{sh['candidates']} distinct, {sh['verified']} verified (counter verified_pairs "
              f"{pc['verified_pairs']}), "
              f"{sh['graph_nodes']} documents in the graph.", ""]
    rows = [[r["shuffle"], f"{r['elements_per_doc']:.3g}", f"{r['bytes_per_element']:.1f}", f"{r['bytes_per_doc']:.0f}"]
            for r in sh["rows"]]
    rows.append(["**total** (verify: estimated, the default)", "", "", f"**{sh['total_bytes_per_doc']:.0f}**"])
    rows.append(["**total** (verify: exact)", "", "", f"**{sh['total_bytes_per_doc_exact']:.0f}**"])
    lines += C.md_table(["shuffle input", "elements per doc", "bytes per element", "bytes per doc"], rows)
    lines += ["", f"Total = {sh['total_bytes_per_doc'] / sh['text_bytes_per_doc']:.2f}x the input text bytes "
              f"(verify: estimated), {sh['total_bytes_per_doc_exact'] / sh['text_bytes_per_doc']:.2f}x "
              "(verify: exact)."]
    return lines


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":  # internal: the measured subprocess of (b)
        child(sys.argv[2], sys.argv[3])
        return 0
    return C.cli(NAME, __doc__, lambda args: run(args.quick), render)


if __name__ == "__main__":
    sys.exit(main())
