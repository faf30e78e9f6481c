"""The run report, counted from output rows (counts/, curated/, rejected/), never from Beam metrics.

Per source: records read = curated rows + rejected rows (filter mode), or curated rows + dead letters
(annotate mode, where curated/ keeps every readable document with its decision). A source that does not
add up makes the run fail (`ReconciliationError`).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import Any

from apache_beam.io.filesystems import FileSystems

from pipeline.report_stats import part_summaries
from transforms.atomic import read_bytes, write_atomic
from transforms.document import KEEP


class ReconciliationError(RuntimeError):
    pass


def read_drop_examples(output: str) -> dict[str, list[dict[str, Any]]]:
    """report/drop_examples.json of the curation job (per stage:reason, a seeded sample of dropped
    documents with the start of their text)."""
    with FileSystems.open(f"{output}/report/drop_examples.json") as fh:
        return json.loads(fh.read())


def build_report(output: str, mode: str, phase_manifests: dict[str, dict[str, Any]], parts: int,
                 examples: bool = False, benchmarks: tuple[str, ...] = ()) -> dict[str, Any]:
    with FileSystems.open(f"{output}/counts/records_read.json") as fh:
        counts = json.loads(fh.read())
    # per part: the summary the curation job wrote beside it, or the part itself (pipeline/report_stats.py)
    curated: Counter[tuple] = Counter()
    cleaned: Counter[str] = Counter()
    for summary in part_summaries(output, "curated", parts, cleaned=bool(benchmarks)):
        for source, decision, n, chars in summary["counts"]:
            curated[(source, decision)] += n
            curated[(source, decision, "chars")] += chars
        cleaned.update(summary["cleaned"] or {})
    rejected: Counter[tuple] = Counter()
    for summary in part_summaries(output, "rejected", parts):
        for source, stage, reason, n in summary["counts"]:
            rejected[(source, stage, reason)] += n

    read: Counter[str] = Counter()
    for row in counts:
        read[row["source"]] += row["records"]
    kept: Counter[str] = Counter()
    kept_chars: Counter[str] = Counter()
    curated_rows: Counter[str] = Counter()
    dropped: dict[str, Counter[str]] = defaultdict(Counter)
    for key, n in curated.items():
        if len(key) == 3:  # (source, decision, "chars")
            if key[1] == KEEP:
                kept_chars[key[0]] += n
            continue
        source, decision = key
        curated_rows[source] += n
        if decision == KEEP:
            kept[source] += n
        else:
            dropped[source][decision] += n
    rejected_rows: Counter[str] = Counter()
    dead: Counter[str] = Counter()
    for (source, stage, reason), n in rejected.items():
        rejected_rows[source] += n
        dropped[source][f"{stage}:{reason}"] += n
        if stage == "read":
            dead[source] += n

    sources = {}
    problems = []
    for source in sorted(set(read) | set(curated_rows) | set(rejected_rows)):
        accounted = curated_rows[source] + rejected_rows[source]
        ok = read[source] == accounted
        if not ok:
            problems.append(f"{source}: read {read[source]} != curated {curated_rows[source]} "
                            f"+ rejected {rejected_rows[source]}")
        sources[source] = {
            "read": read[source], "kept": kept[source], "kept_chars": kept_chars[source],
            "dead_letters": dead[source], "dropped": dict(sorted(dropped[source].items())),
            "curated_rows": curated_rows[source], "rejected_rows": rejected_rows[source], "reconciled": ok,
        }
    by_stage: Counter[str] = Counter()
    for per_source in dropped.values():
        for key, n in per_source.items():
            by_stage[key.split(":", 1)[0]] += n
    report = {
        "mode": mode,
        "sources": sources,
        "totals": {"read": sum(read.values()), "kept": sum(kept.values()),
                   "dead_letters": sum(dead.values()), "dropped_by_stage": dict(sorted(by_stage.items()))},
        "phases": {name: {"tokens": m["tokens"], "rows": sum(s["rows"] for s in m["shards"]),
                          "tokens_by_source": m["tokens_by_source"], "shortfall": m["shortfall"]}
                   for name, m in sorted(phase_manifests.items())},
        "reconciled": not problems,
        "problems": problems,
    }
    if examples:
        report["drop_examples"] = read_drop_examples(output)
    if benchmarks:  # decontamination: documents dropped for and cleaned of each evaluation set
        report["decontamination"] = {
            bench: {"dropped": sum(d.get(f"decontam:contaminated:{bench}", 0) for d in dropped.values()),
                    "cleaned": cleaned[bench]} for bench in sorted(benchmarks)}
    return report


TIMINGS_FILE = "report/timings.json"


def read_json(path: str) -> Any:
    """The JSON file at `path` (any filesystem Beam knows), or None when it does not exist."""
    raw = read_bytes(path)
    return None if raw is None else json.loads(raw)


def _phase_details(output: str, phase: str, manifest: dict[str, Any], plan: dict[str, Any] | None) -> dict[str, Any]:
    """Per bucket: target, realized, available tokens and the epochs taken; the shards with their sizes."""
    buckets = {}
    for bucket, entry in sorted(((plan or {}).get("phases") or {}).get(phase, {}).items()):
        repeats = entry.get("repeats") or []
        buckets[bucket] = {"target": entry["target"], "realized": entry["realized"], "available": entry["available"],
                           "max_epochs": entry["max_epochs"], "epochs": sum(1 for r in repeats if r > 0),
                           "tokens_per_epoch": repeats}
    shards = []
    for split, entries in (("train", manifest["shards"]), ("validation", manifest["validation"]["shards"])):
        for entry in entries:
            rel = f"phases/{phase}/" + ("" if split == "train" else "validation/") + entry["file"]
            meta = FileSystems.match([f"{output}/{rel}"])[0].metadata_list
            shards.append({"file": rel, "split": split, "rows": entry["rows"], "tokens": entry["tokens"],
                           "bytes": meta[0].size_in_bytes if meta else None})
    return {"seq_len": manifest["seq_len"], "buckets": buckets, "shards": shards,
            "epochs_by_source": manifest.get("epochs_by_source", {})}


def curation_stats(output: str, parts: int) -> tuple[Any, dict[str, str]]:
    """The part of the report that curated/ and rejected/ alone determine: their counts as the funnel and
    histograms accumulate them (`report_stats.collect`), and the histogram plots drawn from those counts
    (`report_html.render_plots`). `curate run` computes it on a spare core while its tokenizer trains
    (pipeline/sidework.py) and hands both back to `assemble_report` and `write_report`."""
    from pipeline.report_html import histogram_calls, render_plots
    from pipeline.report_stats import collect, histograms

    acc = collect(output, parts)
    return acc, render_plots(histogram_calls(histograms(acc)))


def assemble_report(output: str, acc: Any = None) -> dict[str, Any]:
    """The whole report of a finished run, from its outputs alone (run_manifest.json's resolved config,
    counts/, curated/, rejected/, the tokenizer and quality sidecars, plan.json and the phase manifests):
    what `curate run` writes last and `curate report RUN_DIR` rebuilds. Deterministic: timings are in
    report/timings.json, not here. `acc`: the counts of `curation_stats`, when the caller has them."""
    from pipeline.config import section_hash
    from pipeline.report_stats import run_stats
    from pipeline.tokenizer_step import tokenizer_report
    from transforms.near_dedup import s_curve

    run_manifest = read_json(f"{output}/run_manifest.json")
    if run_manifest is None:
        raise FileNotFoundError(f"{output}/run_manifest.json not found: not a finished run's output")
    cfg = run_manifest["config"]
    manifests = {}
    for phase in cfg["phases"]:
        manifest = read_json(f"{output}/phases/{phase['name']}/manifest.json")
        if manifest is None:
            raise FileNotFoundError(f"{output}/phases/{phase['name']}/manifest.json not found: "
                                    "the phase is not complete")
        manifests[phase["name"]] = manifest
    decontam = cfg.get("decontam") or {}
    benchmarks = tuple(decontam.get("eval_sets") or {}) if decontam.get("enabled", True) else ()
    report = build_report(output, cfg["run"]["mode"], manifests, cfg["run"]["parts"],
                          examples=cfg["run"].get("examples_per_reason", 0) > 0, benchmarks=benchmarks)
    nd = cfg.get("near_dedup") or {}
    if nd.get("enabled", True) and nd:
        report["near_dedup"] = {"num_perm": nd["num_perm"], "bands": nd["bands"], "rows": nd["rows"],
                                "threshold": nd["threshold"], "candidate_probability": s_curve(nd["bands"], nd["rows"])}
        audit = read_json(f"{output}/report/near_dedup_audit.json")
        if audit is not None:
            report["near_dedup"]["audit"] = audit
    report["tokenizer"] = tokenizer_report(output)
    if (cfg.get("quality") or {}).get("train") is not None:
        sidecar = read_json(f"{output}/quality/quality.bin.json")
        if sidecar is not None:
            report["quality_model"] = {k: sidecar[k] for k in ("holdout_metrics", "inputs", "model") if k in sidecar}
    plan = read_json(f"{output}/phases/plan.json")
    for name, manifest in manifests.items():
        report["phases"][name].update(_phase_details(output, name, manifest, plan))
    report.update(run_stats(output, cfg["run"]["parts"], (report["tokenizer"] or {}).get("fertility") or {}, acc))
    report["config"] = cfg
    report["config_hash"] = section_hash(cfg)
    report["stage_config_hashes"] = run_manifest.get("stage_config_hashes", {})
    report["versions"] = run_manifest.get("versions", {})
    return report


def write_report(output: str, report: dict[str, Any], timings: dict[str, Any] | None = None,
                 plots: dict[str, str] | None = None) -> None:
    """report.json (deterministic) and report.html (with the timings of report/timings.json, if any).
    `plots`: plots drawn already (`report_html.render_plots`)."""
    from pipeline.report_html import render_html

    if timings is None:
        timings = read_json(f"{output}/{TIMINGS_FILE}")
    write_atomic(f"{output}/report/report.json", (json.dumps(report, indent=1, sort_keys=True) + "\n").encode())
    write_atomic(f"{output}/report/report.html", render_html(report, timings, plots).encode())
