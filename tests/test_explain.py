"""`curate explain` and `curate inspect` on a finished run of the embedded sample (one run for the module),
checked against the shards read independently, data/sample/planted.json and report/report.json."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.cli import main
from pipeline.explain import explain, explain_lines
from pipeline.inspect_cmd import inspect, summarize_parquet
from pipeline.manifest import iter_segments, read_shard
from tests.conftest import ROOT
from tests.output_checks import curated_table, rejected_rows
from tokenizer.wrapper import Tokenizer
from transforms.parquet_out import CURATED_SCHEMA

CONFIG = ROOT / "configs" / "sample.yaml"
PLANTED = json.loads((ROOT / "data" / "sample" / "planted.json").read_text(encoding="utf-8"))


def _qualified(raw_id: str) -> str:
    return f"{raw_id.rsplit('-', 1)[0]}/{raw_id}"


@pytest.fixture(scope="module")
def run(sample_run) -> Path:
    return sample_run   # the session's run of configs/sample.yaml (tests/conftest.py)


@pytest.fixture(scope="module")
def truth(run):
    """Every segment of every shard, read here without explain's code: doc id -> phase -> [segment]."""
    where: dict[str, dict[str, list[dict]]] = {}
    for manifest_path in sorted((run / "phases").glob("*/manifest.json")):
        manifest = json.loads(manifest_path.read_text())
        files = [f"phases/{manifest['phase']}/{s['file']}" for s in manifest["shards"]]
        files += [f"phases/{manifest['phase']}/validation/{s['file']}" for s in manifest["validation"]["shards"]]
        for rel in files:
            rows = read_shard(str(run / rel)).to_pydict()
            for r, (cu, docs, offs) in enumerate(zip(rows["cu_seqlens"], rows["doc_ids"], rows["doc_offsets"],
                                                     strict=True)):
                for k, doc_id in enumerate(docs):
                    where.setdefault(doc_id, {}).setdefault(manifest["phase"], []).append(
                        {"file": rel, "row": r, "segment": k, "start": cu[k], "end": cu[k + 1],
                         "doc_offset": offs[k], "tokens": cu[k + 1] - cu[k]})
    return where


def _segments(result: dict, phase: str) -> list[dict]:
    entry = next(p for p in result["phases"] if p["phase"] == phase)
    keys = ("file", "row", "segment", "start", "end", "doc_offset", "tokens")
    return [{k: s[k] for k in keys} for occ in entry["occurrences"] for s in occ["segments"]]


def _kept_examples(run, truth) -> dict[str, str]:
    """Planted originals that were kept, one per interesting case."""
    curated = curated_table(run)
    kept = [_qualified(o) for o in PLANTED["originals"] if _qualified(o) in curated]
    cut = json.loads((run / "phases" / "pretrain_4k" / "manifest.json").read_text())["buckets"]
    cut_ids = {b["cut"]["at"][1] for b in cut.values() if b["cut"]}
    picks = {
        "spans_rows": next(d for d in kept if len(truth.get(d, {}).get("pretrain_4k", [])) > 1),
        "validation": next(d for d in kept if any("/validation/" in s["file"]
                                                  for s in truth.get(d, {}).get("pretrain_4k", []))),
        "anneal": next(d for d in kept if "anneal_2k" in truth.get(d, {})),
        "unused": next(d for d in kept if d not in truth),
        "cut": next(d for d in kept if d in cut_ids),
        "plain": next(d for d in kept if len(truth.get(d, {}).get("pretrain_4k", [])) == 1),
    }
    return picks


def test_a_kept_document_is_found_in_its_shard_rows(run, truth):
    curated = curated_table(run)
    manifest = json.loads((run / "phases" / "pretrain_4k" / "manifest.json").read_text())
    tok = Tokenizer((run / manifest["tokenizer"]["path"]).read_bytes())
    for case, doc_id in _kept_examples(run, truth).items():
        result = explain(str(run), doc_id)
        row = curated[doc_id]
        assert result["found"] and result["id"] == doc_id and result["fate"] == "kept", case
        [rec] = result["records"]
        assert (rec["where"], rec["decision"], rec["source"], rec["location"], rec["lang"], rec["quality_score"],
                rec["cluster_id"], rec["cluster_size"]) == (
            "curated", "keep", row["source"], row["location"], row["lang"], row["quality_score"],
            row["cluster_id"], row["cluster_size"])
        assert rec["cluster_survivor"] == (row["cluster_size"] > 1)
        assert [p["phase"] for p in result["phases"]] == ["pretrain_4k", "anneal_2k"]
        for phase in ("pretrain_4k", "anneal_2k"):
            expected = truth.get(doc_id, {}).get(phase, [])
            assert _segments(result, phase) == expected, (case, phase)
            entry = next(p for p in result["phases"] if p["phase"] == phase)
            assert entry["used"] == bool(expected)
            assert len(entry["shards_read"]) == 1      # the computed pack bucket: one shard, not the phase
            if expected:
                assert entry["split"] == ("validation" if "/validation/" in expected[0]["file"] else "train")
        full = tok.encode_document(row["text"]).tolist()
        for phase in ("pretrain_4k", "anneal_2k"):
            for seg in _segments(result, phase):   # the row's segment is this document's tokens, decoded
                table = read_shard(str(run / seg["file"])).slice(seg["row"], 1)
                seg_id, _, offset, ids = list(iter_segments(table))[seg["segment"]]
                assert seg_id == doc_id and offset == seg["doc_offset"]
                assert ids == full[offset:offset + len(ids)]
                assert tok.decode([t for t in ids if t not in (tok.bos_id, tok.eos_id)]) in row["text"]
        if case == "cut":
            [occ] = next(p for p in result["phases"] if p["used"])["occurrences"]
            assert not occ["complete"] and occ["tokens"] < len(full)
        elif case != "unused":
            occs = [o for p in result["phases"] for o in p["occurrences"]]
            assert occs and all(o["complete"] and o["tokens"] == len(full) for o in occs)
            ids = [t for s in occs[0]["segments"] for t in full[s["doc_offset"]:s["doc_offset"] + s["tokens"]]]
            assert tok.decode(ids[1:-1]) == row["text"]
        lines = explain_lines(result)
        assert lines[0] == f"{doc_id}: kept"
        for seg in _segments(result, "pretrain_4k"):
            assert any(ln.strip().startswith(f"{seg['file']} row {seg['row']} segment {seg['segment']}:")
                       for ln in lines)


def test_computed_shards_agree_with_a_scan_of_every_shard(run, truth):
    for doc_id in _kept_examples(run, truth).values():
        computed, scanned = explain(str(run), doc_id), explain(str(run), doc_id, scan=True)
        for a, b in zip(computed["phases"], scanned["phases"], strict=True):
            assert (a["phase"], a["used"], a["split"], a["occurrences"]) == (
                b["phase"], b["used"], b["split"], b["occurrences"]), doc_id
            assert len(a["shards_read"]) == 1 and set(a["shards_read"]) <= set(b["shards_read"])


def _duplicate(run, kind: str, stage: str) -> tuple[str, str]:
    """(dropped copy, survivor) of a planted duplicate group whose copy went to rejected/ at `stage`."""
    curated = curated_table(run)
    rejected = {r["id"]: r for r in rejected_rows(run)}
    for original in sorted(set(PLANTED[kind].values())):
        members = [original] + sorted(c for c, o in PLANTED[kind].items() if o == original)
        for m in members:
            row = rejected.get(_qualified(m))
            if row and row["stage"] == stage and row["detail"] in curated:
                return _qualified(m), row["detail"]
    raise AssertionError(f"no {kind} dropped by {stage}")


@pytest.mark.parametrize(("kind", "stage", "reason"), [("exact_dup", "exact_dedup", "duplicate"),
                                                       ("near_dup", "near_dedup", "near_duplicate")])
def test_a_duplicate_names_and_explains_its_survivor(run, truth, kind, stage, reason):
    doc_id, survivor = _duplicate(run, kind, stage)
    groups = {}
    for copy, original in PLANTED[kind].items():
        groups.setdefault(_qualified(original), {_qualified(original)}).add(_qualified(copy))
    assert any({doc_id, survivor} <= members for members in groups.values())   # the planted group
    result = explain(str(run), doc_id)
    assert result["fate"] == f"dropped by {stage}:{reason}"
    [rec] = result["records"]
    assert (rec["where"], rec["stage"], rec["reason"], rec["detail"]) == ("rejected", stage, reason, survivor)
    [step] = result["survivors"]
    assert (step["id"], step["fate"], step["via"]) == (survivor, "kept", f"{stage}:{reason}")
    used = {(p, s["file"], s["row"]) for p, segs in truth.get(survivor, {}).items() for s in segs
            if s["doc_offset"] == 0}
    assert {(u["phase"], u["file"], u["row"]) for u in step["used_by"]} == used
    lines = explain_lines(result)
    assert lines[0] == f"{doc_id}: dropped by {stage}:{reason}"
    assert lines[-1].startswith(f"  survivor {survivor} (of {doc_id}, {stage}:{reason}): kept")


def test_a_rule_dropped_document_gives_its_rule(run):
    rejected = {r["id"]: r for r in rejected_rows(run)}
    junk = [_qualified(i) for i, k in PLANTED["junk"].items() if k in ("spam", "boilerplate")]
    for doc_id in junk[:12]:
        row = rejected[doc_id]
        result = explain(str(run), doc_id)
        [rec] = result["records"]
        assert (rec["stage"], rec["reason"], rec["location"]) == ("rules", row["reason"], row["location"])
        assert result["fate"] == f"dropped by rules:{row['reason']}" and "phases" not in result
        assert "survivors" not in result
        if row.get("scores"):   # newer runs keep the scores of rejects: shown when present
            assert rec["scores"] == dict(row["scores"])


def test_read_dead_letters_give_their_location(run):
    for entry in PLANTED["broken"]:
        source = entry["file"].split(".")[0]
        location = f"{entry['file']}:{entry['line']}"
        doc_id = _qualified(entry["id"]) if "id" in entry and entry["kind"] != "bad_type:id" else f"{source}/{location}"
        result = explain(str(run), doc_id)
        assert result["found"], entry
        [rec] = result["records"]
        assert (rec["where"], rec["stage"], rec["reason"], rec["location"]) == ("rejected", "read", entry["kind"],
                                                                              location)
        assert result["fate"] == f"dead letter (read:{entry['kind']})"


def test_a_raw_id_without_its_source_prefix(run, truth):
    doc_id = _kept_examples(run, truth)["plain"]
    raw = doc_id.split("/", 1)[1]
    by_raw, by_id = explain(str(run), raw), explain(str(run), doc_id)
    assert by_raw["id"] == doc_id and {**by_raw, "query": doc_id} == by_id
    assert explain_lines(by_raw)[0] == f"{doc_id}: kept (given as {raw})"


def test_an_unknown_id_is_not_found_with_suggestions(run, capsys):
    result = explain(str(run), "no-such-document")
    assert result == {"query": "no-such-document", "id": None, "run": str(run), "mode": "filter", "found": False,
                      "records": [], "suggestions": []}
    every = set(curated_table(run)) | {r["id"] for r in rejected_rows(run)}
    result = explain(str(run), "00074")
    assert result["suggestions"] == sorted(i for i in every if i.endswith("00074"))[:10]
    assert len(result["suggestions"]) > 1 and not result["found"]
    assert main(["explain", "00074", str(run)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [f"00074: not found in {run} (curated/ and rejected/)",
                   "  ids ending with 00074: " + ", ".join(result["suggestions"])]


def test_cli_explain_json_and_errors(run, truth, tmp_path, capsys):
    doc_id = _kept_examples(run, truth)["plain"]
    assert main(["explain", doc_id, str(run), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(explain(str(run), doc_id)))
    assert main(["explain", doc_id, str(run)]) == 0
    assert capsys.readouterr().out.splitlines() == explain_lines(explain(str(run), doc_id))
    for path, message in ((tmp_path / "missing", "explain: run directory not found"),
                          (tmp_path, "is not a run output")):
        assert main(["explain", doc_id, str(path)]) == 2
        err = capsys.readouterr().err.splitlines()
        assert len(err) == 1 and err[0].startswith("curate: error: explain: ") and message in err[0], err


def test_annotate_mode_duplicates_in_curated_follow_their_survivor(run, truth, tmp_path):
    """curated/ of an annotate run holds dropped documents with their decision; built here from the run's
    rows (one part) rather than by a second run."""
    doc_id, survivor = _duplicate(run, "exact_dup", "exact_dedup")
    curated = curated_table(run)
    dup = {**curated[survivor], "id": doc_id, "decision": "exact_dedup:duplicate", "location": "x.jsonl:1",
           "meta": [("duplicate_of", survivor)]}
    out = tmp_path / "annotate"
    (out / "curated").mkdir(parents=True)
    rows = sorted([curated[survivor], dup], key=lambda r: r["id"])
    pq.write_table(pa.Table.from_pylist(rows, schema=CURATED_SCHEMA), out / "curated" / "part-00000-of-00001.parquet")
    shutil.copytree(run / "phases", out / "phases")
    config = json.loads((run / "run_manifest.json").read_text())["config"]
    config["run"].update(mode="annotate", parts=1)
    (out / "run_manifest.json").write_text(json.dumps({"config": config}))
    result = explain(str(out), doc_id)
    assert result["mode"] == "annotate" and result["fate"] == "dropped by exact_dedup:duplicate"
    [rec] = result["records"]
    assert (rec["where"], rec["stage"], rec["reason"], rec["detail"]) == ("curated", "exact_dedup", "duplicate",
                                                                         survivor)
    assert "phases" not in result   # a dropped document is never mixed
    [step] = result["survivors"]
    assert step["id"] == survivor and step["fate"] == "kept"
    assert step["used_by"] == explain(str(run), doc_id)["survivors"][0]["used_by"]


def test_explain_and_inspect_read_an_object_store_run(run, truth, monkeypatch):
    from tests import fake_object_store

    monkeypatch.setenv(fake_object_store.ROOT_ENV, str(run.parent))
    uri = f"{fake_object_store.SCHEME}://{run.name}"
    for doc_id in (_kept_examples(run, truth)["plain"], _duplicate(run, "near_dup", "near_dedup")[0]):
        assert {**explain(uri, doc_id), "run": None} == {**explain(str(run), doc_id), "run": None}
    assert inspect(f"{uri}/rejected", row=2)[1:] == inspect(str(run / "rejected"), row=2)[1:]


# ---------------------------------------------------------------- inspect

def test_inspect_curated_and_rejected_counts_match_the_report(run):
    report = json.loads((run / "report" / "report.json").read_text())
    curated = summarize_parquet(sorted(str(p) for p in (run / "curated").glob("part-*.parquet")))
    rejected = summarize_parquet(sorted(str(p) for p in (run / "rejected").glob("part-*.parquet")))
    sources = report["sources"]
    assert curated["rows"] == report["totals"]["kept"] == sum(s["curated_rows"] for s in sources.values())
    assert curated["by_source"] == {s: e["curated_rows"] for s, e in sources.items() if e["curated_rows"]}
    assert curated["by_decision"] == {"keep": report["totals"]["kept"]}
    assert curated["kept_chars"] == curated["chars"] == sum(e["kept_chars"] for e in sources.values())
    table = pq.read_table(str(run / "curated"), columns=["lang"])
    assert curated["by_lang"] == dict(Counter(table.column("lang").to_pylist()))
    assert rejected["rows"] == sum(e["rejected_rows"] for e in sources.values())
    assert rejected["by_source"] == {s: e["rejected_rows"] for s, e in sources.items() if e["rejected_rows"]}
    by_reason: Counter[str] = Counter()
    for e in sources.values():
        by_reason.update(e["dropped"])
    assert rejected["by_stage_reason"] == dict(by_reason)
    assert sum(v for k, v in by_reason.items() if k.startswith("read:")) == report["totals"]["dead_letters"]
    assert [n for n, _ in curated["schema"]] == CURATED_SCHEMA.names


def test_inspect_lines_for_a_run_a_directory_a_part_and_rows(run, capsys):
    report = json.loads((run / "report" / "report.json").read_text())
    assert main(["inspect", str(run)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{run}/curated: curated, 2 parts (part-00000-of-00002.parquet ...), "
                             f"{report['totals']['kept']} rows")
    assert out[1].startswith("  schema: id: string, source: string, text: string, lang: string")
    assert f"  by decision: keep {report['totals']['kept']}" in out
    rejected_head = [ln for ln in out if ln.startswith(f"{run}/rejected: rejected, 2 parts")]
    assert len(rejected_head) == 1
    phases = [ln.split(":")[0] for ln in out if ln.startswith("phase ")]
    assert phases == ["phase pretrain_4k", "phase anneal_2k"]       # the config's order, in brief
    assert not any(" row 0 of shard-" in ln for ln in out)

    curated = pq.read_table(str(run / "curated" / "part-00001-of-00002.parquet")).to_pylist()
    assert main(["inspect", str(run / "curated" / "part-00001-of-00002.parquet"), "--row", "5"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith(f"curated, 1 part (part-00001-of-00002.parquet), {len(curated)} rows")
    doc = curated[5]
    i = out.index(f"  row 5: {doc['id']} (part-00001-of-00002.parquet row 5)")
    assert out[i + 1] == (f"    source {doc['source']}, lang {doc['lang']}, quality_score {doc['quality_score']}, "
                          f"cluster {doc['cluster_id']} (size {doc['cluster_size']}), decision keep")
    assert out[i + 2] == "    " + json.dumps(doc["text"][:300], ensure_ascii=False)

    rejected = pq.read_table([str(p) for p in sorted((run / "rejected").glob("part-*.parquet"))]).to_pylist()
    first_part = pq.read_metadata(str(run / "rejected" / "part-00000-of-00002.parquet")).num_rows
    assert main(["inspect", str(run / "rejected"), "--row", str(first_part + 1), "--sample", "3"]) == 0
    out = capsys.readouterr().out
    doc = rejected[first_part + 1]
    assert f"  row {first_part + 1}: {doc['id']} (part-00001-of-00002.parquet row 1)" in out
    assert f"{doc['stage']}:{doc['reason']}, location {doc['location']}" in out
    samples = [ln for ln in out.splitlines() if ln.startswith("  sample ")]
    assert [ln.split(":")[0] for ln in samples] == ["  sample 1/3", "  sample 2/3", "  sample 3/3"]
    assert main(["inspect", str(run / "rejected"), "--sample", "3"]) == 0
    assert [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("  sample ")] == samples  # seeded

    assert main(["inspect", str(run / "curated"), "--row", "100000"]) == 2
    assert capsys.readouterr().err.startswith("curate: error: inspect: no row 100000")
    assert main(["inspect", str(run / "phases" / "pretrain_4k")]) == 0   # a phase: as before, a decoded row
    assert " row 0 of shard-00000-of-00002.arrow: " in capsys.readouterr().out


def test_duplicate_ids_chains_of_survivors_and_rejected_rows_without_the_newer_columns(tmp_path):
    """A synthetic run (one part, no phase): a read:duplicate_id dead letter shares the id of the record
    kept; A -> B -> C is followed to C; a cycle stops; rejected/ has only the original seven columns."""
    out = tmp_path / "synthetic"
    (out / "curated").mkdir(parents=True)
    (out / "rejected").mkdir()
    curated = [{"id": "s/c", "source": "s", "text": "kept text", "location": "f.jsonl:3", "decision": "keep",
                "cluster_size": 2, "cluster_id": "k1"},
                {"id": "s/x", "source": "s", "text": "first x", "location": "f.jsonl:1", "decision": "keep",
                 "cluster_size": 1}]
    old_schema = pa.schema([(n, pa.string()) for n in ("id", "source", "stage", "reason", "location", "text",
                                                       "detail")])
    rejected = [{"id": "s/a", "source": "s", "stage": "exact_dedup", "reason": "duplicate", "location": "f.jsonl:4",
                 "detail": "s/b"},
                {"id": "s/b", "source": "s", "stage": "near_dedup", "reason": "near_duplicate",
                 "location": "f.jsonl:5", "detail": "s/c"},
                {"id": "s/d", "source": "s", "stage": "urls", "reason": "duplicate_url", "location": "f.jsonl:6",
                 "detail": "s/e"},
                {"id": "s/e", "source": "s", "stage": "urls", "reason": "duplicate_url", "location": "f.jsonl:7",
                 "detail": "s/d"},
                {"id": "s/x", "source": "s", "stage": "read", "reason": "duplicate_id", "location": "f.jsonl:9",
                 "detail": "f.jsonl:1"}]
    part = "part-00000-of-00001.parquet"
    pq.write_table(pa.Table.from_pylist(curated, schema=CURATED_SCHEMA), out / "curated" / part)
    pq.write_table(pa.Table.from_pylist(rejected, schema=old_schema), out / "rejected" / part)
    (out / "run_manifest.json").write_text(json.dumps({"config": {"run": {"seed": 1, "parts": 1, "mode": "filter"}}}))

    result = explain(str(out), "s/a")
    assert [(s["id"], s["via"], s["fate"]) for s in result["survivors"]] == [
        ("s/b", "exact_dedup:duplicate", "dropped"), ("s/c", "near_dedup:near_duplicate", "kept")]
    assert result["survivors"][1]["used_by"] == []   # no finished phase
    lines = explain_lines(result)
    assert lines[-2] == ("  survivor s/b (of s/a, exact_dedup:duplicate): dropped (near_dedup:near_duplicate), "
                         "location f.jsonl:5, detail s/c")
    assert lines[-1] == ("  survivor s/c (of s/b, near_dedup:near_duplicate): kept, location f.jsonl:3; "
                         "not used by any phase")
    cycle = explain(str(out), "s/d")["survivors"]
    assert [s["id"] for s in cycle] == ["s/e", "s/d"] and cycle[-1].get("cycle")

    result = explain(str(out), "x")   # the raw id: one id ends with /x
    assert result["id"] == "s/x" and result["fate"] == "kept"
    assert [(r["where"], r["decision"], r["location"]) for r in result["records"]] == [
        ("curated", "keep", "f.jsonl:1"), ("rejected", "read:duplicate_id", "f.jsonl:9")]
    assert [(s["id"], s["via"], s["fate"], s["location"]) for s in result["survivors"]] == [
        ("s/x", "read:duplicate_id", "kept", "f.jsonl:1")]
    assert result["phases"] == []
    assert "  no finished phase in this run (phases/<phase>/manifest.json)" in explain_lines(result)
    assert explain(str(out), "s/c")["records"][0]["cluster_survivor"] is True
