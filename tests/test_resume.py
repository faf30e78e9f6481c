"""Resume (pipeline/resume.py): completion markers per stage boundary, skipped stages, `--force`, and a
run killed with SIGKILL while writing shards, then rerun."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.resume import Resume, Stage, fingerprint_files, stage_key
from tests.conftest import ROOT

CONFIG = ROOT / "configs" / "sample.yaml"
ALL_STAGES = ["quality_model", "curation", "tokenizer", "phase-pretrain_4k", "phase-anneal_2k"]


NOT_DETERMINISTIC = ("stages/", "report/timings.json", "report/report.html")  # fingerprints, wall times


def _outputs(out: Path) -> dict[str, bytes]:
    """Every output file except the markers (they hold this machine's input fingerprints) and the
    timings (and the page that shows them)."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and not str(p.relative_to(out)).startswith(NOT_DETERMINISTIC)}


def _config(tmp_path: Path, old: str = "", new: str = "") -> Path:
    text = CONFIG.read_text().replace('"../data/sample/', f'"{ROOT}/data/sample/')
    assert old in text
    path = tmp_path / "sample.yaml"
    path.write_text(text.replace(old, new))
    return path


def _run(out: Path, config: Path, *extra: str) -> None:
    assert main(["run", "--config", str(config), "--output", str(out), *extra]) == 0


@pytest.fixture(scope="module")
def complete(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("resume")
    _run(base / "out", _config(base))
    return base / "out"


def _stage_lines(captured: str) -> str:
    return next(ln for ln in captured.splitlines() if ln.startswith("skipped"))


def test_every_stage_boundary_has_a_marker(complete):
    assert sorted(p.stem for p in (complete / "stages").glob("*.json")) == sorted(ALL_STAGES)
    curation = json.loads((complete / "stages" / "curation.json").read_text())
    assert "curated/part-00000-of-00002.parquet" in curation["outputs"]
    assert "counts/records_read.json" in curation["outputs"]
    phase = json.loads((complete / "stages" / "phase-pretrain_4k.json").read_text())
    assert "phases/pretrain_4k/shard-00001-of-00002.arrow" in phase["outputs"]


def test_second_run_skips_every_stage_and_says_so(complete, tmp_path, capsys):
    out = tmp_path / "out"
    shutil.copytree(complete, out)
    before = _outputs(out)
    capsys.readouterr()
    _run(out, _config(tmp_path))
    line = _stage_lines(capsys.readouterr().out)
    assert line.endswith(", ".join(ALL_STAGES) + "; nothing to do (--force redoes every stage)")
    assert _outputs(out) == before


def test_force_redoes_every_stage_with_the_same_bytes(complete, tmp_path, capsys):
    out = tmp_path / "out"
    shutil.copytree(complete, out)
    for marker in (out / "stages").glob("*.json"):
        marker.write_text(marker.read_text())   # rewritten: a forced run must replace them
    capsys.readouterr()
    _run(out, _config(tmp_path), "--force")
    assert not [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("skipped")]
    assert _outputs(out) == _outputs(complete)


def test_changing_a_phase_weight_redoes_only_that_phase(complete, tmp_path, capsys):
    config = _config(tmp_path, "books: 0.45, web_en: 0.2}", "books: 0.4, web_en: 0.25}")  # anneal_2k
    out = tmp_path / "out"
    shutil.copytree(complete, out)
    capsys.readouterr()
    _run(out, config)
    assert _stage_lines(capsys.readouterr().out).endswith(
        "quality_model, curation, tokenizer, phase-pretrain_4k")
    resumed, before = _outputs(out), _outputs(complete)
    for name, data in resumed.items():
        if name.startswith(("curated/", "rejected/", "counts/", "tokenizer/", "phases/pretrain_4k/")):
            assert data == before[name], name
    assert resumed["phases/anneal_2k/manifest.json"] != before["phases/anneal_2k/manifest.json"]
    fresh = tmp_path / "fresh"
    _run(fresh, config)
    assert _outputs(fresh) == resumed


def test_changing_the_tokenizer_sample_redraws_it_from_curated_as_a_fresh_run_picks_it(complete, tmp_path, capsys,
                                                                                      caplog):
    """The curation job picked the sample rows for the old `tokenizer.train`; with it skipped, the tokenizer
    step draws from curated/ (pipeline/tokenizer_step.py `job_sample` falls back), and gets what a fresh run
    with the new config picks in its curation job."""
    config = _config(tmp_path, "train: {vocab_size: 4000, model_type: bpe}",
                     "train: {vocab_size: 4000, model_type: bpe, temperature: 3.0, heldout_fraction: 0.1}")
    out = tmp_path / "out"
    shutil.copytree(complete, out)
    capsys.readouterr()
    with caplog.at_level("INFO", logger="pipeline.tokenizer_step"):
        _run(out, config)
    assert "picked for another tokenizer.train sampling config" in caplog.text
    assert _stage_lines(capsys.readouterr().out).endswith("quality_model, curation")
    resumed = _outputs(out)
    assert resumed["tokenizer/tokenizer.json"] != _outputs(complete)["tokenizer/tokenizer.json"]
    fresh = tmp_path / "fresh"
    caplog.clear()
    with caplog.at_level("INFO", logger="pipeline.tokenizer_step"):
        _run(fresh, config)
    assert "not usable" not in caplog.text   # the fresh run trained on its curation job's rows
    fresh_outputs = _outputs(fresh)
    assert ({k: v for k, v in resumed.items() if not k.startswith("tokenizer/sample/")}
            == {k: v for k, v in fresh_outputs.items() if not k.startswith("tokenizer/sample/")})


def test_an_input_change_redoes_curation_and_everything_after(tmp_path):
    source = tmp_path / "a.jsonl"
    source.write_text('{"text": "x"}\n')
    first = fingerprint_files([str(tmp_path / "*.jsonl")])
    os.utime(source, (1, 1))
    assert fingerprint_files([str(tmp_path / "*.jsonl")]) != first
    (tmp_path / "b.jsonl").write_text("")
    assert len(fingerprint_files([str(tmp_path / "*.jsonl")])) == 2
    assert fingerprint_files([str(tmp_path / "none-*.jsonl")]) == [[str(tmp_path / "none-*.jsonl"), None, None]]
    assert stage_key({"a": 1}, first, ["up"]) != stage_key({"a": 1}, first, ["other"])


def test_a_marker_counts_only_while_its_outputs_exist(tmp_path):
    out = tmp_path / "out"
    (out / "curated").mkdir(parents=True)
    (out / "curated" / "part.parquet").write_bytes(b"x")
    stage = Stage("curation", "k1", ("curated/part.parquet",))
    resume = Resume(str(out))
    assert not resume.is_complete(stage)
    resume.complete(stage)
    assert Resume(str(out)).is_complete(stage)
    assert not Resume(str(out)).is_complete(Stage("curation", "k2", stage.outputs))
    assert not Resume(str(out), force=True).is_complete(stage)
    (out / "curated" / "part.parquet").unlink()
    assert not Resume(str(out)).is_complete(stage)
    Resume(str(out)).start(stage)
    assert not (out / "stages" / "curation.json").exists()


def test_a_run_killed_while_writing_shards_reruns_to_identical_shards(complete, tmp_path):
    out, flag = tmp_path / "out", tmp_path / "hang"
    config = _config(tmp_path)
    env = {**os.environ, "CURATE_TEST_HANG_BEFORE_RENAME": "phases/pretrain_4k/shard-00001",
           "CURATE_TEST_HANG_FLAG": str(flag)}
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "run", "--config", str(config), "--output", str(out)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 600
    while not flag.exists():
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    phase = out / "phases" / "pretrain_4k"
    assert [p.name for p in phase.glob("shard-00001-of-00002.arrow.tmp-*")]   # killed mid-shard
    assert not (phase / "shard-00001-of-00002.arrow").exists()
    assert not (phase / "manifest.json").exists()                          # nothing looks complete
    assert not (out / "stages" / "phase-pretrain_4k.json").exists()
    assert (out / "stages" / "curation.json").exists()

    result = subprocess.run([sys.executable, "-m", "pipeline", "run", "--config", str(config), "--output", str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "skipped (up to date" in result.stdout and "curation, tokenizer" in result.stdout
    resumed, reference = _outputs(out), _outputs(complete)
    shards = [k for k in reference if k.startswith("phases/")]
    assert [k for k in shards if resumed.get(k) != reference[k]] == []
    assert resumed == reference   # and the killed run's temporary file is gone
