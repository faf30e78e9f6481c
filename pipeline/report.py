"""The run report, counted from output rows (counts/, curated/, rejected/), never from Beam metrics.

Per source: records read = curated rows + rejected rows (filter mode), or curated rows + dead letters
(annotate mode, where curated/ keeps every readable document with its decision). A source that does not
add up makes the run fail (`ReconciliationError`).
"""

from __future__ import annotations

import html
import json
from collections import Counter, defaultdict
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from transforms.atomic import write_atomic
from transforms.document import KEEP


class ReconciliationError(RuntimeError):
    pass


def _aggregate_parts(pattern: str, keys: list[str], with_chars: bool = False) -> Counter[tuple]:
    """Row counts (and text characters, under key + ("chars",)) per combination of `keys`, one Parquet
    part at a time, so memory is bounded by one part, not by the corpus."""
    totals: Counter[tuple] = Counter()
    for meta in sorted(FileSystems.match([pattern])[0].metadata_list, key=lambda m: m.path):
        with FileSystems.open(meta.path) as fh:
            table = pq.read_table(fh, columns=keys + (["text"] if with_chars else []))
        if with_chars:
            table = table.append_column("chars", pc.utf8_length(table.column("text"))).drop_columns(["text"])
        aggs = [("chars", "sum")] if with_chars else []
        grouped = table.group_by(keys).aggregate([(keys[0], "count"), *aggs]).to_pylist()
        for row in grouped:
            key = tuple(row[k] for k in keys)
            totals[key] += row[f"{keys[0]}_count"]
            if with_chars:
                totals[key + ("chars",)] += row["chars_sum"] or 0
    return totals


def read_drop_examples(output: str) -> dict[str, list[dict[str, Any]]]:
    """report/drop_examples.json of the curation job (per stage:reason, a seeded sample of dropped
    documents with the start of their text)."""
    with FileSystems.open(f"{output}/report/drop_examples.json") as fh:
        return json.loads(fh.read())


def _cleaned_per_benchmark(pattern: str) -> Counter[str]:
    """Kept documents that had spans of each benchmark removed (`decontam:<benchmark>` scores; decontam's
    remove mode), one Parquet part at a time."""
    cleaned: Counter[str] = Counter()
    for meta in sorted(FileSystems.match([pattern])[0].metadata_list, key=lambda m: m.path):
        with FileSystems.open(meta.path) as fh:
            table = pq.read_table(fh, columns=["decision", "scores"])
        for decision, scores in zip(table.column("decision").to_pylist(), table.column("scores").to_pylist(),
                                    strict=True):
            if decision != KEEP:
                continue
            for key, value in scores or []:
                if key.startswith("decontam:") and value:
                    cleaned[key.split(":", 1)[1]] += 1
    return cleaned


def build_report(output: str, mode: str, phase_manifests: dict[str, dict[str, Any]], parts: int,
                 examples: bool = False, benchmarks: tuple[str, ...] = ()) -> dict[str, Any]:
    with FileSystems.open(f"{output}/counts/records_read.json") as fh:
        counts = json.loads(fh.read())
    curated = _aggregate_parts(f"{output}/curated/part-*-of-{parts:05d}.parquet", ["source", "decision"],
                               with_chars=True)
    rejected = _aggregate_parts(f"{output}/rejected/part-*-of-{parts:05d}.parquet", ["source", "stage", "reason"])

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
        cleaned = _cleaned_per_benchmark(f"{output}/curated/part-*-of-{parts:05d}.parquet")
        report["decontamination"] = {
            bench: {"dropped": sum(d.get(f"decontam:contaminated:{bench}", 0) for d in dropped.values()),
                    "cleaned": cleaned[bench]} for bench in sorted(benchmarks)}
    return report


def render_html(report: dict[str, Any]) -> str:
    def table(headers: list[str], rows: list[list[Any]]) -> str:
        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
        return f"<table><tr>{head}</tr>{body}</table>"

    src_rows = [[s, v["read"], v["kept"], v["dead_letters"], "; ".join(f"{k} {n}" for k, n in v["dropped"].items()),
                 "yes" if v["reconciled"] else "NO"] for s, v in report["sources"].items()]
    phase_rows = [[p, v["tokens"], v["rows"], json.dumps(v["tokens_by_source"]["target"]),
                   json.dumps(v["tokens_by_source"]["realized"])] for p, v in report["phases"].items()]
    return ("<!doctype html><meta charset='utf-8'><title>curation report</title>"
            "<style>body{font-family:sans-serif}td,th{border:1px solid #ccc;padding:4px}"
            "table{border-collapse:collapse;margin-bottom:1em}</style>"
            f"<h1>Curation report ({html.escape(report['mode'])} mode)</h1><h2>Sources</h2>"
            + table(["source", "read", "kept", "dead letters", "dropped by stage:reason", "reconciled"], src_rows)
            + "<h2>Phases</h2>" + table(["phase", "tokens", "rows", "target", "realized"], phase_rows)
            + _extras_html(report, table)
            + _examples_html(report.get("drop_examples") or {}, table))


def _extras_html(report: dict[str, Any], table: Any) -> str:
    out = ""
    if report.get("decontamination"):
        rows = [[b, v["dropped"], v["cleaned"]] for b, v in report["decontamination"].items()]
        out += "<h2>Decontamination</h2>" + table(["benchmark", "documents dropped", "documents cleaned"], rows)
    fertility = (report.get("tokenizer") or {}).get("fertility") or {}
    if fertility.get("by_lang") or fertility.get("by_source"):
        rows = [[f"{kind} {name}", v.get("docs"), v.get("tokens_per_char"), v.get("tokens_per_word")]
                for kind, key in (("lang", "by_lang"), ("source", "by_source"))
                for name, v in sorted((fertility.get(key) or {}).items())]
        out += "<h2>Tokenizer fertility (held-out curated text)</h2>" + table(
            ["", "documents", "tokens per character", "tokens per word"], rows)
    if report.get("quality_model"):
        m = report["quality_model"].get("holdout_metrics", {})
        out += "<h2>Quality classifier (trained by this run)</h2>" + table(
            ["held-out precision", "recall", "F1"], [[m.get("precision"), m.get("recall"), m.get("f1")]])
    return out


def _examples_html(examples: dict[str, list[dict[str, Any]]], table: Any) -> str:
    if not examples:
        return ""
    rows = [[reason, e["id"], e["location"], e["text"]] for reason, items in examples.items() for e in items]
    return "<h2>What each drop reason removes (examples)</h2>" + table(["stage:reason", "id", "location",
                                                                        "text (start)"], rows)


def write_report(output: str, report: dict[str, Any]) -> None:
    write_atomic(f"{output}/report/report.json", (json.dumps(report, indent=1, sort_keys=True) + "\n").encode())
    write_atomic(f"{output}/report/report.html", render_html(report).encode())
