"""`curate run`: curation job -> tokenizer -> mixing job -> phase manifests -> report -> run manifest."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import logging
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from pipeline.config import ConfigError, PipelineConfig, section_hash, to_dict
from pipeline.graph import build_curation, build_mixing, curated_parts
from pipeline.manifest import load_ledger, remove_phase_manifests, write_phase_manifests
from pipeline.models import LID_FILE
from pipeline.report import ReconciliationError, build_report, write_report
from pipeline.tokenizer_step import build_tokenizer
from pipeline.train_quality import TrainQualityError, train_quality
from transforms.atomic import write_atomic
from transforms.decontam import EvalSetError, load_eval_ngrams
from transforms.near_dedup import s_curve
from transforms.quality import QualityConfig, QualityModelError, check_model, sidecar_path
from transforms.safety import load_blocklists

log = logging.getLogger(__name__)
VERSIONED = ("apache-beam", "fasttext-numpy2", "datasketch", "sentencepiece", "pyarrow", "numpy", "xxhash")


@dataclasses.dataclass(frozen=True)
class RunResult:
    output: str
    report: dict[str, Any]
    manifests: dict[str, dict[str, Any]]
    seconds: dict[str, float]


def make_pipeline(beam_args: list[str]) -> beam.Pipeline:
    """A pipeline on the runner named in `beam_args`, else Beam's FnApiRunner (in_memory by default;
    `--direct_running_mode=multi_processing --direct_num_workers=N` for processes). The plain DirectRunner
    is never chosen implicitly: on Beam 2.77 it first tries to download the Prism runner."""
    options = PipelineOptions(beam_args)
    if options.view_as(beam.options.pipeline_options.DirectOptions).direct_running_mode == "multi_threading":
        raise ConfigError("--direct_running_mode=multi_threading is not supported: on Beam 2.77 it drops "
                          "elements at GroupByKey; use in_memory or multi_processing")
    if options.view_as(StandardOptions).runner:
        return beam.Pipeline(options=options)
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    return beam.Pipeline(runner=FnApiRunner(), options=options)


def check_inputs(cfg: PipelineConfig) -> None:
    """One clear line for each problem a user can fix before any work starts."""
    for src in cfg.sources:
        for pattern in src.paths:
            if not FileSystems.match([pattern])[0].metadata_list:
                raise ConfigError(f"sources.{src.name}: no input file matches {pattern}")
    if not FileSystems.exists(cfg.langid.model):
        hint = " (run `curate fetch-models` or `make setup`)" if cfg.langid.model.endswith(LID_FILE) else ""
        raise ConfigError(f"language-ID model not found: {cfg.langid.model}{hint}")
    for path in cfg.urls.blocklists:
        if not FileSystems.exists(path):
            raise ConfigError(f"urls.blocklists: file not found: {path}")
    if cfg.safety.enabled and cfg.safety.word_blocklists:
        try:
            load_blocklists(cfg.safety.word_blocklists)
        except (OSError, ValueError) as exc:
            raise ConfigError(str(exc)) from None
    if cfg.decontam.enabled and cfg.decontam.eval_sets:
        try:
            load_eval_ngrams(cfg.decontam)  # small files: read once here so a bad one stops the run now
        except EvalSetError as exc:
            raise ConfigError(str(exc)) from None
    if cfg.tokenizer.model is not None:
        check_pinned_tokenizer(cfg.tokenizer.model)
    load_ledger(cfg.mix.previous, (), None)  # mix.previous readable now; names and tokenizer are checked later


def check_pinned_tokenizer(path: str) -> None:
    """A pinned tokenizer must load and serve the pipeline (framing ids, byte fallback, lossless round
    trip): checked before any work, one line if not."""
    from tokenizer.wrapper import Tokenizer

    if not FileSystems.exists(path):
        raise ConfigError(f"tokenizer.model not found: {path}")
    with FileSystems.open(path) as fh:
        data = fh.read()
    try:
        problems = Tokenizer(data).problems()
    except Exception as exc:  # SentencePiece raises RuntimeError/OSError for a file that is not a model
        raise ConfigError(f"tokenizer.model: {path} is not a SentencePiece model "
                          f"({str(exc).splitlines()[0][:200]})") from None
    if problems:
        raise ConfigError(f"tokenizer.model: {path} cannot be used: {'; '.join(problems)}")


QUALITY_MODEL = "quality/quality.bin"


def prepare_quality(cfg: PipelineConfig, output: str) -> tuple[QualityConfig, dict[str, Any] | None]:
    """The quality stage's config with its model path, and the trained model's sidecar (when the run
    trains it from `quality.train`). A missing or incompatible model is a ConfigError."""
    section = cfg.quality
    if section.train is not None:
        if "://" in output:
            raise ConfigError("quality.train writes the model locally: give a local --output or train with "
                              "`curate train-quality` and set quality.model")
        path = f"{output}/{QUALITY_MODEL}"
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            train_quality(section.train, path)
        except TrainQualityError as exc:
            raise ConfigError(f"quality.train: {exc}") from None
        with open(sidecar_path(path), encoding="utf-8") as fh:
            return section.stage(path), json.load(fh)
    if section.model is not None:
        try:
            check_model(section.model, section.max_chars)
        except QualityModelError as exc:
            raise ConfigError(str(exc)) from None
    return section.stage(section.model), None


def _git_sha() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
                             capture_output=True, text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def _versions() -> dict[str, str]:
    versions = {}
    for name in VERSIONED:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def run_manifest(cfg: PipelineConfig, report: dict[str, Any], tokenizer_sha: str) -> dict[str, Any]:
    stage_sections = {"read": (cfg.sources, cfg.read), "urls": cfg.urls, "extract": cfg.extract,
                      "normalize": cfg.normalize, "exact_dedup": cfg.exact_dedup,
                      "langid": cfg.langid, "rules": cfg.rules, "safety": cfg.safety, "quality": cfg.quality,
                      "near_dedup": cfg.near_dedup, "decontam": cfg.decontam,
                      "tokenizer": cfg.tokenizer, "mix": (cfg.mix, cfg.phases)}
    return {
        "config": to_dict(cfg),
        "stage_config_hashes": {k: section_hash(v) for k, v in stage_sections.items()},
        "versions": _versions(),
        "git_sha": _git_sha(),
        "tokenizer_sha256": tokenizer_sha,
        "figures": {"totals": report["totals"], "phases": {p: v["tokens"] for p, v in report["phases"].items()},
                    "reconciled": report["reconciled"]},
    }


def run(cfg: PipelineConfig, output: str, beam_args: list[str]) -> RunResult:
    check_inputs(cfg)
    output = output if "://" in output else os.path.abspath(output)
    seconds: dict[str, float] = {}

    start = time.perf_counter()
    quality, quality_model = prepare_quality(cfg, output)
    seconds["quality_training"] = time.perf_counter() - start

    start = time.perf_counter()
    with make_pipeline(beam_args) as p:
        build_curation(p, cfg, output, quality)
    seconds["curation"] = time.perf_counter() - start

    curation_report = build_report(output, cfg.run.mode, {}, cfg.run.parts)
    if not curation_report["reconciled"]:  # fail before anything downstream looks complete
        write_report(output, curation_report)
        raise ReconciliationError("counts do not reconcile: " + "; ".join(curation_report["problems"]))

    start = time.perf_counter()
    parts = curated_parts(output, cfg.run.parts)
    tokenizer_step = build_tokenizer(cfg.tokenizer, output, parts, sources=[s.name for s in cfg.sources])
    tokenizer = tokenizer_step.tokenizer
    seconds["tokenizer"] = time.perf_counter() - start

    start = time.perf_counter()
    remove_phase_manifests(output, cfg.phases)  # a manifest's presence must keep meaning "complete"
    ledger = load_ledger(cfg.mix.previous, cfg.phases, tokenizer.sha256)  # what earlier runs' phases consumed
    with make_pipeline(beam_args) as p:
        build_mixing(p, cfg, output, tokenizer, parts, ledger)
    manifests = write_phase_manifests(output, cfg.phases, cfg.mix, tokenizer)
    seconds["mixing"] = time.perf_counter() - start

    benchmarks = tuple(cfg.decontam.eval_sets) if cfg.decontam.enabled else ()
    report = build_report(output, cfg.run.mode, manifests, cfg.run.parts, examples=cfg.run.examples_per_reason > 0,
                          benchmarks=benchmarks)
    if cfg.near_dedup.enabled:
        nd = cfg.near_dedup
        report["near_dedup"] = {"num_perm": nd.num_perm, "bands": nd.bands, "rows": nd.rows,
                                "threshold": nd.threshold, "candidate_probability": s_curve(nd.bands, nd.rows)}
    report["tokenizer"] = tokenizer_step.report()  # origin, sample per language/source, held-out fertility
    if quality_model is not None:
        report["quality_model"] = {k: quality_model[k] for k in ("holdout_metrics", "inputs", "model")
                                   if k in quality_model}
    write_report(output, report)
    write_atomic(f"{output}/run_manifest.json",
                 (json.dumps(run_manifest(cfg, report, tokenizer.sha256), indent=1, sort_keys=True) + "\n").encode())
    if not report["reconciled"]:
        raise ReconciliationError("counts do not reconcile: " + "; ".join(report["problems"]))
    return RunResult(output, report, manifests, seconds)
