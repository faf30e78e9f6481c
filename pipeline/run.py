"""`curate run`: curation job -> tokenizer -> mixing job -> phase manifests -> report -> run manifest."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from pipeline.config import ConfigError, PipelineConfig, section_hash, to_dict
from pipeline.graph import AUDIT_FILE, EXAMPLES_FILE, build_curation, build_mixing, curated_parts
from pipeline.manifest import load_ledger, remove_phase_manifests, write_phase_manifests
from pipeline.models import LID_FILE
from pipeline.progress import Progress
from pipeline.report import (
    TIMINGS_FILE,
    ReconciliationError,
    assemble_report,
    build_report,
    curation_stats,
    read_json,
    write_report,
)
from pipeline.report_stats import clear_part_summaries
from pipeline.resume import Resume, Stage, code_versions, fingerprint_files, stage_key
from pipeline.sidework import SideWork
from pipeline.tokenizer_step import MODEL_FILE, SIDECAR_FILE, build_tokenizer, clear_job_sample
from pipeline.train_quality import TrainQualityError, train_quality
from tokenizer.wrapper import Tokenizer
from transforms.atomic import write_atomic
from transforms.decontam import EvalSetError, load_eval_ngrams
from transforms.parquet_out import part_path
from transforms.quality import QualityConfig, QualityModelError, check_model, sidecar_path
from transforms.read import SourceConfig, is_compressed
from transforms.runtime import tune_process
from transforms.safety import load_blocklists

if TYPE_CHECKING:
    from pipeline.report_html import PlotCall

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class RunResult:
    output: str
    report: dict[str, Any]
    manifests: dict[str, dict[str, Any]]
    seconds: dict[str, float]
    skipped: tuple[str, ...] = ()   # stages found complete (pipeline/resume.py)
    done: tuple[str, ...] = ()      # stages this run did


class CachedViewOptions(PipelineOptions):
    """PipelineOptions whose `view_as` builds each view once.

    Beam 2.77 reads `--disable_beartype` in every type-hint check (`typehints.is_consistent_with` calls
    `get_pipeline_options().view_as(TypeOptions)`), and each `view_as` constructs a new options object,
    which registers every known option with argparse and parses the flags again: about 0.25 ms, some
    2,500 times while the curation graph is built (0.6 s of a run's start on this machine). All views of
    one options object share its values (`_all_options`), so a view built once serves every later call;
    writes through a view still reach the shared values. The cache is not pickled or deep-copied (Beam's
    `Pipeline` deep-copies its options): a copy builds its own."""

    def view_as(self, cls: type[Any]) -> Any:
        views = self.__dict__.setdefault("_views", {})
        view = views.get(cls)
        if view is None:
            view = views[cls] = super().view_as(cls)
        return view

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in super().__getstate__().items() if k != "_views"}


def make_pipeline(beam_args: list[str]) -> beam.Pipeline:
    """A pipeline on the runner named in `beam_args`, else Beam's FnApiRunner as LocalRunner
    (pipeline/local_runner.py; in_memory by default;
    `--direct_running_mode=multi_processing --direct_num_workers=N` for processes). The plain DirectRunner
    is never chosen implicitly: on Beam 2.77 it first tries to download the Prism runner."""
    options = CachedViewOptions(beam_args)
    if options.view_as(beam.options.pipeline_options.DirectOptions).direct_running_mode == "multi_threading":
        raise ConfigError("--direct_running_mode=multi_threading is not supported: on Beam 2.77 it drops "
                          "elements at GroupByKey; use in_memory or multi_processing")
    if options.view_as(StandardOptions).runner:
        return beam.Pipeline(options=options)
    from pipeline.local_runner import LocalRunner

    return beam.Pipeline(runner=LocalRunner(), options=options)


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
    check_budgets(cfg)


def token_bound(src: SourceConfig) -> int | None:
    """An upper bound on the tokens a source's input can give in one pass, from file sizes alone: a token
    covers at least one byte of text (byte fallback) and each document adds BOS and EOS; a JSONL record or
    WARC record takes at least 12 bytes. None when compressed or columnar files make sizes say nothing."""
    bound = 0
    for pattern in src.paths:
        for meta in FileSystems.match([pattern])[0].metadata_list:
            if src.format == "parquet" or is_compressed(meta.path):
                return None
            docs = 1 if src.format == "text" else meta.size_in_bytes // 12 + 1
            bound += meta.size_in_bytes + 2 * docs
    return bound


def check_budgets(cfg: PipelineConfig) -> None:
    """A phase with `on_shortfall: error` whose bucket needs more tokens than its source's files could
    ever give (token_bound x max_epochs) fails now, not after hours of curation."""
    bounds: dict[str, int | None] = {}
    for phase in cfg.phases:
        if phase.on_shortfall != "error":
            continue
        for bucket in phase.buckets():
            src = next(s for s in cfg.sources if s.name == bucket.source)
            if src.name not in bounds:
                bounds[src.name] = token_bound(src)
            bound = bounds[src.name]
            if bound is not None and bucket.target > bound * bucket.max_epochs:
                raise ConfigError(
                    f"phases.{phase.name}: bucket {bucket.name} needs {bucket.target} tokens but sources.{src.name} "
                    f"can give at most {bound * bucket.max_epochs} ({bucket.max_epochs} epoch(s) of its input "
                    "files' size): an impossible budget with on_shortfall: error")


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


def prepare_quality(cfg: PipelineConfig, output: str, resume: Resume | None = None) -> tuple[QualityConfig, Any]:
    """The quality stage's config with its model path (training it first when the config says
    `quality.train`), and what the curation stage's key takes from the model (the training stage's key,
    or the given model's fingerprint). A missing or incompatible model is a ConfigError."""
    section = cfg.quality
    if section.train is not None:
        if "://" in output:
            raise ConfigError("quality.train writes the model locally: give a local --output or train with "
                              "`curate train-quality` and set quality.model")
        path = f"{output}/{QUALITY_MODEL}"
        train = section.train
        stage = Stage("quality_model", stage_key(train, fingerprint_files(
            [*train.labelled, *train.positive, *train.negative])), (QUALITY_MODEL, sidecar_path(QUALITY_MODEL)))
        resume = resume or Resume(output, force=True)
        if not resume.is_complete(stage):
            resume.start(stage)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            try:
                train_quality(train, path)
            except TrainQualityError as exc:
                raise ConfigError(f"quality.train: {exc}") from None
            resume.complete(stage)
        return section.stage(path), stage.key
    if section.model is not None:
        try:
            check_model(section.model, section.max_chars)
        except QualityModelError as exc:
            raise ConfigError(str(exc)) from None
        return section.stage(section.model), fingerprint_files([section.model])
    return section.stage(None), None


def _git_sha() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
                             capture_output=True, text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def _versions() -> dict[str, str]:
    return code_versions()


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


def curation_stage(cfg: PipelineConfig, quality_input: Any) -> Stage:
    """curated/, rejected/, counts/ and the curation's report files: keyed by every section the curation
    job reads (not `run.name`, `tokenizer`, `mix`, `phases`) and the fingerprints of every file it reads."""
    run_section = {k: v for k, v in to_dict(cfg.run).items() if k != "name"}
    sections = {"run": run_section, "sources": cfg.sources, "read": cfg.read, "urls": cfg.urls,
                "extract": cfg.extract, "normalize": cfg.normalize, "exact_dedup": cfg.exact_dedup,
                "langid": cfg.langid, "rules": cfg.rules, "safety": cfg.safety, "quality": cfg.quality,
                "near_dedup": cfg.near_dedup, "decontam": cfg.decontam}
    inputs = {"sources": {src.name: fingerprint_files(src.paths) for src in cfg.sources},
              "langid_model": fingerprint_files([cfg.langid.model]),
              "url_blocklists": fingerprint_files(cfg.urls.blocklists),
              "word_blocklists": fingerprint_files(cfg.safety.word_blocklists.values()) if cfg.safety.enabled else [],
              "eval_sets": (fingerprint_files(p for paths in cfg.decontam.eval_sets.values() for p in paths)
                            if cfg.decontam.enabled else []),
              "quality_model": quality_input}
    parts = cfg.run.parts
    outputs = [part_path(kind, k, parts) for kind in ("curated", "rejected") for k in range(parts)]
    outputs.append("counts/records_read.json")
    if cfg.run.examples_per_reason:
        outputs.append(EXAMPLES_FILE)
    if cfg.near_dedup.enabled and cfg.near_dedup.audit_clusters:
        outputs.append(AUDIT_FILE)
    return Stage("curation", stage_key(sections, inputs), tuple(outputs))


def tokenizer_stage(cfg: PipelineConfig, curation: Stage) -> Stage:
    pinned = fingerprint_files([cfg.tokenizer.model]) if cfg.tokenizer.model is not None else None
    return Stage("tokenizer", stage_key(cfg.tokenizer, pinned, [curation.key]), (MODEL_FILE, SIDECAR_FILE))


def phase_stages(cfg: PipelineConfig, tokenizer: Stage) -> list[Stage]:
    """One stage per phase; phase k's key covers phases 1..k (earlier phases consume documents first),
    `mix`, the tokenizer stage and the ledgers of `mix.previous`. Outputs are known once written."""
    ledgers = fingerprint_files(f"{prev.rstrip('/')}/phases/*/manifest.json" for prev in cfg.mix.previous)
    return [Stage(f"phase-{ph.name}", stage_key({"mix": cfg.mix, "phases": cfg.phases[:k + 1]}, ledgers,
                                                [tokenizer.key]), (f"phases/{ph.name}/manifest.json",))
            for k, ph in enumerate(cfg.phases)]


def _phase_outputs(phase: str, manifest: dict[str, Any]) -> list[str]:
    files = [f"phases/{phase}/manifest.json", "phases/plan.json"]
    files += [f"phases/{phase}/{s['file']}" for s in manifest["shards"]]
    files += [f"phases/{phase}/validation/{s['file']}" for s in manifest["validation"]["shards"]]
    return files


def run(cfg: PipelineConfig, output: str, beam_args: list[str], force: bool = False,
        progress: bool = False) -> RunResult:
    """The whole run. Stages whose completion marker matches (pipeline/resume.py) are skipped; `force`
    redoes every stage; `progress` shows each Beam job's live per-stage counts on stderr
    (pipeline/progress.py)."""
    check_inputs(cfg)
    tune_process()   # the in_memory runner executes the stages in this process (transforms/runtime.py)
    output = output if "://" in output else os.path.abspath(output)
    resume = Resume(output, force)
    seconds: dict[str, float] = {}
    beam_steps: dict[str, float] = {}

    start = time.perf_counter()
    quality, quality_input = prepare_quality(cfg, output, resume)
    seconds["quality_training"] = time.perf_counter() - start

    start = time.perf_counter()
    curation = curation_stage(cfg, quality_input)
    if not resume.is_complete(curation):
        resume.start(curation)
        clear_job_sample(output)       # the job writes the tokenizer's sample rows and the parts'
        clear_part_summaries(output)   # summaries afresh
        with Progress("curation", progress) as shown, make_pipeline(beam_args) as p:
            shown.attach(p)
            build_curation(p, cfg, output, quality)
        beam_steps.update(step_times(p.result, "curation"))
        curation_done = True
    else:
        curation_done = False
    seconds["curation"] = time.perf_counter() - start

    curation_report = build_report(output, cfg.run.mode, {}, cfg.run.parts)
    if not curation_report["reconciled"]:  # fail before anything downstream looks complete
        write_report(output, curation_report)
        raise ReconciliationError("counts do not reconcile: " + "; ".join(curation_report["problems"]))
    if curation_done:
        resume.complete(curation)

    # the report's counts of curated/ and rejected/ and its histograms, on a spare core while the tokenizer
    # trains (pipeline/sidework.py); without one, the same work is done when the report is written
    from pipeline.report_html import plot_calls, plot_key  # matplotlib: imported when a run gets this far

    with SideWork() as side:
        early = side.submit(curation_stats, output, cfg.run.parts)
        start = time.perf_counter()
        parts = curated_parts(output, cfg.run.parts)
        tok_stage = tokenizer_stage(cfg, curation)
        if resume.is_complete(tok_stage):
            tokenizer = Tokenizer.from_file(f"{output}/{MODEL_FILE}")
        else:
            resume.start(tok_stage)
            tokenizer_step = build_tokenizer(cfg.tokenizer, output, parts, sources=[s.name for s in cfg.sources],
                                             reuse=not force)
            tokenizer = tokenizer_step.tokenizer
            resume.complete(tok_stage)
        seconds["tokenizer"] = time.perf_counter() - start

        start = time.perf_counter()
        stages = phase_stages(cfg, tok_stage)
        stale = tuple(ph for ph, st in zip(cfg.phases, stages, strict=True) if not resume.is_complete(st))
        if stale:
            for ph, st in zip(cfg.phases, stages, strict=True):
                if ph in stale:
                    resume.start(st)
            remove_phase_manifests(output, stale)  # a manifest's presence must keep meaning "complete"
            ledger = load_ledger(cfg.mix.previous, cfg.phases, tokenizer.sha256)  # what earlier runs consumed
            with Progress("mixing", progress) as shown, make_pipeline(beam_args) as p:
                shown.attach(p)
                build_mixing(p, cfg, output, tokenizer, parts, ledger, write=[ph.name for ph in stale])
            beam_steps.update(step_times(p.result, "mixing"))
            written = write_phase_manifests(output, stale, cfg.mix, tokenizer)
            for ph, st in zip(cfg.phases, stages, strict=True):
                if ph in stale:
                    resume.complete(st, _phase_outputs(ph.name, written[ph.name]))
        manifests = {ph.name: read_json(f"{output}/phases/{ph.name}/manifest.json") for ph in cfg.phases}
        seconds["mixing"] = time.perf_counter() - start

        figures = build_report(output, cfg.run.mode, manifests, cfg.run.parts)
        manifest = run_manifest(cfg, figures, tokenizer.sha256)
        write_atomic(f"{output}/run_manifest.json", (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode())
        start = time.perf_counter()
        acc, plots = early.get()
        report = assemble_report(output, acc)   # from the outputs alone, as `curate report` rebuilds it
        timings = {"seconds": {k: round(v, 3) for k, v in seconds.items()}, "beam_steps": beam_steps,
                   "skipped": list(resume.skipped)}
        write_atomic(f"{output}/{TIMINGS_FILE}", (json.dumps(timings, indent=1, sort_keys=True) + "\n").encode())
        plots.update(_draw_plots(side, [c for c in plot_calls(report, timings) if plot_key(*c) not in plots]))
        write_report(output, report, timings, plots)   # the page shows the steps before the report
        seconds["report"] = time.perf_counter() - start   # assembling and rendering the report
        timings["seconds"]["report"] = round(seconds["report"], 3)
        write_atomic(f"{output}/{TIMINGS_FILE}", (json.dumps(timings, indent=1, sort_keys=True) + "\n").encode())
        if not report["reconciled"]:
            raise ReconciliationError("counts do not reconcile: " + "; ".join(report["problems"]))
        return RunResult(output, report, manifests, seconds, tuple(resume.skipped), tuple(resume.done))


def _draw_plots(side: SideWork, calls: list[PlotCall]) -> dict[str, str]:
    """Draws the plots, half of them in the helper process when there is one."""
    from pipeline.report_html import render_plots

    half = (len(calls) + 1) // 2
    there = side.submit(render_plots, calls[:half])
    here = render_plots(calls[half:])
    return {**there.get(), **here}


EXECUTION_TIME = "metric:ptransform_execution_time:total_msecs:v1"
NESTED_STAGES = ("Read/FilterUrls",)   # stages applied inside another step (pipeline/graph.py): timed as their own


def step_name(step: str) -> str:
    """The step a transform's time counts under: its top-level step, or a stage nested in one."""
    for nested in NESTED_STAGES:
        if step == nested or step.startswith(nested + "/"):
            return nested.rsplit("/", 1)[1]
    return step.split("/", 1)[0]


def step_times(result: Any, job: str) -> dict[str, float]:
    """Beam's measured execution time (msecs) per top-level step of a finished job, as `<job>/<step>`
    (a stage nested in another step, `NESTED_STAGES`, as its own). The local FnApiRunner reports it per
    transform; a runner that does not gives {}."""
    try:
        counters = result.monitoring_metrics().query()["counters"]
    except Exception:  # noqa: BLE001 - optional: runners differ in what they report
        return {}
    totals: dict[str, float] = {}
    for entry in counters:
        if entry.key.metric.name == EXECUTION_TIME and entry.key.step:
            step = f"{job}/{step_name(entry.key.step)}"
            totals[step] = totals.get(step, 0) + (entry.committed or 0)
    return {k: v for k, v in sorted(totals.items()) if v > 0}

