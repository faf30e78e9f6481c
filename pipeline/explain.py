"""`curate explain DOC_ID RUN_DIR`: where one document of a finished run went (takedown requests).

The answer is read from the run's outputs, never recomputed: its rows in `curated/` and `rejected/`
(a document can have several: `read:duplicate_id` dead letters share the id of the record kept), and,
for a kept document, the rows of each phase's shards that hold it (`doc_ids`).

Parquet. Rows of `curated/` and `rejected/` go to part `hash64(run.seed, id) % run.parts`
(transforms/parquet_out.py), so with `run_manifest.json` (its resolved config) one part of each is read,
with a pyarrow filter `id = DOC_ID` and only the columns shown; without it every part, one at a time.
Everything goes through Beam's FileSystems, so a `gs://` run output works too. An id that is not found is
looked up as a suffix (users often pass the raw id without its `<source>/` prefix): the `id` column of
every part is scanned; a single id ending with `/DOC_ID` is taken, otherwise ids ending with DOC_ID are
suggested.

Shards: the row is found by computing the pack bucket, not by scanning the phase. MixPhases sends pass r
(0 = first use) of a training document to pack bucket `unit_hash(mix.seed, "pack", id, r) % pack_buckets`,
which is the shard index (transforms/mix.py `_AssignFn`; PackSequences only orders inside a bucket), and
a document with `unit_interval(mix.seed, "validation", id) < validation_fraction` to the phase's one
validation shard, every pass. Which passes a phase took depends on the plan (cursors, the budget cut), so
explain reads the shards of passes 0 .. max_epochs - 1 of the document's buckets (one shard when
max_epochs is 1, the default), with `mix.seed` from the manifest's `selection`, and lists every row whose
`doc_ids` hold the id: a document can continue over several rows (`doc_offsets` > 0) and an upsampled one
appears once per pass. `scan=True` reads every shard of every phase instead (tests check the two agree).
Shards are memory-mapped when local, read whole through FileSystems otherwise.

Duplicates (`exact_dedup:duplicate`, `near_dedup:near_duplicate`, `urls:duplicate_url`: the detail is the
survivor's id; `read:duplicate_id`: the detail is the location of the record kept under the same id) are
followed to their survivor, and from there along a chain of survivors (at most MAX_CHAIN steps).
In annotate mode `curated/` holds every readable document with its decision; a dropped one names its
survivor in `meta.duplicate_of`.
"""

from __future__ import annotations

import json
import os
import posixpath
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from pipeline.manifest import iter_segments, read_shard
from transforms.arrow_shards import shard_relpath
from transforms.document import KEEP
from transforms.hashing import unit_interval
from transforms.mix import TRAIN, VALIDATION, unit_hash
from transforms.parquet_out import part_of, part_path

MAX_CHAIN = 8            # survivors followed from a duplicate
SUGGESTIONS = 10         # ids ending with an unknown id, listed
TEXT_CHARS = 160         # start of the text shown
DUPLICATE_OF_ID = {("exact_dedup", "duplicate"), ("near_dedup", "near_duplicate"), ("urls", "duplicate_url")}
DUPLICATE_ID = ("read", "duplicate_id")   # detail = the location of the record kept under the same id
CURATED_COLUMNS = ["id", "source", "text", "lang", "lang_score", "script", "url", "crawl_date", "license",
                   "quality_score", "cluster_id", "cluster_size", "location", "decision", "meta"]
# the last five may be missing (older runs) or null (dead letters): shown when present, never required
REJECTED_COLUMNS = ["id", "source", "stage", "reason", "location", "detail", "text",
                    "chars", "lang", "lang_score", "quality_score", "scores"]


class ExplainError(ValueError):
    """A path that is not a run output (one line for the user)."""


# ---------------------------------------------------------------- the run

class _Run:
    """A run output: its resolved config (run_manifest.json) when there is one, and its Parquet parts."""

    def __init__(self, output: str) -> None:
        self.output = output.rstrip("/") or output
        local = "://" not in output
        if local and not os.path.isdir(output):
            what = "is not a directory" if os.path.exists(output) else "not found"
            raise ExplainError(f"explain: run directory {what}: {output}")
        self.config: dict[str, Any] = {}
        manifest = f"{self.output}/run_manifest.json"
        if FileSystems.exists(manifest):
            with FileSystems.open(manifest) as fh:
                try:
                    self.config = json.loads(fh.read()).get("config") or {}
                except ValueError:
                    raise ExplainError(f"explain: {manifest} is not readable JSON") from None
        run = self.config.get("run") or {}
        self.seed: int | None = run.get("seed")
        self.parts: int | None = run.get("parts")
        self.mode: str = run.get("mode") or "filter"
        self.phase_order = [p.get("name") for p in self.config.get("phases") or []]
        self._parts = {kind: self._list_parts(kind) for kind in ("curated", "rejected")}
        if not self._parts["curated"] and not self._parts["rejected"]:
            if not local and not FileSystems.match([f"{self.output}/*"])[0].metadata_list:
                raise ExplainError(f"explain: run directory not found: {output}")
            raise ExplainError(f"explain: {output} is not a run output (no curated/ or rejected/ Parquet parts)")

    def _list_parts(self, kind: str) -> list[str]:
        suffix = f"-of-{self.parts:05d}.parquet" if self.parts else ".parquet"
        found = FileSystems.match([f"{self.output}/{kind}/part-*{suffix}"])[0].metadata_list
        return sorted(m.path for m in found)

    def rel(self, path: str) -> str:
        return path[len(self.output) + 1:] if path.startswith(self.output + "/") else path

    def parts_of(self, kind: str, doc_id: str | None) -> list[str]:
        """The parts that can hold `doc_id` (one, when the run's seed and parts are known), or every part."""
        every = self._parts[kind]
        if doc_id is None or self.seed is None or not self.parts:
            return every
        name = posixpath.basename(part_path(kind, part_of(self.seed, doc_id, self.parts), self.parts))
        return [p for p in every if posixpath.basename(p) == name]

    def read(self, kind: str, doc_id: str) -> list[dict[str, Any]]:
        """Rows of `kind` with this id, one part at a time, only the columns shown."""
        wanted = CURATED_COLUMNS if kind == "curated" else REJECTED_COLUMNS
        rows = []
        for path in self.parts_of(kind, doc_id):
            with FileSystems.open(path) as fh:
                names = set(pq.ParquetFile(fh).schema_arrow.names)
                fh.seek(0)
                table = pq.read_table(fh, columns=[c for c in wanted if c in names], filters=[("id", "=", doc_id)])
            for row in table.to_pylist():
                rows.append({**row, "_kind": kind, "_part": self.rel(path)})
        return rows

    def ids_ending_with(self, query: str) -> list[str]:
        """Every id (curated and rejected) ending with `query`, reading only the id column of each part."""
        found: set[str] = set()
        for kind in ("curated", "rejected"):
            for path in self.parts_of(kind, None):
                with FileSystems.open(path) as fh:
                    ids = pq.read_table(fh, columns=["id"]).column("id")
                found.update(ids.filter(pc.ends_with(ids, query)).to_pylist())
        return sorted(found)

    def phase_manifests(self) -> list[dict[str, Any]]:
        found = FileSystems.match([f"{self.output}/phases/*/manifest.json"])[0].metadata_list
        manifests = []
        for meta in found:
            with FileSystems.open(meta.path) as fh:
                manifests.append(json.loads(fh.read()))
        order = {name: k for k, name in enumerate(self.phase_order)}
        return sorted(manifests, key=lambda m: (order.get(m["phase"], len(order)), m["phase"]))


# ---------------------------------------------------------------- records

def _duplicate_of(row: dict[str, Any]) -> str | None:
    """The survivor a duplicate names: an id (dedup stages), or a location (read:duplicate_id)."""
    if row["_kind"] == "curated":
        meta = dict(row.get("meta") or [])
        return meta.get("duplicate_of") if row["decision"] != KEEP else None
    if (row["stage"], row["reason"]) in DUPLICATE_OF_ID or (row["stage"], row["reason"]) == DUPLICATE_ID:
        return row.get("detail")
    return None


def _record(row: dict[str, Any]) -> dict[str, Any]:
    text = row.get("text")
    if row["_kind"] == "curated":
        decision = row["decision"] or KEEP
        stage, _, reason = decision.partition(":")
        meta = dict(row.get("meta") or [])
        rec = {"where": "curated", "part": row["_part"], "decision": decision,
               "fate": "kept" if decision == KEEP else "dropped",
               "stage": None if decision == KEEP else stage, "reason": None if decision == KEEP else reason,
               "detail": None if decision == KEEP else (meta.get("drop_detail") or meta.get("duplicate_of")),
               **{k: row.get(k) for k in ("source", "location", "lang", "lang_score", "script", "quality_score",
                                          "cluster_id", "cluster_size", "url", "crawl_date", "license")}}
        size = row.get("cluster_size") or 1
        rec["cluster_survivor"] = size > 1 and decision != "near_dedup:near_duplicate"
        rec["chars"] = len(text) if text is not None else None
    else:
        rec = {"where": "rejected", "part": row["_part"], "decision": f"{row['stage']}:{row['reason']}",
               "fate": "dead letter" if row["stage"] == "read" else "dropped",
               **{k: row.get(k) for k in ("source", "stage", "reason", "location", "detail")}}
        for k in ("chars", "lang", "lang_score", "quality_score"):   # newer runs; null for dead letters
            if row.get(k) is not None:
                rec[k] = row[k]
        if row.get("scores"):
            rec["scores"] = dict(row["scores"])
        if rec.get("chars") is None and text is not None:
            rec["chars"] = len(text)
    rec["text_start"] = None if text is None else text[:TEXT_CHARS]
    rec["duplicate_of"] = _duplicate_of(row)
    return rec


def _records(run: _Run, doc_id: str) -> list[dict[str, Any]]:
    rows = run.read("curated", doc_id) + run.read("rejected", doc_id)
    return [_record(r) for r in rows]


# ---------------------------------------------------------------- shards

def _load_shard(path: str) -> pa.Table:
    if "://" not in path:
        return read_shard(path)
    with FileSystems.open(path) as fh:
        return pa.ipc.open_stream(pa.BufferReader(fh.read())).read_all()


def _rows_holding(table: pa.Table, doc_id: str) -> list[int]:
    docs = table.column("doc_ids").combine_chunks()
    parents = pc.list_parent_indices(docs)
    hits = pc.equal(pc.list_flatten(docs), doc_id)
    return sorted(set(parents.filter(hits).to_pylist()))


def candidate_shards(manifest: dict[str, Any], doc_id: str, source: str) -> tuple[str | None, list[str]]:
    """(split, shard paths relative to the run) where a phase can have put a document of `source`:
    (None, []) when no bucket of the phase draws from the source."""
    name = manifest["phase"]
    buckets = [b for b in manifest.get("buckets", {}) if b == source or b.startswith(f"{source}@")]
    if not buckets:
        return None, []
    seed = manifest["selection"]["seed"]
    validation = manifest.get("validation") or {}
    if validation.get("shards") and unit_interval(seed, "validation", doc_id) < validation.get("fraction", 0):
        return VALIDATION, [shard_relpath(name, VALIDATION, 0, 1)]
    n = len(manifest["shards"])
    epochs = max(manifest["buckets"][b].get("max_epochs", 1) for b in buckets)
    picks = sorted({unit_hash(seed, "pack", doc_id, r) % n for r in range(epochs)})
    return TRAIN, [shard_relpath(name, TRAIN, b, n) for b in picks]


def _every_shard(manifest: dict[str, Any]) -> list[str]:
    name, n = manifest["phase"], len(manifest["shards"])
    paths = [shard_relpath(name, TRAIN, b, n) for b in range(n)]
    if (manifest.get("validation") or {}).get("shards"):
        paths.append(shard_relpath(name, VALIDATION, 0, 1))
    return paths


def _segments(run: _Run, relpath: str, doc_id: str, eos_id: int) -> Iterator[dict[str, Any]]:
    table = _load_shard(f"{run.output}/{relpath}")
    for row in _rows_holding(table, doc_id):
        one = table.slice(row, 1)
        cu = one.column("cu_seqlens")[0].as_py()
        for k, (seg_id, bucket, offset, ids) in enumerate(iter_segments(one)):
            if seg_id == doc_id:
                yield {"file": relpath, "split": VALIDATION if "/validation/" in relpath else TRAIN,
                       "shard": int(posixpath.basename(relpath)[6:11]), "row": row, "segment": k,
                       "start": cu[k], "end": cu[k + 1], "doc_offset": offset, "tokens": len(ids),
                       "bucket": bucket, "ends_document": bool(ids) and ids[-1] == eos_id}


def locate(run: _Run, manifest: dict[str, Any], doc_id: str, source: str, scan: bool = False) -> dict[str, Any]:
    """Where one phase holds a document: its segments (file, row, segment, offsets) grouped into
    occurrences (one per pass taken: a new one starts at document offset 0)."""
    split, paths = candidate_shards(manifest, doc_id, source)
    if scan:
        paths = _every_shard(manifest)
    out: dict[str, Any] = {"phase": manifest["phase"], "used": False, "split": None, "shards_read": paths,
                           "occurrences": []}
    if not paths:
        out["why_not"] = f"no bucket of the phase draws from {source}"
        return out
    eos = manifest["tokenizer"]["eos_id"]
    segments = [s for p in paths for s in _segments(run, p, doc_id, eos)]
    occurrences: list[dict[str, Any]] = []
    for seg in segments:
        if seg["doc_offset"] == 0 or not occurrences:
            occurrences.append({"segments": [], "tokens": 0})
        occurrences[-1]["segments"].append(seg)
        occurrences[-1]["tokens"] += seg["tokens"]
    for occ in occurrences:
        occ["complete"] = occ["segments"][-1]["ends_document"]  # else cut at the budget (its tail unused)
        occ["bucket"] = occ["segments"][0]["bucket"]
    if occurrences:
        out.update(used=True, split=occurrences[0]["segments"][0]["split"], occurrences=occurrences)
    else:
        out["why_not"] = "not selected (budget, length filter, or an earlier phase took it)"
        if split is not None and not scan:
            out["split_if_used"] = split
    return out


# ---------------------------------------------------------------- explain

def _resolve(run: _Run, query: str) -> tuple[str | None, list[dict[str, Any]], list[str]]:
    """(id, its records, suggestions): the id as given, else the one id ending with `/query`."""
    records = _records(run, query)
    if records:
        return query, records, []
    ending = run.ids_ending_with(query)
    exact = [i for i in ending if i.endswith(f"/{query}")]
    if len(exact) == 1:
        return exact[0], _records(run, exact[0]), []
    return None, [], (exact or ending)[:SUGGESTIONS]


def _main_record(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The record that tells a document's fate: a curated row, else a drop, else a dead letter."""
    def rank(r: dict[str, Any]) -> int:
        if r["where"] == "curated":
            return 0
        return 2 if (r["stage"], r["reason"]) == DUPLICATE_ID else 1
    return min(records, key=rank)


def _used_briefly(phases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"phase": p["phase"], "split": p["split"], "file": occ["segments"][0]["file"],
             "row": occ["segments"][0]["row"]} for p in phases for occ in p["occurrences"]]


def _survivor_chain(run: _Run, doc_id: str, records: list[dict[str, Any]],
                    manifests: list[dict[str, Any]], scan: bool) -> list[dict[str, Any]]:
    """From the duplicate among `records` to its survivor, and on while a survivor is itself a duplicate."""
    chain: list[dict[str, Any]] = []
    dup = next((r for r in records if r["duplicate_of"]), None)
    seen = {(doc_id, dup["location"])} if dup else set()
    current_id, current = doc_id, dup
    while current is not None and current["duplicate_of"] and len(chain) < MAX_CHAIN:
        if (current["stage"], current["reason"]) == DUPLICATE_ID:   # the record kept under the same id
            target_id, where = current_id, current["duplicate_of"]
            found = [r for r in _records(run, target_id) if r["location"] == where and r is not current
                     and (r["stage"], r["reason"]) != DUPLICATE_ID]
        else:
            target_id, where = current["duplicate_of"], None
            found = _records(run, target_id)
        step: dict[str, Any] = {"id": target_id, "via": current["decision"], "of": current_id}
        if not found:
            step["fate"] = "not found"
            chain.append(step)
            break
        rec = _main_record(found)
        step.update(fate=rec["fate"], decision=rec["decision"], location=rec["location"], detail=rec.get("detail"))
        if rec["where"] == "curated" and rec["decision"] == KEEP:
            step["used_by"] = _used_briefly([locate(run, m, target_id, rec["source"], scan) for m in manifests])
        chain.append(step)
        key = (target_id, rec["location"])
        if key in seen:
            step["cycle"] = True
            break
        seen.add(key)
        current_id, current = target_id, rec
    return chain


def explain(output: str, query: str, scan: bool = False) -> dict[str, Any]:
    """Where document `query` of the run in `output` went, as a JSON-ready dict (see `explain_lines`)."""
    run = _Run(output)
    doc_id, records, suggestions = _resolve(run, query)
    result: dict[str, Any] = {"query": query, "id": doc_id, "run": run.output, "mode": run.mode,
                              "found": doc_id is not None, "records": records}
    if doc_id is None:
        result["suggestions"] = suggestions
        return result
    main = _main_record(records)
    result["fate"] = {"kept": "kept", "dropped": f"dropped by {main['decision']}"}.get(
        main["fate"], f"{main['fate']} ({main['decision']})")
    manifests = run.phase_manifests()
    kept = next((r for r in records if r["where"] == "curated" and r["decision"] == KEEP), None)
    if kept is not None:
        result["phases"] = [locate(run, m, doc_id, kept["source"], scan) for m in manifests]
    if any(r["duplicate_of"] for r in records):
        result["survivors"] = _survivor_chain(run, doc_id, records, manifests, scan)
    return result


# ---------------------------------------------------------------- lines

def _num(value: Any, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _record_lines(rec: dict[str, Any]) -> list[str]:
    if rec["fate"] == "kept":
        head = f"  kept: {rec['part']}"
    else:
        head = f"  {rec['fate']} ({rec['decision']}): {rec['part']}"
    lines = [head, f"    source {rec['source']}, location {rec['location']}"
             + "".join(f", {k} {rec[k]}" for k in ("license", "url", "crawl_date") if rec.get(k))]
    if rec.get("detail"):
        lines.append(f"    detail: {rec['detail']}")
    facts = []
    if rec.get("lang") is not None:
        facts.append(f"lang {rec['lang']} (score {_num(rec.get('lang_score'))}"
                     + (f", script {rec['script']})" if rec.get("script") else ")"))
    if rec["where"] == "curated" or rec.get("quality_score") is not None:
        facts.append(f"quality_score {_num(rec.get('quality_score'))}")
    if rec.get("chars") is not None:
        facts.append(f"{rec['chars']} characters")
    if facts:
        lines.append("    " + ", ".join(facts))
    if rec["where"] == "curated":
        size = rec.get("cluster_size") or 1
        if size > 1 and rec["cluster_survivor"]:
            note = f"the survivor of a near-duplicate cluster of {size} (the other {size - 1} dropped)"
        elif size > 1:
            note = f"a member of a near-duplicate cluster of {size}"
        else:
            note = "no near duplicate"
        lines.append(f"    cluster {rec.get('cluster_id')} (size {size}): {note}")
    if rec.get("scores"):
        lines.append(f"    {len(rec['scores'])} scores (see --json)")
    lines.append("    text: " + ("(not kept)" if rec["text_start"] is None
                                  else json.dumps(rec["text_start"], ensure_ascii=False)))
    return lines


def _phase_lines(p: dict[str, Any]) -> list[str]:
    if not p["used"]:
        read = ", ".join(posixpath.basename(s) for s in p["shards_read"])
        return [f"  phase {p['phase']}: not used: {p['why_not']}" + (f" ({read} read)" if read else "")]
    n = len(p["occurrences"])
    lines = [f"  phase {p['phase']}: used, {p['split']} split, {n} occurrence{'s' if n > 1 else ''}"]
    for occ in p["occurrences"]:
        cut = "" if occ["complete"] else " (cut at the budget: its tail is not used)"
        lines.append(f"    {occ['tokens']} tokens of bucket {occ['bucket']}{cut}:")
        for s in occ["segments"]:
            lines.append(f"      {s['file']} row {s['row']} segment {s['segment']}: row tokens "
                         f"{s['start']}-{s['end']}, document tokens {s['doc_offset']}-{s['doc_offset'] + s['tokens']}")
    return lines


def _step_line(step: dict[str, Any]) -> str:
    head = f"  survivor {step['id']} (of {step['of']}, {step['via']}): "
    if step["fate"] == "not found":
        return head + "not found in curated/ or rejected/"
    if step["fate"] != "kept":
        return head + f"{step['fate']} ({step['decision']}), location {step['location']}" + (
            f", detail {step['detail']}" if step.get("detail") else "") + (" [cycle]" if step.get("cycle") else "")
    used = step.get("used_by") or []
    where = ("; used by " + ", ".join(f"{u['phase']} ({u['split']}, {posixpath.basename(u['file'])} row {u['row']})"
                                      for u in used)) if used else "; not used by any phase"
    return head + f"kept, location {step['location']}{where}"


def explain_lines(result: dict[str, Any]) -> list[str]:
    """`explain`'s answer as printable lines."""
    if not result["found"]:
        lines = [f"{result['query']}: not found in {result['run']} (curated/ and rejected/)"]
        if result["suggestions"]:
            lines.append(f"  ids ending with {result['query']}: " + ", ".join(result["suggestions"]))
        return lines
    lines = [f"{result['id']}: {result['fate']}" + ("" if result["id"] == result["query"]
                                                   else f" (given as {result['query']})")]
    for rec in result["records"]:
        lines += _record_lines(rec)
    for p in result.get("phases", []):
        lines += _phase_lines(p)
    if "phases" in result and not result["phases"]:
        lines.append("  no finished phase in this run (phases/<phase>/manifest.json)")
    for step in result.get("survivors", []):
        lines.append(_step_line(step))
    return lines
