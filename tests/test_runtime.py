"""The collector settings of transforms/runtime.py hold in the launcher and in every Beam worker process."""

from __future__ import annotations

import gc
import gzip
import json
import os

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

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


def _worker_settings(_doc) -> tuple[int, tuple[int, ...]]:
    return os.getpid(), gc.get_threshold()


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
    pids = {pid for pid, _ in settings}
    assert len(pids) == 2 and os.getpid() not in pids
    assert {tuple(threshold) for _, threshold in settings} == {GC_THRESHOLD}
