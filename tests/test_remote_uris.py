"""Inputs, models and output given as URIs of an object store (tests/fake_object_store.py): the run reads
and writes through Beam's FileSystems only and gives the same bytes as a local run."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

from pipeline.cli import main
from tests import fake_object_store
from tests.conftest import ROOT


def _outputs(out: Path) -> dict[str, bytes]:
    """Outputs that do not name input paths (the report and run manifest hold the resolved config) or
    hold fingerprints and wall times (stages/, report/timings.json)."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and not str(p.relative_to(out)).startswith(("stages/", "report/report.", "report/timings",
                                                                        "run_manifest.json"))}


def test_a_run_on_object_store_uris_matches_a_local_run(tmp_path, monkeypatch, lid_model, capsys):
    store = tmp_path / "store"
    (store / "bucket" / "in").mkdir(parents=True)
    (store / "bucket" / "models").mkdir(parents=True)
    monkeypatch.setenv(fake_object_store.ROOT_ENV, str(store))
    lines = gzip.open(ROOT / "data" / "sample" / "web_en.jsonl.gz", "rt", encoding="utf-8").read().splitlines()
    for k in range(3):
        with gzip.open(store / "bucket" / "in" / f"part{k}.jsonl.gz", "wt", encoding="utf-8") as fh:
            fh.write("\n".join(lines[k::3]) + "\n")
    shutil.copy(lid_model, store / "bucket" / "models" / "lid.176.ftz")
    (tmp_path / "local").mkdir()
    for p in (store / "bucket" / "in").iterdir():
        shutil.copy(p, tmp_path / "local" / p.name)

    def config(name: str, inputs: str, model: str) -> Path:
        path = tmp_path / f"{name}.yaml"
        path.write_text(f"sources: [{{name: web, paths: ['{inputs}'], id_field: id}}]\n"
                        f"langid: {{model: '{model}'}}\n"
                        "tokenizer: {train: {vocab_size: 1000}}\n"
                        "phases: [{name: p, tokens: 20000, seq_len: 512, weights: {web: 1}}]\n")
        return path

    remote = config("remote", "fakeobj://bucket/in/*.jsonl.gz", "fakeobj://bucket/models/lid.176.ftz")
    local = config("local", f"{tmp_path}/local/*.jsonl.gz", lid_model)
    assert main(["run", "--config", str(remote), "--output", "fakeobj://bucket/out"]) == 0
    assert main(["run", "--config", str(local), "--output", str(tmp_path / "out")]) == 0
    remote_out, local_out = _outputs(store / "bucket" / "out"), _outputs(tmp_path / "out")
    assert [k for k in remote_out if k.endswith(".arrow")] == ["phases/p/shard-00000-of-00002.arrow",
                                                               "phases/p/shard-00001-of-00002.arrow"]
    assert remote_out.keys() == local_out.keys()
    assert sorted(k for k in local_out if remote_out[k] != local_out[k]) == []
    assert (store / "bucket" / "out" / "report" / "report.html").exists()
    # and a second run on the store resumes like a local one
    capsys.readouterr()
    assert main(["run", "--config", str(remote), "--output", "fakeobj://bucket/out"]) == 0
    assert "curation, tokenizer, phase-p; nothing to do" in capsys.readouterr().out


@pytest.mark.parametrize("output", ["fakeobj://bucket/out"])
def test_quality_training_refuses_a_remote_output(tmp_path, monkeypatch, output):
    monkeypatch.setenv(fake_object_store.ROOT_ENV, str(tmp_path))
    config = tmp_path / "c.yaml"
    (tmp_path / "in.jsonl").write_text('{"text": "x"}\n')
    config.write_text(f"sources: [{{name: web, paths: ['{tmp_path}/in.jsonl']}}]\n"
                      f"quality: {{train: {{labelled: ['{tmp_path}/in.jsonl']}}}}\n"
                      "phases: [{name: p, tokens: 100, seq_len: 8, weights: {web: 1}}]\n")
    assert main(["run", "--config", str(config), "--output", output]) == 2
