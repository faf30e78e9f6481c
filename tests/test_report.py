"""The run report (pipeline/report.py, report_stats.py, report_html.py): its numbers reconcile with
curated/, rejected/ and the phase manifests; every section and plot is on the page; `curate report`
rebuilds it; and the page renders in a real browser (headless Chromium) without console errors."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.report_html import SECTIONS
from tests.conftest import ROOT
from tests.output_checks import curated_table, rejected_rows

CONFIG = ROOT / "configs" / "sample.yaml"
PLOTS = {"funnel", "funnel_by_source", "funnel_by_lang", "drops", "histograms", "rule_measurements", "dedup",
         "phase:pretrain_4k", "phase:anneal_2k", "fertility", "timings"}
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def run(sample_run) -> Path:
    return sample_run   # the session's run of configs/sample.yaml (tests/conftest.py)


@pytest.fixture(scope="module")
def report(run) -> dict:
    return json.loads((run / "report" / "report.json").read_text())


def test_funnel_reconciles_with_curated_and_rejected_rows(run, report):
    curated, rejected = curated_table(run), rejected_rows(run)
    funnel = report["funnel"]
    assert funnel["overall"][0]["docs"] == report["totals"]["read"] == len(curated) + len(rejected)
    assert funnel["overall"][-1]["docs"] == len(curated) == report["totals"]["kept"]
    assert funnel["overall"][-1]["chars"] == sum(len(r["text"]) for r in curated.values())
    drops = Counter(r["stage"] for r in rejected)
    stages = [s.removeprefix("after ") for s in funnel["steps"][1:]]
    assert set(stages) == set(drops)
    for i, stage in enumerate(stages):   # each step removes exactly that stage's rejected rows
        assert funnel["overall"][i]["docs"] - funnel["overall"][i + 1]["docs"] == drops[stage], stage
    for source, rows in funnel["by_source"].items():
        assert rows[0]["docs"] == report["sources"][source]["read"]
        assert rows[-1]["docs"] == report["sources"][source]["kept"]
    kept_by_lang = Counter(r["lang"] for r in curated.values())
    assert {lang: rows[-1]["docs"] for lang, rows in funnel["by_lang"].items() if rows[-1]["docs"]} == kept_by_lang
    tokens = json.loads((run / "report" / "curated_tokens.json").read_text())
    assert funnel["overall"][-1]["tokens"] == sum(e["tokens"] for e in tokens)   # exact for kept documents


def test_histograms_count_every_measured_document(run, report):
    curated, rejected = curated_table(run), rejected_rows(run)
    hists = report["histograms"]
    assert sum(hists["chars"]["series"]["kept"]) == len(curated)
    assert sum(hists["chars"]["series"]["dropped by any stage"]) == sum(1 for r in rejected if r["stage"] != "read")
    assert sum(hists["lang_score"]["series"]["dropped by langid"]) == sum(1 for r in rejected if r["stage"] == "langid")
    assert sum(hists["quality_score"]["series"]["kept"]) == sum(
        1 for r in curated.values() if r["quality_score"] is not None)
    assert sum(hists["cluster_size"]["series"]["kept"]) == len(curated)
    rules = sum(1 for r in rejected if r["stage"] == "rules")
    assert sum(hists["rules.n_words"]["series"]["dropped by rules"]) == rules == 70
    for hist in hists.values():
        assert all(len(c) == len(hist["edges"]) - 1 for c in hist["series"].values())


def test_phases_match_their_manifests(run, report):
    for name, phase in report["phases"].items():
        manifest = json.loads((run / "phases" / name / "manifest.json").read_text())
        assert phase["tokens"] == manifest["tokens"]
        assert {b: v["realized"] for b, v in phase["buckets"].items()} == manifest["tokens_by_source"]["realized"]
        assert {b: v["target"] for b, v in phase["buckets"].items()} == manifest["tokens_by_source"]["target"]
        files = [s["file"] for s in phase["shards"]]
        assert files == [f"phases/{name}/{s['file']}" for s in manifest["shards"]] + [
            f"phases/{name}/validation/{s['file']}" for s in manifest["validation"]["shards"]]
        assert all(s["bytes"] == (run / s["file"]).stat().st_size for s in phase["shards"])
        assert all(v["epochs"] == 1 for v in phase["buckets"].values())


def test_report_holds_config_s_curve_audit_and_fertility(report):
    assert report["config"]["run"]["name"] == "sample" and len(report["config_hash"]) == 16
    nd = report["near_dedup"]
    assert (nd["bands"], nd["rows"], nd["candidate_probability"]["0.7"]) == (16, 8, 0.6133)
    assert nd["audit"] and all(c["sampled_members"] for c in nd["audit"])
    assert set(report["tokenizer"]["fertility"]["by_lang"]) == {"en", "zh", "code"}


def test_page_has_every_section_and_plot_and_no_external_resource(run):
    page = (run / "report" / "report.html").read_text()
    for key, _ in SECTIONS:
        assert f'<section id="{key}">' in page, key
    assert set(re.findall(r'data-plot="([^"]+)"', page)) == PLOTS
    assert page.count("<svg") == len(PLOTS)
    assert not re.search(r'(src|href)="(https?:)?//', page) and "<script" not in page


def test_curate_report_rebuilds_the_same_report(run, tmp_path, capsys):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    (copy / "report" / "report.json").unlink()
    (copy / "report" / "report.html").unlink()
    assert main(["report", str(copy)]) == 0
    assert "(reconciled)" in capsys.readouterr().out
    assert (copy / "report" / "report.json").read_bytes() == (run / "report" / "report.json").read_bytes()
    assert (copy / "report" / "report.html").read_bytes() == (run / "report" / "report.html").read_bytes()
    assert main(["report", str(tmp_path / "nothing")]) == 2


def test_report_from_part_summaries_equals_the_report_from_the_parts(run, tmp_path, capsys):
    """The curation job writes each part's counts beside it (report/stats/); without them, or with one that
    does not match its part's rows, the report reads the parts and comes out the same."""
    from pipeline.report_stats import part_summaries

    stats = sorted(p.name for p in (run / "report" / "stats").iterdir())
    assert stats == [f"{kind}-part-0000{k}-of-00002.json" for kind in ("curated", "rejected") for k in range(2)]
    from_job = [s for kind in ("curated", "rejected") for s in part_summaries(str(run), kind, 2, cleaned=True)]
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    shutil.rmtree(copy / "report" / "stats")
    from_parts = [s for kind in ("curated", "rejected") for s in part_summaries(str(copy), kind, 2, cleaned=True)]
    assert from_parts == from_job
    assert sum(s["rows"] for s in from_job[:2]) == len(curated_table(run))
    assert sum(s["rows"] for s in from_job[2:]) == len(rejected_rows(run))
    (copy / "report" / "report.json").unlink()
    assert main(["report", str(copy)]) == 0
    assert (copy / "report" / "report.json").read_bytes() == (run / "report" / "report.json").read_bytes()
    # a summary whose row count is not its part's is ignored
    shutil.copytree(run / "report" / "stats", copy / "report" / "stats")
    stale = copy / "report" / "stats" / "curated-part-00000-of-00002.json"
    wrong = json.loads(stale.read_text())
    wrong["rows"] += 1
    wrong["counts"][0][2] += 1
    stale.write_text(json.dumps(wrong))
    assert list(part_summaries(str(copy), "curated", 2, cleaned=True)) == from_job[:2]
    capsys.readouterr()


def _render(url: str) -> tuple[list, list]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run", "--disable-sync"])
        try:
            page = browser.new_page()
            messages: list = []
            page.on("console", lambda m: messages.append((m.type, m.text)))
            page.on("pageerror", lambda e: messages.append(("pageerror", str(e))))
            page.goto(url, wait_until="load")
            plots = page.eval_on_selector_all(
                "figure.plot", "els => els.map(e => { const s = e.querySelector('svg'); const r = s ? "
                "s.getBoundingClientRect() : {width: 0, height: 0}; return [e.dataset.plot, "
                "e.closest('section').id, r.width, r.height]; })")
        finally:
            browser.close()
    return plots, messages


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium not installed (Debian package `chromium`; .ci/run installs it)")
def test_report_renders_in_headless_chromium_with_every_plot_and_no_console_errors(run, tmp_path):
    pytest.importorskip("playwright", reason="playwright not installed: pip install -e '.[test]'")
    plots, messages = _render((run / "report" / "report.html").as_uri())
    assert messages == []
    assert {p[0] for p in plots} == PLOTS
    assert all(width > 300 and height > 100 for _, _, width, height in plots), plots
    assert {p[1] for p in plots} == {"funnel", "drops", "histograms", "dedup", "phases", "tokenizer", "timings"}
    # the check can fail: a page with a console error and a missing resource is caught
    broken = tmp_path / "broken.html"
    broken.write_text("<!doctype html><img src='missing.png'><script>console.error('boom')</script>")
    _, messages = _render(broken.as_uri())
    assert ("error", "boom") in messages and len(messages) >= 2


def test_step_times_name_each_stage_including_the_url_filter_inside_the_read(run):
    """timings.json's Beam steps are the graph's stage labels; FilterUrls, applied inside the read, is its own."""
    from pipeline.run import step_name

    assert step_name("Read/FilterUrls/GroupByUrl/Read") == "FilterUrls"
    assert step_name("Read/ReadAgain/ParDo(_EmitRangeFn)") == "Read"
    assert step_name("Read/FilterUrlsX") == "Read"
    steps = json.loads((run / "report" / "timings.json").read_text())["beam_steps"]
    assert {"curation/Read", "curation/FilterUrls", "curation/FilterRules", "mixing/Tokenize"} <= set(steps)
    assert all(s.count("/") == 1 for s in steps)
