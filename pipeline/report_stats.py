"""Funnel and histograms of a run, counted from its output rows (curated/ and rejected/), one Parquet part
at a time with fixed bins, so memory does not grow with the corpus.

Funnel: the documents, characters and tokens left after each stage, overall, per source and per language.
Characters are those of each document when it left (dropped) or of its final text (kept); a stage that
rewrites text (C4 line filter, decontamination's remove mode, paragraph dedup, cut oversized records)
therefore shows its effect only on the documents it drops. Tokens of kept documents are exact (counted
by the mixing job with the run's tokenizer, report/curated_tokens.json); tokens of dropped documents are
estimated as characters x the tokenizer's held-out tokens per character for their language. Read dead
letters never became documents: they count as documents with 0 characters. A document dropped before
language ID has no language (`unidentified`).

Histograms: fixed bin edges per measurement (values outside fall into the edge bins), one series for
kept documents and one for the documents the measuring stage dropped.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from transforms.atomic import read_bytes, remove_all, write_atomic
from transforms.document import KEEP

# the curation job's stage order (pipeline/graph.py); paragraph dedup reports as exact_dedup
STAGE_ORDER = ("read", "urls", "extract", "normalize", "exact_dedup", "langid", "rules", "safety", "quality",
               "near_dedup", "decontam")
UNIDENTIFIED = "unidentified"
KEPT = "kept"

# name -> (scale, low, high, bins); log scales give exponents (10**low .. 10**high, 2**low .. 2**high)
_UNIT = ("linear", 0.0, 1.0, 20)
HISTOGRAMS: dict[str, tuple[str, float, float, int]] = {
    "lang_score": _UNIT,
    "quality_score": _UNIT,
    "chars": ("log10", 0.0, 7.0, 28),
    "cluster_size": ("log2", 0.0, 16.0, 16),
}
RULE_MEASUREMENTS: dict[str, tuple[str, float, float, int]] = {
    "n_words": ("log10", 0.0, 6.0, 24),
    "mean_word_length": ("linear", 0.0, 15.0, 30),
    "symbol_word_ratio": ("linear", 0.0, 0.5, 25),
    "stop_words": ("log10", 0.0, 4.0, 16),
    "alpha_words_ratio": _UNIT,
    "line_punct_ratio": _UNIT,
    "short_line_ratio": _UNIT,
    "bullet_lines_ratio": _UNIT,
    "ellipsis_lines_ratio": _UNIT,
    "dup_line_frac": _UNIT,
    "dup_para_frac": _UNIT,
    "top_2gram_char_frac": _UNIT,
    "dup_5gram_char_frac": _UNIT,
    "dup_10gram_char_frac": _UNIT,
    "alnum_fraction": _UNIT,
    "mean_line_length": ("log10", 0.0, 4.0, 16),
    "max_line_length": ("log10", 0.0, 5.0, 20),
}
# which stage's drops each histogram sets against the kept documents
_DROPPING_STAGE = {"lang_score": "langid", "quality_score": "quality", "chars": None}


def bin_edges(spec: tuple[str, float, float, int]) -> np.ndarray:
    scale, low, high, bins = spec
    if scale == "linear":
        return np.linspace(low, high, bins + 1)
    base = 10.0 if scale == "log10" else 2.0
    return base ** np.linspace(low, high, bins + 1)


def _histogram(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    values = values[~np.isnan(values)]
    return np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges)[0]


def _floats(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


class _Accumulator:
    def __init__(self) -> None:
        self.funnel: Counter[tuple[str, str, str, str]] = Counter()   # (status, source, lang, docs|chars)
        self.hist: dict[str, dict[str, np.ndarray]] = defaultdict(dict)

    def to_json(self) -> dict[str, Any]:
        return {"funnel": [[*key, n] for key, n in sorted(self.funnel.items())],
                "hist": {name: {series: [int(c) for c in counts] for series, counts in sorted(per.items())}
                         for name, per in sorted(self.hist.items())}}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> _Accumulator:
        acc = cls()
        for *key, n in obj["funnel"]:
            acc.funnel[tuple(key)] = n
        for name, per in obj["hist"].items():
            acc.hist[name] = {series: np.asarray(counts, dtype=np.int64) for series, counts in per.items()}
        return acc

    def merge(self, other: _Accumulator) -> None:
        self.funnel.update(other.funnel)
        for name, per in other.hist.items():
            for series, counts in per.items():
                current = self.hist[name].get(series)
                self.hist[name][series] = counts if current is None else current + counts

    def add_hist(self, name: str, series: str, spec: tuple[str, float, float, int], values: np.ndarray) -> None:
        counts = _histogram(values, bin_edges(spec))
        if not counts.any():
            return
        current = self.hist[name].get(series)
        self.hist[name][series] = counts if current is None else current + counts

    def add_table(self, table: pa.Table, status: list[str]) -> None:
        """`status`: per row, KEPT or the stage that dropped the document."""
        status_arr = np.asarray(status, dtype=object)
        sources = table.column("source").to_pylist()
        langs = table.column("lang").to_pylist() if "lang" in table.column_names else [None] * table.num_rows
        chars = (_floats(table.column("chars")) if "chars" in table.column_names
                 else np.zeros(table.num_rows))
        for st, src, lang, n in zip(status, sources, langs, np.nan_to_num(chars), strict=True):
            key = (st, src, lang or UNIDENTIFIED)
            self.funnel[(*key, "docs")] += 1
            self.funnel[(*key, "chars")] += int(n)
        kept = status_arr == KEPT
        for name in _DROPPING_STAGE:
            spec = HISTOGRAMS[name]
            if name == "chars":
                values = chars
                dropped = ~kept & (status_arr != "read")
            elif name in table.column_names:
                values = _floats(table.column(name))
                dropped = status_arr == _DROPPING_STAGE[name]
            else:
                continue
            self.add_hist(name, KEPT, spec, values[kept])
            if dropped.any():
                self.add_hist(name, f"dropped by {_DROPPING_STAGE[name] or 'any stage'}", spec, values[dropped])
        if "scores" not in table.column_names:
            return
        rules = status_arr == "rules"
        for name, spec in RULE_MEASUREMENTS.items():
            values = _floats(pc.map_lookup(table.column("scores"), pa.scalar(name), "first"))
            if np.isnan(values).all():
                continue
            self.add_hist(f"rules.{name}", KEPT, spec, values[kept])
            if rules.any():
                self.add_hist(f"rules.{name}", "dropped by rules", spec, values[rules])


def _parts(pattern: str) -> list[str]:
    return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)


def add_curated(acc: _Accumulator, table: pa.Table) -> None:
    """A curated part's rows (its columns `source, lang, lang_score, quality_score, cluster_size, decision,
    text, scores`, those it has) into `acc`."""
    table = table.select([c for c in CURATED_STATS_COLUMNS if c in table.column_names])
    table = table.append_column("chars", pc.utf8_length(table.column("text"))).drop_columns(["text"])
    status = [KEPT if d == KEEP else d.split(":", 1)[0] for d in table.column("decision").to_pylist()]
    table = table.drop_columns(["decision"])
    if "cluster_size" in table.column_names:  # cluster sizes: of kept documents only
        sizes = _floats(table.column("cluster_size"))
        acc.add_hist("cluster_size", KEPT, HISTOGRAMS["cluster_size"], sizes[np.asarray(status, dtype=object) == KEPT])
        table = table.drop_columns(["cluster_size"])
    acc.add_table(table, status)


def add_rejected(acc: _Accumulator, table: pa.Table) -> None:
    """A rejected part's rows (`source, stage, lang, lang_score, quality_score, chars, scores`) into `acc`."""
    table = table.select([c for c in REJECTED_STATS_COLUMNS if c in table.column_names])
    acc.add_table(table.drop_columns(["stage"]), table.column("stage").to_pylist())


CURATED_STATS_COLUMNS = ["source", "lang", "lang_score", "quality_score", "cluster_size", "decision", "text", "scores"]
REJECTED_STATS_COLUMNS = ["source", "stage", "lang", "lang_score", "quality_score", "chars", "scores"]


# ------------------------------------------------------------------------------------- part summaries
# Everything the report counts from one part of curated/ or rejected/, written by the curation job's
# writer next to the part (`PartSummaryWriter`, a WriteParquetParts hook, on the table it writes): the
# launcher then reads these small files, not the parts (at 1.6T tokens a pass over curated/ in one process
# takes ~17 h, docs/scale.md). A summary counts only for the part file it was written with: its row count
# must be the part's (from the Parquet footer); otherwise, or without one, the part is read and summarized
# the same way.
SUMMARY_DIR = "report/stats"
SUMMARY_FORMAT = "multiphase-curation/part-summary/v1"
KINDS = ("curated", "rejected")
SUMMARY_READERS = 16


def _cleaned(table: pa.Table) -> dict[str, int]:
    """Kept documents that had spans of each benchmark removed (`decontam:<benchmark>` scores)."""
    cleaned: Counter[str] = Counter()
    for decision, scores in zip(table.column("decision").to_pylist(), table.column("scores").to_pylist(), strict=True):
        if decision == KEEP:
            for key, value in scores or []:
                if key.startswith("decontam:") and value:
                    cleaned[key.split(":", 1)[1]] += 1
    return dict(sorted(cleaned.items()))


def part_summary(kind: str, table: pa.Table, cleaned: bool = True) -> dict[str, Any]:
    """The report's counts of one part: rows per (source, decision) with their text characters (curated)
    or per (source, stage, reason) (rejected), the funnel and histogram counts, and for curated parts with
    `cleaned` the documents cleaned per benchmark (None without)."""
    acc = _Accumulator()
    if kind == "curated":
        chars = pc.fill_null(pc.utf8_length(table.column("text")), 0)
        keys = pa.table({"source": table.column("source"), "decision": table.column("decision"), "chars": chars})
        grouped = keys.group_by(["source", "decision"]).aggregate([("source", "count"), ("chars", "sum")])
        counts = sorted([r["source"], r["decision"], r["source_count"], r["chars_sum"] or 0]
                        for r in grouped.to_pylist())
        add_curated(acc, table)
    else:
        keys = table.select(["source", "stage", "reason"])
        grouped = keys.group_by(["source", "stage", "reason"]).aggregate([("source", "count")])
        counts = sorted([r["source"], r["stage"], r["reason"], r["source_count"]] for r in grouped.to_pylist())
        add_rejected(acc, table)
    return {"format": SUMMARY_FORMAT, "kind": kind, "rows": table.num_rows, "counts": counts,
            "cleaned": _cleaned(table) if kind == "curated" and cleaned else None, "acc": acc.to_json()}


def summary_path(output: str, kind: str, part_file: str) -> str:
    return f"{output}/{SUMMARY_DIR}/{kind}-{part_file.rsplit('/', 1)[-1].removesuffix('.parquet')}.json"


class PartSummaryWriter:
    """WriteParquetParts hook: writes the part's `part_summary` (see above). `cleaned`: the run
    decontaminates, so the report counts documents cleaned per benchmark."""

    def __init__(self, output: str, kind: str, cleaned: bool = False) -> None:
        self._output, self._kind, self._cleaned = output, kind, cleaned

    def __call__(self, part: int, parts: int, items: Any, table: pa.Table, _side: Any) -> None:
        from transforms.parquet_out import part_path

        summary = part_summary(self._kind, table, self._cleaned)
        path = summary_path(self._output, self._kind, part_path(f"{self._output}/{self._kind}", part, parts))
        write_atomic(path, (json.dumps(summary, sort_keys=True, separators=(",", ":")) + "\n").encode())


def clear_part_summaries(output: str) -> None:
    """Removes the part summaries (before the curation job writes the parts again)."""
    remove_all(f"{output}/{SUMMARY_DIR}")


def _read_part(path: str, kind: str) -> pa.Table:
    wanted = CURATED_STATS_COLUMNS if kind == "curated" else [*REJECTED_STATS_COLUMNS, "reason"]
    with FileSystems.open(path) as fh:
        part = pq.ParquetFile(fh)   # older runs' rows may lack the newer columns
        return part.read(columns=[c for c in wanted if c in part.schema_arrow.names])


def _part_rows(path: str) -> int:
    with FileSystems.open(path) as fh:
        return pq.ParquetFile(fh).metadata.num_rows


def part_summaries(output: str, kind: str, parts: int, cleaned: bool = False) -> Iterator[dict[str, Any]]:
    """The summary of each part of `<output>/<kind>/` of a run with `parts` parts: the one written with
    it when its row count matches the part's, else computed from the part (`cleaned`: needs the cleaned
    counts)."""
    def load(path: str) -> tuple[str, dict[str, Any] | None]:
        raw = read_bytes(summary_path(output, kind, path))
        summary = json.loads(raw) if raw else None
        if (summary is None or summary.get("format") != SUMMARY_FORMAT or summary.get("rows") != _part_rows(path)
                or (cleaned and kind == "curated" and summary.get("cleaned") is None)):
            return path, None
        return path, summary

    # a few object-store round trips per part (thousands of parts at scale): threads overlap their latency
    # and give the summaries back in part order; a part without a usable one is read here, one at a time
    with ThreadPoolExecutor(SUMMARY_READERS) as pool:
        for path, summary in pool.map(load, _parts(f"{output}/{kind}/part-*-of-{parts:05d}.parquet")):
            yield summary if summary is not None else part_summary(kind, _read_part(path, kind), cleaned)


def collect(output: str, parts: int) -> _Accumulator:
    acc = _Accumulator()
    for kind in KINDS:
        for summary in part_summaries(output, kind, parts):
            acc.merge(_Accumulator.from_json(summary["acc"]))
    return acc


def funnel(acc: _Accumulator, curated_tokens: list[dict[str, Any]] | None,
           tokens_per_char: Mapping[str, float], default_tpc: float) -> dict[str, Any]:
    """{"steps": [...], "overall": rows, "by_source": {s: rows}, "by_lang": {l: rows}}: rows[0] = every
    record read, rows[i] = the documents, characters and tokens left after the i-th stage that dropped
    anything (in pipeline order); the last row is what curated/ keeps."""
    exact = {(e["source"], e["lang"]): e["tokens"] for e in curated_tokens or []}
    seen_stages = {st for (st, _, _, _) in acc.funnel if st != KEPT}
    stages = [s for s in STAGE_ORDER if s in seen_stages or s == "read"]
    stages += sorted(seen_stages - set(stages))   # a stage this module does not know: listed last

    groups: dict[tuple[str, str], dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    for (status, source, lang, what), n in acc.funnel.items():
        for group in (("overall", ""), ("by_source", source), ("by_lang", lang)):
            groups[group][status][what] += n
    # tokens: exact for kept documents (when the mixing job counted them), estimated for dropped ones
    for (status, source, lang, what), n in acc.funnel.items():
        if what != "chars":
            continue
        if status == KEPT and exact:
            tokens = exact.get((source, lang if lang != UNIDENTIFIED else "und"), 0)
        else:
            tokens = round(n * tokens_per_char.get(lang, default_tpc))
        for group in (("overall", ""), ("by_source", source), ("by_lang", lang)):
            groups[group][status]["tokens"] += tokens

    def rows(per_status: Mapping[str, Counter[str]]) -> list[dict[str, int]]:
        out = [{what: sum(c[what] for c in per_status.values()) for what in ("docs", "chars", "tokens")}]
        for i in range(len(stages)):
            later = [KEPT, *stages[i + 1:]]
            out.append({what: sum(per_status.get(s, Counter())[what] for s in later)
                        for what in ("docs", "chars", "tokens")})
        return out

    result: dict[str, Any] = {"steps": ["records read"] + [f"after {s}" for s in stages],
                              "tokens": "exact for kept documents, estimated for dropped ones"
                              if exact else "estimated (characters x held-out tokens per character)"}
    result["overall"] = rows(groups[("overall", "")])
    for kind in ("by_source", "by_lang"):
        result[kind] = {name: rows(per) for (k, name), per in sorted(groups.items()) if k == kind}
    return result


def histograms(acc: _Accumulator) -> dict[str, Any]:
    out = {}
    for name in sorted(acc.hist):
        spec = HISTOGRAMS.get(name) or RULE_MEASUREMENTS[name.split(".", 1)[1]]
        out[name] = {"scale": spec[0], "edges": [round(float(e), 6) for e in bin_edges(spec)],
                     "series": {k: [int(c) for c in v] for k, v in sorted(acc.hist[name].items())}}
    return out


def run_stats(output: str, parts: int, fertility: Mapping[str, Any], acc: _Accumulator | None = None) -> dict[str, Any]:
    """The funnel and histograms of the run in `output`. `acc`: its `collect(output, parts)`, when the
    caller has it already."""
    acc = collect(output, parts) if acc is None else acc
    by_lang = {lang: v["tokens_per_char"] for lang, v in (fertility.get("by_lang") or {}).items()
               if v.get("tokens_per_char")}
    default = (fertility.get("all") or {}).get("tokens_per_char") or 0.3
    from pipeline.report import read_json

    curated_tokens = read_json(f"{output}/report/curated_tokens.json")
    return {"funnel": funnel(acc, curated_tokens, by_lang, default), "histograms": histograms(acc)}
