"""Security (issue 7): configs cannot execute code, outputs stay inside the output directory, and a run
opens no network connection when no remote URI is configured."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from pipeline.cli import main
from tests.conftest import ROOT
from transforms.atomic import write_atomic


def test_a_python_tag_in_the_config_is_an_error_not_code(tmp_path):
    marker = tmp_path / "pwned"
    config = tmp_path / "c.yaml"
    config.write_text(f'run: !!python/object/apply:os.system ["touch {marker}"]\n')
    result = subprocess.run([sys.executable, "-m", "pipeline", "run", "--config", str(config), "--output",
                             str(tmp_path / "out")], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.startswith("curate: error: config") and "Traceback" not in result.stderr
    assert not marker.exists()


@pytest.mark.parametrize("path", ["out/phases/../../escape.json", "out/..", "out\\..\\x"])
def test_write_atomic_refuses_paths_that_climb_out(tmp_path, path):
    with pytest.raises(ValueError, match="outside the output directory"):
        write_atomic(str(tmp_path / path), b"x")
    assert not (tmp_path / "escape.json").exists()


def test_a_local_run_opens_no_network_connection(tmp_path, monkeypatch, lid_model):
    import gzip

    lines = gzip.open(ROOT / "data" / "sample" / "web_en.jsonl.gz", "rt", encoding="utf-8").read().splitlines()
    (tmp_path / "web.jsonl").write_text("\n".join(lines[:120]) + "\n", encoding="utf-8")
    config = tmp_path / "c.yaml"
    config.write_text(f"sources: [{{name: web, paths: ['{tmp_path}/web.jsonl'], id_field: id}}]\n"
                      "tokenizer: {train: {vocab_size: 1000}}\n"
                      "phases: [{name: p, tokens: 5000, seq_len: 512, weights: {web: 1}}]\n")
    attempts = []
    real_connect = socket.socket.connect

    def guarded(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            attempts.append(address)
            raise OSError(f"network access attempted: {address}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setattr(socket, "create_connection", lambda address, *a, **k: guarded(
        socket.socket(socket.AF_INET), address))
    assert main(["run", "--config", str(config), "--output", str(tmp_path / "out")]) == 0
    assert attempts == []
    assert (tmp_path / "out" / "phases" / "p" / "manifest.json").exists()
