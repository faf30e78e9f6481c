"""The efficiency benchmark's bare replay (benchmarks/efficiency.py) rebuilds the text a rejected document had
when it entered its stage, for the rows whose text a run did not keep (`run.rejected_text_fraction`): it must be
the text the pipeline itself had there. The sample run keeps every rejected text, so the two can be compared."""

from __future__ import annotations

import gzip
import importlib.util
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq

from pipeline.config import load_config
from transforms.read import parse_record

ROOT = Path(__file__).resolve().parents[1]


def _efficiency(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))   # the script imports its sibling _common
    spec = importlib.util.spec_from_file_location("efficiency", ROOT / "benchmarks" / "efficiency.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rebuilt_entering_text_is_the_text_the_pipeline_rejected(sample_run, monkeypatch):
    eff = _efficiency(monkeypatch)
    cfg = load_config(ROOT / "configs" / "sample.yaml")
    raw_text = {}
    for src, path in eff.input_files(cfg):
        if path.suffix not in (".gz", ".jsonl"):
            continue
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as fh:
            for n, line in enumerate(fh.read().splitlines(), 1):
                item = parse_record(line, src, path.name, n) if line.strip() else None
                if getattr(item, "raw", True) is None and hasattr(item, "lang_shares"):   # a Document read as text
                    raw_text.setdefault(item.id, item.text)
    rows = [r for part in sorted((sample_run / "rejected").glob("part-*.parquet"))
            for r in pq.read_table(part).to_pylist()]
    compared = Counter()
    for r in rows:
        if r["stage"] in eff.REBUILT_STAGES and r["id"] in raw_text and r["text"] is not None:
            assert eff.entering_text(raw_text[r["id"]], r, cfg) == r["text"], (r["id"], r["stage"])
            compared[r["stage"]] += 1
    # the sample drops nothing at safety; near-dedup's entering text goes through the same rules rewrite
    assert {"exact_dedup", "langid", "rules", "near_dedup"} <= set(compared), compared


def test_rebuilt_text_is_redacted_from_safety_on(monkeypatch):
    eff = _efficiency(monkeypatch)
    cfg = load_config(ROOT / "configs" / "sample.yaml")
    raw = "Write to jane.roe@example.com about the garden plans for this spring.\n" * 3
    row = {"lang": "en", "source": "web_en"}
    assert "jane.roe@example.com" in eff.entering_text(raw, {**row, "stage": "rules"}, cfg)
    assert "jane.roe@example.com" in eff.entering_text(raw, {**row, "stage": "safety"}, cfg)
    near = eff.entering_text(raw, {**row, "stage": "near_dedup"}, cfg)
    assert "jane.roe@example.com" not in near and "garden plans" in near


def test_bare_replay_times_every_stage_and_plans_the_mix_the_run_planned(sample_run, monkeypatch):
    import json

    import numpy as np

    from tokenizer.wrapper import Tokenizer
    from transforms.mix import MixSpec, plan_mix
    from transforms.tokenize import TokenizedDoc

    eff = _efficiency(monkeypatch)
    config = ROOT / "configs" / "sample.yaml"
    times = eff.bare_times(ROOT, config, sample_run)
    assert set(times) >= {"read", "normalize", "langid", "rules", "near_dedup", "write_parquet", "tokenize", "mix",
                          "pack", "write_shards"}
    assert set(eff.STEPS.values()) - {"extract"} >= set(times) - {"decontam"}   # each replay has its pipeline step
    # the replay's plan (plan_mix over the kept documents' keys) is the one the run's MixPhases wrote
    cfg = load_config(config)
    tok = Tokenizer((sample_run / "tokenizer" / "tokenizer.model").read_bytes())
    kept = [r for part in sorted((sample_run / "curated").glob("part-*.parquet"))
            for r in pq.read_table(part).to_pylist() if r["decision"] == "keep"]
    spec = MixSpec(cfg.phases, cfg.mix)
    bases = [spec.base_key(TokenizedDoc(r["id"], r["source"], r["lang"], np.asarray(tok.encode_document(r["text"])),
                                        quality_score=r["quality_score"], cluster_size=r["cluster_size"] or 1))
             for r in kept]
    plan, _ = plan_mix(bases, cfg.phases, cfg.mix)
    run_plan = json.loads((sample_run / "phases" / "plan.json").read_text())
    assert json.loads(json.dumps(plan, default=list)) == run_plan
