"""The tokenizer's sample picked in the curation job (transforms/tokenizer_sample.py): the rows the curated
writer keeps give exactly `draw`'s sample and held-out documents; the launcher falls back to `draw` when
they were picked for another config; a run trains on them."""

import dataclasses
import glob
import json
import random

import apache_beam as beam
import pyarrow.parquet as pq

from pipeline.tokenizer_step import CuratedParts, clear_job_sample, job_sample
from tests.beam_testing import fn_api_test_pipeline
from tokenizer.train import TokenizerTrainConfig, draw, sample_info
from transforms.document import Document
from transforms.parquet_out import WriteParquetParts
from transforms.tokenizer_sample import CELLS_FILE, SAMPLE_DIR, CountSampleCells, SampleRowsWriter

WORDS = "river mill bridge town people walk market evening light stone water garden".split()
CFG = TokenizerTrainConfig(vocab_size=300, sample_chars=150_000, temperature=2.0, heldout_fraction=0.1,
                           fertility_chars=3000, source_weights={"books": 0.5})


def _documents(n=6000):
    rng = random.Random(11)
    docs = []
    for i in range(n):
        source, lang = [("web", "en"), ("books", "en"), ("forum", "de"), ("web", None)][i % 4]
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 40)))
        decision = "keep" if i % 50 else "FilterRules:too_short"   # annotate mode: dropped rows stay in curated/
        docs.append(Document(f"{source}/{i:05d}", source, text if i % 97 else "", lang=lang, decision=decision))
    return docs


def _curate(out, docs, cfg, heldout_only=False):
    kept = [d for d in docs if d.decision == "keep"]
    with fn_api_test_pipeline() as p:
        pc = p | "Docs" >> beam.Create(docs)
        cells = (pc | beam.Filter(lambda d: d.decision == "keep")
                 | CountSampleCells(cfg, f"{out}/{CELLS_FILE}", heldout_only=heldout_only))
        hook = (SampleRowsWriter(cfg, f"{out}/{SAMPLE_DIR}"), beam.pvalue.AsSingleton(cells))
        _ = pc | WriteParquetParts(f"{out}/curated", 3, "curated", 7, per_part=[hook])
    return kept


def test_rows_kept_by_the_curated_writer_give_draws_sample(tmp_path):
    out = str(tmp_path)
    docs = _documents()
    _curate(out, docs, CFG)
    curated = sorted(glob.glob(f"{out}/curated/part-*.parquet"))
    expected = draw(CuratedParts(curated), CFG)
    assert job_sample(out, CFG) == expected
    assert len(expected[0]) == 1056 and len(expected[1]) == 87
    files = sorted(glob.glob(f"{out}/{SAMPLE_DIR}/part-*.parquet"))
    assert [f.rsplit("/", 1)[1] for f in files] == [f"part-0000{k}-of-00003.parquet" for k in range(3)]
    rows = sum(pq.read_metadata(f).num_rows for f in files)
    assert rows == 2252    # of the 5,820 kept documents with text: the cut cells keep a little over their budgets
    cells = json.load(open(f"{out}/{CELLS_FILE}"))
    assert cells["sampling"]["sample_chars"] == 150_000 and not cells["heldout_only"]
    assert [c[:3] for c in cells["cells"]] == [
        ["heldout", "books", "en"], ["heldout", "forum", "de"], ["heldout", "web", "en"], ["heldout", "web", "und"],
        ["sample", "de", "forum"], ["sample", "en", "books"], ["sample", "en", "web"], ["sample", "und", "web"]]


def test_other_sampling_config_or_pinned_pick_falls_back_to_draw(tmp_path):
    out = str(tmp_path)
    _curate(out, _documents(1200), CFG, heldout_only=True)
    assert job_sample(out, CFG) is None                                 # the sample was not picked
    picked = job_sample(out, CFG, need_sample=False)
    assert picked is not None and picked[0] == []
    assert picked[1] == draw(CuratedParts(glob.glob(f"{out}/curated/*.parquet")), CFG)[1]
    assert job_sample(out, dataclasses.replace(CFG, seed=1), need_sample=False) is None
    assert job_sample(out, dataclasses.replace(CFG, num_threads=1), need_sample=False) is not None
    part = sorted(glob.glob(f"{out}/{SAMPLE_DIR}/part-*.parquet"))[0]
    with open(part, "r+b") as fh:   # a damaged part: draw instead
        fh.truncate(100)
    assert job_sample(out, CFG, need_sample=False) is None
    with open(f"{out}/{CELLS_FILE}", "w") as fh:
        fh.write('{"format": ')
    assert job_sample(out, CFG, need_sample=False) is None
    clear_job_sample(out)
    assert glob.glob(f"{out}/{SAMPLE_DIR}/*") == [] and job_sample(out, CFG, need_sample=False) is None


def test_run_trains_on_the_jobs_sample(sample_run):
    from pipeline.config import load_config
    from tests.conftest import ROOT

    cfg = load_config(str(ROOT / "configs" / "sample.yaml")).tokenizer.train
    picked = job_sample(str(sample_run), cfg)
    assert picked is not None
    assert picked == draw(CuratedParts(glob.glob(f"{sample_run}/curated/*.parquet")), cfg)
    sidecar = json.load(open(f"{sample_run}/tokenizer/tokenizer.json"))
    assert sidecar["sample"]["ids_sha256"] == sample_info(picked[0], cfg)["sample"]["ids_sha256"]
    assert sidecar["heldout"]["measured_documents"] == len(picked[1]) == 33
