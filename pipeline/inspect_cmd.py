"""`curate inspect PATH`: look at a finished run from the command line.

PATH is a phase directory (`phases/<phase>`: budgets, and one decoded row, `--shard`/`--row`), a run's
`curated/` or `rejected/` directory or one of their Parquet part files (row count, schema, counts per
source, per lang and per decision, or per stage:reason, characters; `--row N` / `--sample K` show
documents), or a run output (curated/, rejected/ and each phase in brief; `--row`/`--sample` apply to
curated/). Parquet is read one part at a time, only the columns needed, through Beam's FileSystems (so a
`gs://` run works too); shards are memory-mapped (local).
"""

from __future__ import annotations

import heapq
import json
import os
from collections import Counter
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from pipeline.dataset import open_phase
from transforms.document import KEEP
from transforms.hashing import hash64


class InspectError(ValueError):
    """A path that is not a finished phase or run output (one line for the user)."""


def _phase_dirs(path: str) -> list[str]:
    if os.path.isfile(os.path.join(path, "manifest.json")):
        return [path]
    phases = os.path.join(path, "phases")
    found = sorted(os.path.join(phases, d) for d in (os.listdir(phases) if os.path.isdir(phases) else [])
                   if os.path.isfile(os.path.join(phases, d, "manifest.json")))
    if not found:
        raise InspectError(f"inspect: {path} is neither a phase directory with manifest.json, a run output, "
                           "a curated/ or rejected/ directory nor a Parquet part")
    return found


def _tokenizer(phase_dir: str, manifest: dict[str, Any]) -> Any:
    from tokenizer.wrapper import Tokenizer

    path = os.path.join(phase_dir, "..", "..", manifest["tokenizer"]["path"])
    if not os.path.isfile(path):
        return None
    with open(path, "rb") as fh:
        return Tokenizer(fh.read())


def phase_summary(m: dict[str, Any]) -> list[str]:
    """A phase's budgets, from its manifest alone."""
    target = m["tokens_by_source"]["target"]
    realized = m["tokens_by_source"]["realized"]
    lines = [f"phase {m['phase']}: seq_len {m['seq_len']}, {len(m['shards'])} shards, "
             f"{sum(s['rows'] for s in m['shards'])} rows, {m['tokens']} training tokens "
             f"(target {sum(target.values())})",
             "  tokens by source (target -> realized): "
             + ", ".join(f"{s} {target.get(s, 0)} -> {realized.get(s, 0)}"
                         for s in sorted(set(target) | set(realized))),
             f"  validation: {sum(s['rows'] for s in m['validation']['shards'])} rows, "
             f"fraction {m['validation']['fraction']}",
             f"  tokenizer: {m['tokenizer']['path']} (sha256 {m['tokenizer']['sha256'][:12]}..., "
             f"vocab {m['tokenizer']['vocab_size']})"]
    if m.get("shortfall"):
        lines.append(f"  shortfall: {json.dumps(m['shortfall'], sort_keys=True)}")
    return lines


def describe_phase(phase_dir: str, row: int = 0, shard: int = 0, chars: int = 300) -> list[str]:
    """A phase's summary and one decoded row, as printable lines."""
    phase = open_phase(phase_dir)
    m = phase.manifest
    try:
        lines = phase_summary(m)
        if not phase.rows:
            return lines
        if not 0 <= shard < len(phase.shards) or not 0 <= row < phase.shards[shard].rows:
            raise InspectError(f"inspect: no row {row} in shard {shard} of {phase_dir}")
        r = phase.row(shard, row)
        tok = _tokenizer(phase_dir, m)
        lines.append(f"  row {row} of {os.path.basename(phase.shards[shard].path)}: {len(r.doc_ids)} segments, "
                     f"{r.cu_seqlens[-1]} tokens + {phase.seq_len - r.cu_seqlens[-1]} padding")
        for k, doc_id in enumerate(r.doc_ids):
            seg = r.input_ids[r.cu_seqlens[k]:r.cu_seqlens[k + 1]]
            lines.append(f"    [{k}] {doc_id} ({r.sources[k]}, offset {r.doc_offsets[k]}, {len(seg)} tokens)")
            if tok is not None:
                text = tok.decode([int(t) for t in seg if t not in (tok.bos_id, tok.eos_id)])
                lines.append("        " + json.dumps(text[:chars], ensure_ascii=False))
        return lines
    finally:
        phase.close()


# ---------------------------------------------------------------- curated/ and rejected/ Parquet

SHOW_CURATED = ["id", "source", "lang", "quality_score", "cluster_id", "cluster_size", "decision", "text"]
SHOW_REJECTED = ["id", "source", "stage", "reason", "location", "detail", "lang", "quality_score", "text"]


def _exists(path: str) -> bool:
    return os.path.exists(path) if "://" not in path else FileSystems.exists(path)


def _match(pattern: str) -> list[str]:
    return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)


def parquet_parts(directory: str) -> list[str]:
    """The part files of a curated/ or rejected/ directory: the run's own set (`run.parts` in the run's
    run_manifest.json) when known, else every `part-*.parquet`."""
    directory = directory.rstrip("/")
    parts = None
    manifest = f"{directory.rsplit('/', 1)[0]}/run_manifest.json" if "/" in directory else "run_manifest.json"
    if _exists(manifest):
        with FileSystems.open(manifest) as fh:
            try:
                parts = (json.loads(fh.read()).get("config") or {}).get("run", {}).get("parts")
            except ValueError:
                parts = None
    found = _match(f"{directory}/part-*-of-{parts:05d}.parquet") if parts else []
    return found or _match(f"{directory}/part-*.parquet")


def _kind(names: list[str] | set[str]) -> str:
    return "rejected" if "stage" in names else "curated"


def _schema(path: str) -> Any:
    with FileSystems.open(path) as fh:
        return pq.ParquetFile(fh).schema_arrow


def summarize_parquet(paths: list[str], sample: int = 0, seed: int = 0) -> dict[str, Any]:
    """Counts over Parquet parts (all of one kind), one part at a time, only the columns counted:
    rows, schema, per source, per lang and per decision (curated) or stage:reason (rejected),
    characters (curated: of the text, and of kept documents; rejected: the `chars` column when the run
    has it, else the texts kept), and the (part, row) of a seeded sample of `sample` rows."""
    schema = _schema(paths[0])
    names = set(schema.names)
    kind = _kind(names)
    out: dict[str, Any] = {"kind": kind, "parts": len(paths), "rows": 0,
                           "schema": [(f.name, str(f.type)) for f in schema], "by_source": Counter(),
                           "by_lang": Counter(), "by_decision" if kind == "curated" else "by_stage_reason": Counter(),
                           "chars": 0}
    if kind == "curated":
        out["kept_chars"] = 0
    chars_column = "chars" if kind == "rejected" and "chars" in names else None
    out["chars_from"] = "chars" if chars_column else "text"
    group = ["decision"] if kind == "curated" else ["stage", "reason"]
    columns = ["source", *(["lang"] if "lang" in names else []), *group, chars_column or "text",
               *(["id"] if sample else [])]
    heap: list[tuple[int, int, int]] = []   # the `sample` smallest (-hash, ...) kept as a max-heap
    for k, path in enumerate(paths):
        with FileSystems.open(path) as fh:
            table = pq.read_table(fh, columns=columns)
        out["rows"] += table.num_rows
        if chars_column:
            lengths = table.column(chars_column)
        else:
            lengths = pc.utf8_length(table.column("text"))
            out["texts"] = out.get("texts", 0) + table.num_rows - table.column("text").null_count
        out["chars"] += pc.sum(lengths).as_py() or 0
        if kind == "curated":
            out["kept_chars"] += pc.sum(lengths.filter(pc.equal(table.column("decision"), KEEP))).as_py() or 0
        out["by_source"].update(table.column("source").to_pylist())
        if "lang" in names:
            out["by_lang"].update("none" if v is None else v for v in table.column("lang").to_pylist())
        if kind == "curated":
            out["by_decision"].update(table.column("decision").to_pylist())
        else:
            out["by_stage_reason"].update(f"{s}:{r}" for s, r in zip(table.column("stage").to_pylist(),
                                                                      table.column("reason").to_pylist(), strict=True))
        if sample:
            for i, doc_id in enumerate(table.column("id").to_pylist()):
                item = (-hash64(seed, "inspect", doc_id), k, i)
                if len(heap) < sample:
                    heapq.heappush(heap, item)
                elif item > heap[0]:
                    heapq.heapreplace(heap, item)
        del table
    out["sample"] = [(k, i) for _, k, i in sorted(heap, reverse=True)]
    for key in ("by_source", "by_lang", "by_decision", "by_stage_reason"):
        if key in out:
            out[key] = dict(sorted(out[key].items(), key=lambda kv: (-kv[1], kv[0])))
    if "lang" not in names:
        del out["by_lang"]
    return out


def _rows_at(paths: list[str], wanted: list[tuple[int, int]]) -> list[dict[str, Any]]:
    """Rows at (part index, row index), read one part at a time, only the columns shown."""
    by_part: dict[int, list[int]] = {}
    for k, i in wanted:
        by_part.setdefault(k, []).append(i)
    found: dict[tuple[int, int], dict[str, Any]] = {}
    for k, rows in sorted(by_part.items()):
        with FileSystems.open(paths[k]) as fh:
            names = pq.ParquetFile(fh).schema_arrow.names
            fh.seek(0)
            show = SHOW_REJECTED if _kind(names) == "rejected" else SHOW_CURATED
            table = pq.read_table(fh, columns=[c for c in show if c in names])
        for i, row in zip(rows, table.take(rows).to_pylist(), strict=True):
            found[(k, i)] = {**row, "_part": paths[k].rsplit("/", 1)[-1], "_row": i}
    return [found[w] for w in wanted]


def _global_row(paths: list[str], row: int) -> tuple[int, int]:
    total = 0
    for k, path in enumerate(paths):
        with FileSystems.open(path) as fh:
            n = pq.ParquetFile(fh).metadata.num_rows
        if row < total + n:
            return k, row - total
        total += n
    raise InspectError(f"inspect: no row {row} ({total} rows)")


def _document_lines(doc: dict[str, Any], label: str, chars: int) -> list[str]:
    head = f"  {label}: {doc['id']} ({doc['_part']} row {doc['_row']})"
    if "stage" in doc:
        facts = [f"source {doc['source']}", f"{doc['stage']}:{doc['reason']}", f"location {doc['location']}"]
        if doc.get("detail"):
            facts.append(f"detail {doc['detail']}")
        facts += [f"{k} {doc[k]}" for k in ("lang", "quality_score") if doc.get(k) is not None]
    else:
        facts = [f"source {doc['source']}", f"lang {doc.get('lang')}", f"quality_score {doc.get('quality_score')}",
                 f"cluster {doc.get('cluster_id')} (size {doc.get('cluster_size')})", f"decision {doc.get('decision')}"]
    text = doc.get("text")
    return [head, "    " + ", ".join(facts),
            "    " + ("(text not kept)" if text is None else json.dumps(text[:chars], ensure_ascii=False))]


def _counts(counter: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counter.items()) or "-"


def describe_parquet(paths: list[str], label: str, row: int | None = None, sample: int = 0,
                     chars: int = 300) -> list[str]:
    """Summary lines of Parquet parts, and the documents asked for (`row`: over the parts in order)."""
    s = summarize_parquet(paths, sample)
    first = paths[0].rsplit("/", 1)[-1]
    lines = [f"{label}: {s['kind']}, {s['parts']} part{'s' if s['parts'] > 1 else ''} ({first}"
             + (" ...)" if s["parts"] > 1 else ")") + f", {s['rows']} rows",
             "  schema: " + ", ".join(f"{n}: {t}" for n, t in s["schema"]),
             f"  by source: {_counts(s['by_source'])}"]
    if "by_lang" in s:
        lines.append(f"  by lang: {_counts(s['by_lang'])}")
    if s["kind"] == "curated":
        lines.append(f"  by decision: {_counts(s['by_decision'])}")
        lines.append(f"  characters: {s['chars']} ({s['kept_chars']} in kept documents)")
    else:
        lines.append(f"  by stage:reason: {_counts(s['by_stage_reason'])}")
        lines.append(f"  characters: {s['chars']}" if s["chars_from"] == "chars" else
                     f"  characters: {s['chars']} in the {s['texts']} texts kept (run.rejected_text_fraction)")
    wanted = ([_global_row(paths, row)] if row is not None else []) + s["sample"]
    docs = _rows_at(paths, wanted) if wanted else []
    if row is not None:
        lines += _document_lines(docs.pop(0), f"row {row}", chars)
    for n, doc in enumerate(docs):
        lines += _document_lines(doc, f"sample {n + 1}/{len(docs)}", chars)
    return lines


def _phase_manifests(output: str) -> list[dict[str, Any]]:
    """Finished phases of a run output, in the config's order when run_manifest.json says it."""
    manifests = []
    for path in _match(f"{output}/phases/*/manifest.json"):
        with FileSystems.open(path) as fh:
            manifests.append(json.loads(fh.read()))
    order: dict[str, int] = {}
    if _exists(f"{output}/run_manifest.json"):
        with FileSystems.open(f"{output}/run_manifest.json") as fh:
            try:
                phases = (json.loads(fh.read()).get("config") or {}).get("phases") or []
                order = {p.get("name"): k for k, p in enumerate(phases)}
            except (ValueError, AttributeError):
                order = {}
    return sorted(manifests, key=lambda m: (order.get(m["phase"], len(order)), m["phase"]))


def inspect(path: str, row: int | None = None, shard: int = 0, sample: int = 0) -> list[str]:
    """Printable lines for PATH: a phase, a run's curated/ or rejected/ (directory or part), a run output."""
    if (row is not None and row < 0) or sample < 0:
        raise InspectError("inspect: --row and --sample must be >= 0")
    path = path.rstrip("/") or path
    if path.endswith(".parquet") and _exists(path):
        return describe_parquet([path], path, row, sample)
    if not _exists(f"{path}/manifest.json"):
        parts = parquet_parts(path)
        if parts:
            return describe_parquet(parts, path, row, sample)
        runs = {kind: parquet_parts(f"{path}/{kind}") for kind in ("curated", "rejected")}
        if any(runs.values()):
            out: list[str] = []
            for kind, kind_parts in runs.items():
                if kind_parts:
                    out += describe_parquet(kind_parts, f"{path}/{kind}", row if kind == "curated" else None,
                                            sample if kind == "curated" else 0)
            manifests = _phase_manifests(path)
            for m in manifests:
                out += phase_summary(m)
            if not manifests:
                out.append("no finished phase (phases/<phase>/manifest.json)")
            return out
    out = []
    for phase_dir in _phase_dirs(path):
        out += describe_phase(phase_dir, 0 if row is None else row, shard)
    return out
