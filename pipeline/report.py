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

import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from transforms.document import KEEP


class ReconciliationError(RuntimeError):
    pass


def _read_parts(pattern: str, columns: list[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for meta in sorted(FileSystems.match([pattern])[0].metadata_list, key=lambda m: m.path):
        with FileSystems.open(meta.path) as fh:
            rows += pq.read_table(fh, columns=columns).to_pylist()
    return rows


def build_report(output: str, mode: str, phase_manifests: dict[str, dict[str, Any]]) -> dict[str, Any]:
    with FileSystems.open(f"{output}/counts/records_read.json") as fh:
        counts = json.loads(fh.read())
    curated = _read_parts(f"{output}/curated/part-*.parquet", ["source", "decision", "text"])
    rejected = _read_parts(f"{output}/rejected/part-*.parquet", ["source", "stage", "reason"])

    read: Counter[str] = Counter()
    for row in counts:
        read[row["source"]] += row["records"]
    kept: Counter[str] = Counter()
    kept_chars: Counter[str] = Counter()
    curated_rows: Counter[str] = Counter()
    dropped: dict[str, Counter[str]] = defaultdict(Counter)
    for row in curated:
        curated_rows[row["source"]] += 1
        if row["decision"] == KEEP:
            kept[row["source"]] += 1
            kept_chars[row["source"]] += len(row["text"])
        else:
            dropped[row["source"]][row["decision"]] += 1
    rejected_rows: Counter[str] = Counter()
    dead: Counter[str] = Counter()
    for row in rejected:
        rejected_rows[row["source"]] += 1
        dropped[row["source"]][f"{row['stage']}:{row['reason']}"] += 1
        if row["stage"] == "read":
            dead[row["source"]] += 1

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
            + "<h2>Phases</h2>" + table(["phase", "tokens", "rows", "target", "realized"], phase_rows))


def write_report(output: str, report: dict[str, Any]) -> None:
    with FileSystems.create(f"{output}/report/report.json") as fh:
        fh.write((json.dumps(report, indent=1, sort_keys=True) + "\n").encode())
    with FileSystems.create(f"{output}/report/report.html") as fh:
        fh.write(render_html(report).encode())
