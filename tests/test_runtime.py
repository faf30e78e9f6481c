"""The process settings of transforms/runtime.py: the collector thresholds hold in the launcher and in every
Beam worker process, and only worker processes exit without the interpreter's teardown."""

from __future__ import annotations

import gc
import gzip
import json
import os
import subprocess
import sys
import textwrap

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from transforms import runtime
from transforms.read import ReadConfig, ReadDocuments, SourceConfig
from transforms.runtime import GC_THRESHOLD, tune_gc


def test_tune_gc_sets_the_thresholds_once():
    default = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        tune_gc()
        assert gc.get_threshold() == GC_THRESHOLD
        tune_gc()
        assert gc.get_threshold() == GC_THRESHOLD
    finally:
        gc.set_threshold(*default)


def _worker_settings(_doc) -> tuple[int, tuple[int, ...], bool]:
    return os.getpid(), gc.get_threshold(), runtime._FastExit.installed


def test_every_multi_processing_worker_runs_with_the_thresholds(tmp_path):
    for k in range(4):   # one range per file: the Reshuffled ranges reach both workers
        with gzip.open(tmp_path / f"part-{k}.jsonl.gz", "wt") as fh:
            for i in range(20):
                fh.write(json.dumps({"id": f"{k}-{i}", "text": f"document {k} {i}"}) + "\n")
    src = SourceConfig(name="web", paths=(str(tmp_path / "*.jsonl.gz"),), id_field="id")
    options = PipelineOptions(["--direct_running_mode=multi_processing", "--direct_num_workers=2"])
    out = tmp_path / "settings"
    with beam.Pipeline(runner=FnApiRunner(), options=options) as p:
        read = p | ReadDocuments((src,), ReadConfig())
        _ = (read["docs"]
             | beam.Map(_worker_settings) | beam.Distinct()
             | beam.Map(json.dumps) | beam.io.WriteToText(str(out)))
    settings = [json.loads(line) for path in tmp_path.glob("settings*") for line in path.read_text().splitlines()]
    pids = {pid for pid, _, _ in settings}
    assert len(pids) == 2 and os.getpid() not in pids
    assert {tuple(threshold) for _, threshold, _ in settings} == {GC_THRESHOLD}
    assert all(fast for _, _, fast in settings)          # each worker exits fast once its harness is done
    assert not runtime.in_sdk_worker() and not runtime._FastExit.installed   # never the launcher


_EXIT_SCRIPT = """
import atexit, sys
from transforms.runtime import install_fast_exit
atexit.register(lambda: print("teardown ran", flush=True))   # registered first: runs after the fast exit
install_fast_exit()
print("work done", flush=True)
if sys.argv[1] == "fail":
    raise RuntimeError("harness failed")
"""


def _exit_of(mode: str) -> subprocess.CompletedProcess:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(_EXIT_SCRIPT), mode], capture_output=True,
                          text=True, cwd=root, env={**os.environ, "PYTHONPATH": root})


def test_fast_exit_skips_the_teardown_after_a_normal_end_and_keeps_a_failure_visible():
    done = _exit_of("ok")
    assert (done.returncode, done.stdout) == (0, "work done\n")           # flushed, then no teardown
    failed = _exit_of("fail")
    assert failed.returncode == 1 and "RuntimeError: harness failed" in failed.stderr
    assert failed.stdout == "work done\nteardown ran\n"                    # the usual exit


def test_the_curate_command_exits_with_mains_code_and_flushed_output(tmp_path):
    """`python -m pipeline` ends through `pipeline.cli.entry` (no interpreter teardown): the exit code is
    main's and nothing printed is lost."""
    from tests.conftest import ROOT

    bad = subprocess.run([sys.executable, "-m", "pipeline", "run", "--config", str(tmp_path / "nope.yaml"),
                          "--output", str(tmp_path / "out")], capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 2 and bad.stderr.strip().endswith(f"config file not found: {tmp_path / 'nope.yaml'}")
    plan = subprocess.run([sys.executable, "-m", "pipeline", "plan", "--config", "configs/internlm-1.6t.yaml",
                           "--input-bytes", "1T", "--workers", "10"], capture_output=True, text=True, cwd=ROOT)
    assert plan.returncode == 0 and plan.stdout.splitlines()[-1].startswith("worker memory:")
