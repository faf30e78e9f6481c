"""`curate plan` (pipeline/plan.py): the estimate is arithmetic on the config, the assumptions and the
measured throughputs, so each figure is checked against the same arithmetic done here."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from pipeline.cli import main
from pipeline.config import load_config
from pipeline.plan import DEFAULT_SURVIVAL, Assumptions, load_throughput, plan
from tests.conftest import ROOT

INTERNLM = ROOT / "configs" / "internlm-1.6t.yaml"


def test_plan_is_arithmetic_on_its_inputs():
    cfg = load_config(INTERNLM)
    tp = load_throughput()
    a = Assumptions(html_share=0.9)
    p = plan(cfg, 400 * 10**12, 500, a, tp)
    text = 400e12 * 0.1 + 400e12 * 0.9 * a.text_per_html_byte
    assert p["text_bytes"] == pytest.approx(text)
    stages = {r["stage"]: r for r in p["stages"]}
    survival = dict(DEFAULT_SURVIVAL, quality=cfg.quality.top_fraction)
    kept = text * math.prod(survival[s] for s in ("read", "urls", "extract", "exact_dedup", "langid", "rules",
                                                  "safety", "quality", "near_dedup", "decontam"))
    assert p["kept_text_bytes"] == pytest.approx(kept)
    rules_in = stages["rules"]["bytes_in"]
    assert stages["rules"]["core_hours"] == pytest.approx(rules_in / 1e6 / tp["bare_mb_per_s"]["rules"]
                                                          / tp["efficiency"] / 3600)
    assert stages["read"]["core_hours"] == pytest.approx(2 * text / 1e6 / tp["bare_mb_per_s"]["read"]   # read twice
                                                         / tp["efficiency"] / 3600)
    pages = 400e12 * 0.9 / a.page_bytes
    assert stages["extract"]["core_hours"] == pytest.approx(pages / tp["extract_pages_per_s"] / tp["efficiency"] / 3600)
    assert p["minhash_shuffle_bytes"] == pytest.approx(stages["near_dedup"]["docs_in"] * 17 * a.band_key_bytes)
    later = (stages["exact_dedup"]["bytes_in"] + stages["near_dedup"]["bytes_in"]) * a.shuffle_text_ratio
    assert p["document_shuffle_bytes"] == pytest.approx(later)   # no raw HTML: ids and URLs on keys
    keys = (stages["read"]["docs_in"] * (a.id_key_bytes + a.verdict_bytes)     # groups by id and by range
            + stages["urls"]["docs_in"] * a.url_key_bytes)                     # group by URL
    assert p["key_shuffle_bytes"] == pytest.approx(keys)
    assert p["wall_hours"] == pytest.approx(p["core_hours"] / (500 * a.worker_cores))
    # the launcher's work does not scale with the workers: the tokenizer's pick from the rows the curation
    # job kept for it (each budget with 8 standard deviations of margin, 3 bytes a character) and its
    # training; the report's reads of the parts' summaries (3 passes x 2 kinds x parts x 4 requests of
    # 50 ms, 16 at a time)
    from tokenizer.train import key_share

    rates, train = tp["launcher"], cfg.tokenizer.train
    cells = len(cfg.sources) * (len(cfg.langid.keep) + 1)     # + und
    held = kept * train.heldout_fraction / cells
    held_chars = key_share(train.fertility_chars, int(held), int(held * a.doc_bytes)) * held
    sample_chars = key_share(train.sample_chars, int(kept * 0.95), int(kept * 0.95 * a.doc_bytes)) * kept * 0.95
    assert 1.8 < held_chars / train.fertility_chars < 1.9 and 1.02 < sample_chars / train.sample_chars < 1.04
    heldout_mb = cells * held_chars * 3 / 1e6
    pick_h = (sample_chars * 3 / 1e6 + heldout_mb) / rates["tokenizer_pick_mb_per_s"] / 3600
    train_h = train.sample_chars / rates["tokenizer_train_chars_per_s"] / 3600
    report_h = 3 * 2 * cfg.run.parts * 4 * 0.05 / 16 / 3600
    assert [s["hours"] for s in p["launcher"]] == pytest.approx([pick_h, train_h, report_h])
    assert p["launcher_hours"] == pytest.approx(pick_h + train_h + report_h)
    assert p["launcher_hours"] < 0.2 and cfg.run.parts == 4096
    assert p["run_wall_hours"] == pytest.approx(p["wall_hours"] + p["launcher_hours"])
    pinned = plan(dataclasses.replace(cfg, tokenizer=dataclasses.replace(cfg.tokenizer, model="t.model")),
                  400 * 10**12, 500, a, tp)
    assert [s["step"] for s in pinned["launcher"]] == ["tokenizer held-out documents (the curation job's rows)",
                                                       "report (the parts' summaries)"]
    assert pinned["launcher"][0]["hours"] == pytest.approx(heldout_mb / rates["tokenizer_pick_mb_per_s"] / 3600)
    assert pinned["launcher_hours"] == pytest.approx(pinned["launcher"][0]["hours"] + report_h)
    every = plan(dataclasses.replace(cfg, langid=dataclasses.replace(cfg.langid, keep=None)), 400 * 10**12, 500, a, tp)
    assert every["launcher"][0]["hours"] > p["launcher"][0]["hours"]   # `keep: all`: 20 languages per source
    assert p["tokens_in_phases"] == 1_600_000_000_000
    assert p["shard_bytes"] == pytest.approx(1.6e12 * 4 * 1.02)


def test_without_url_dedup_no_url_group_is_planned():
    cfg = load_config(INTERNLM)
    a = Assumptions(html_share=0.9)
    on, off = (plan(c, 400 * 10**12, 500, a) for c in (cfg, dataclasses.replace(
        cfg, urls=dataclasses.replace(cfg.urls, dedup=False))))
    urls_in = next(r["docs_in"] for r in on["stages"] if r["stage"] == "urls")
    assert on["key_shuffle_bytes"] - off["key_shuffle_bytes"] == pytest.approx(urls_in * a.url_key_bytes)


def test_stages_the_config_turns_off_are_not_planned():
    cfg = load_config(ROOT / "configs" / "shared-corpus.yaml")
    names = [r["stage"] for r in plan(cfg, 10**12, 10, Assumptions())["stages"]]
    assert "extract" not in names and "quality" not in names and "decontam" not in names
    assert "near_dedup" in names and "rules" in names


def test_cli_prints_the_plan_and_rejects_a_bad_size(capsys):
    assert main(["plan", "--config", str(INTERNLM), "--input-bytes", "400T", "--workers", "500"]) == 0
    out = capsys.readouterr().out
    assert "core-hours" in out and "MinHash shuffle" in out and "on 500 workers x 4 cores" in out
    assert "launcher, one process between and after the jobs" in out and "run wall: " in out
    assert main(["plan", "--config", str(INTERNLM), "--input-bytes", "1.5P", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["input_bytes"] == 1_500_000_000_000_000
    assert main(["plan", "--config", str(INTERNLM), "--input-bytes", "lots"]) == 2
    assert "--input-bytes: not a size" in capsys.readouterr().err
