"""Graph assembly: the curation job (sources -> curated/, rejected/, counts/) and the mixing job
(curated/ -> tokenized, mixed, packed phases/). Two jobs with `curated/` as the boundary between them
("tag once, mix many"); skipping the first job when only mixing changed is the resume work of issue #7.
Labels are stable: they name the stage, not the config.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from pipeline.config import PipelineConfig
from pipeline.report_stats import KINDS, PartSummaryWriter
from tokenizer.wrapper import Tokenizer
from transforms.arrow_shards import WriteArrowShards
from transforms.atomic import write_atomic
from transforms.decontam import Decontaminate
from transforms.document import KEEP, Document, Rejected
from transforms.exact_dedup import DeduplicateExact
from transforms.extract import ExtractText
from transforms.hashing import hash64, unit_interval
from transforms.langid import IdentifyLanguage
from transforms.mix import Ledger, MixPhases
from transforms.near_dedup import DeduplicateNearDuplicates
from transforms.normalize import NormalizeText
from transforms.pack import PackSequences
from transforms.paragraph_dedup import DeduplicateParagraphs
from transforms.parquet_out import WriteParquetParts, part_path
from transforms.quality import QualityConfig, ScoreQuality
from transforms.read import ReadDocuments
from transforms.rules import FilterRules
from transforms.safety import FilterSafety
from transforms.tokenize import TokenizeDocuments
from transforms.tokenizer_sample import CELLS_FILE, SAMPLE_DIR, CountSampleCells, SampleRowsWriter
from transforms.urls import FilterUrls

CURATED_COLUMNS = ["id", "source", "lang", "text", "decision", "quality_score", "cluster_size"]  # + mixing inputs


def write_json(obj: Any, path: str) -> str:
    return write_atomic(path, (json.dumps(obj, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8"))


def _counts_json(entries: list[tuple[str, int]]) -> list[dict[str, Any]]:
    rows = []
    for key, n in sorted(entries):
        source, _, relpath = key.partition("\t")
        rows.append({"source": source, "file": relpath, "records": n})
    return rows


def _sum_pairs(pairs: Iterable[tuple[int, int]]) -> tuple[int, int]:
    docs = tokens = 0
    for d, t in pairs:
        docs, tokens = docs + d, tokens + t
    return docs, tokens


def _token_counts_json(entries: list[tuple[tuple[str, str], tuple[int, int]]]) -> list[dict[str, Any]]:
    return [{"source": s, "lang": lang, "docs": d, "tokens": t} for (s, lang), (d, t) in sorted(entries)]


# Beam's local runners: their shuffles are lists in the launcher's (or the runner's) memory
LOCAL_RUNNERS = frozenset({"DirectRunner", "SwitchingDirectRunner", "BundleBasedDirectRunner", "FnApiRunner",
                           "LocalRunner", "PrismRunner"})   # LocalRunner: pipeline/local_runner.py


def compress_shuffles(p: beam.Pipeline) -> bool:
    """Whether whole-document shuffles zstd-compress large values (transforms/shuffle.py): on a runner that
    moves shuffled bytes between machines, yes; on Beam's local runner, where they stay in memory, no."""
    return type(p.runner).__name__ not in LOCAL_RUNNERS


def _to_rejected(doc: Document, seed: int, fraction: float) -> Rejected:
    return Rejected.from_document(doc, keep_text=unit_interval(seed, "rejected_text", doc.id) < fraction)


def _keep_text_sample(rej: Rejected, seed: int, fraction: float) -> Rejected:
    if rej.text is None or unit_interval(seed, "rejected_text", rej.id) < fraction:
        return rej
    return dataclasses.replace(rej, text=None)


CURATED_TOKENS_FILE = "report/curated_tokens.json"
DEAD = "DeadLetters"   # the label of read's dead letters among the stages' drops
EXAMPLES_FILE = "report/drop_examples.json"
AUDIT_FILE = "report/near_dedup_audit.json"


def _doc_example(doc: Document, seed: int, chars: int) -> tuple[str, tuple]:
    return doc.decision, (hash64(seed, "example", doc.id), doc.id, doc.source, doc.location, doc.text[:chars])


def _dead_example(rej: Rejected, seed: int, chars: int) -> tuple[str, tuple]:
    return f"{rej.stage}:{rej.reason}", (hash64(seed, "example", rej.id), rej.id, rej.source, rej.location,
                                         (rej.text or "")[:chars])


def _examples_json(per_reason: list[tuple[str, list[tuple]]]) -> dict[str, list[dict[str, Any]]]:
    return {reason: [{"id": i, "source": s, "location": loc, "text": text}
                     for _, i, s, loc, text in sorted(examples)]
            for reason, examples in sorted(per_reason)}


def _each_example(per_reason: tuple[str, list[tuple]]) -> Iterator[tuple[str, tuple]]:
    reason, examples = per_reason
    return ((reason, e) for e in examples)


def _example_rank(example: tuple) -> int:
    return -example[0]   # Top keeps the largest: the smallest seeded hashes


class _DropExamples(beam.PTransform):
    """{"DeadLetters": dead letters, <stage label>: that stage's dropped Documents, ...} -> one JSON file: per
    `stage:reason`, a seeded sample of `examples_per_reason` examples (id, source, location, first
    `example_chars` characters). Bounded whatever the corpus: a Top per reason, taken on each input where
    it is produced (a lifted combine: each bundle sends on its few examples per reason) before the inputs
    meet, so the Flatten that joins them (materialized by the local FnApiRunner) carries samples, not every
    dropped document's example (16 MB on the 100 MB benchmark corpus)."""

    def __init__(self, seed: int, n: int, chars: int, path: str) -> None:
        super().__init__()
        self._seed, self._n, self._chars, self._path = seed, n, chars, path

    def expand(self, inputs: dict[str, beam.PCollection]) -> beam.PCollection:
        seed, chars, n = self._seed, self._chars, self._n
        sampled = tuple(
            pc
            | f"{label}Example" >> beam.Map(_dead_example if label == DEAD else _doc_example, seed, chars)
            | f"{label}Sample" >> beam.combiners.Top.PerKey(n, key=_example_rank)
            for label, pc in sorted(inputs.items()))
        return (
            sampled
            | "AllSamples" >> beam.Flatten()
            | "EachExample" >> beam.FlatMap(_each_example)   # a reason that two inputs share is sampled again
            | "SamplePerReason" >> beam.combiners.Top.PerKey(n, key=_example_rank)
            | "AllReasons" >> beam.combiners.ToList()
            | "ExamplesJson" >> beam.Map(_examples_json)
            | "WriteExamples" >> beam.Map(write_json, self._path)
        )


def build_curation(p: beam.Pipeline, cfg: PipelineConfig, output: str, quality: QualityConfig | None = None) -> None:
    # FilterUrls decides on the read's keys (its step: Read/FilterUrls); its drops leave the read as Documents
    read = p | "Read" >> ReadDocuments(cfg.sources, cfg.read, key_filter=FilterUrls(cfg.urls))
    compress = compress_shuffles(p)
    docs = read["docs"]                                       # Document
    # stage label -> its dropped Documents, marked "<stage>:<reason>"
    dropped: dict[str, beam.PCollection] = {"FilterUrls": read[ReadDocuments.DROPPED]}
    stages: list[tuple[str, beam.PTransform]] = [
        ("ExtractText", ExtractText(cfg.extract)),
        ("Normalize", NormalizeText(cfg.normalize)),
    ]
    if cfg.exact_dedup.enabled:
        stages.append(("ExactDedup", DeduplicateExact(cfg.exact_dedup, compress)))
    stages += [("IdentifyLanguage", IdentifyLanguage(cfg.langid)), ("FilterRules", FilterRules(cfg.rules))]
    if cfg.safety.enabled:
        stages.append(("FilterSafety", FilterSafety(cfg.safety)))
    if quality is not None and quality.enabled:   # before near-dedup: its survivor rule reads quality_score
        stages.append(("ScoreQuality", ScoreQuality(quality)))
    if cfg.near_dedup.enabled:
        stages.append(("NearDedup", DeduplicateNearDuplicates(cfg.near_dedup, compress)))
    if cfg.exact_dedup.paragraphs:
        # After document-level dedup: removing shared paragraphs first would turn near-duplicate copies
        # into unrelated fragments that near-dedup can no longer match.
        stages.append(("ParagraphDedup", DeduplicateParagraphs(cfg.exact_dedup.paragraph_unit,
                                                               cfg.exact_dedup.paragraph_min_chars, compress)))
    if cfg.decontam.enabled and cfg.decontam.eval_sets:   # last: it sees the text that is kept
        stages.append(("Decontaminate", Decontaminate(cfg.decontam)))
    for label, transform in stages:
        out = docs | label >> transform
        docs = out["kept"]
        dropped[label] = out[transform.REJECTED]
        if isinstance(transform, DeduplicateNearDuplicates) and cfg.near_dedup.audit_clusters:
            _ = out[transform.AUDIT] | "WriteDedupAudit" >> beam.Map(
                write_json, f"{output}/{AUDIT_FILE}")

    seed, fraction = cfg.run.seed, cfg.run.rejected_text_fraction
    dead = read[ReadDocuments.REJECTED] | "SampleDeadLetterText" >> beam.Map(_keep_text_sample, seed, fraction)
    # Each stage's drops are turned into what they become (Rejected rows, examples) where they are produced,
    # fused with the stage: a multi-input Flatten is a materialized copy in Beam's FnApiRunner (unless it feeds
    # only a GroupByKey, as the writer's does: pipeline/local_runner.py), so the drops
    # are flattened once, at the writer, as bytes (transforms/parquet_out.py), never as Documents.
    if cfg.run.examples_per_reason:
        _ = {DEAD: read[ReadDocuments.REJECTED], **dropped} | "DropExamples" >> _DropExamples(
            seed, cfg.run.examples_per_reason, cfg.run.example_chars, f"{output}/{EXAMPLES_FILE}")
    if cfg.run.mode == "annotate":   # every readable document stays in curated/, with its decision
        curated = {"Kept": docs, **dropped}
        rejected = {DEAD: dead}
    else:
        curated = {"Kept": docs}
        rejected = {DEAD: dead, **{label: pc | f"{label}ToRejected" >> beam.Map(_to_rejected, seed, fraction)
                                   for label, pc in dropped.items()}}
    parts = cfg.run.parts
    # the tokenizer's sample and held-out documents, picked where curated/ is written (transforms/tokenizer_sample.py)
    train = cfg.tokenizer.train
    cells = docs | "SampleCells" >> CountSampleCells(train, f"{output}/{CELLS_FILE}",
                                                     heldout_only=cfg.tokenizer.model is not None)
    sample_rows = (SampleRowsWriter(train, f"{output}/{SAMPLE_DIR}"), beam.pvalue.AsSingleton(cells))
    # and the report's counts of each part, beside it (pipeline/report_stats.py)
    cleaned = cfg.decontam.enabled and bool(cfg.decontam.eval_sets)
    summary = {kind: (PartSummaryWriter(output, kind, cleaned), None) for kind in KINDS}
    _ = curated | "WriteCurated" >> WriteParquetParts(f"{output}/curated", parts, "curated", seed, compress,
                                                      per_part=[sample_rows, summary["curated"]])
    _ = rejected | "WriteRejected" >> WriteParquetParts(f"{output}/rejected", parts, "rejected", seed, compress,
                                                        per_part=[summary["rejected"]])
    _ = (
        read[ReadDocuments.COUNTS]
        | "AllCounts" >> beam.combiners.ToList()
        | "CountRows" >> beam.Map(_counts_json)
        | "WriteCounts" >> beam.Map(write_json, f"{output}/counts/records_read.json")
    )


def curated_row_groups(path: str) -> list[tuple[str, int]]:
    """(path, row group) of one curated part: the mixing job's unit of parallel reading."""
    with FileSystems.open(path) as fh:
        return [(path, k) for k in range(pq.ParquetFile(fh).num_row_groups)]


def read_curated_rows(unit: tuple[str, int]) -> Iterator[dict[str, Any]]:
    """Kept documents of one row group of a curated part (annotate mode also stores dropped ones: skip them)."""
    path, group = unit
    with FileSystems.open(path) as fh:
        table = pq.ParquetFile(fh).read_row_group(group, columns=CURATED_COLUMNS)
    for row in table.to_pylist():
        if row["decision"] == KEEP:
            yield row


def curated_parts(output: str, parts: int) -> list[str]:
    """This run's curated parts (a rerun with another `run.parts` leaves other files behind)."""
    paths = [part_path(f"{output}/curated", k, parts) for k in range(parts)]
    missing = [p for p in paths if not FileSystems.exists(p)]
    if missing:
        raise RuntimeError(f"curation job did not write {missing[0]}")
    return paths


def build_mixing(p: beam.Pipeline, cfg: PipelineConfig, output: str, tokenizer: Tokenizer,
                 parts: Iterable[str], ledger: Ledger | None = None,
                 write: Iterable[str] | None = None) -> None:
    """`ledger`: what earlier runs' phases consumed (`mix.previous`, pipeline/manifest.py). `write`: the
    phases to pack and write (default all; a resumed run skips the phases that are up to date). The plan
    always covers every phase: each phase's selection depends on what the earlier ones consumed."""
    rows = (
        p
        | "CuratedParts" >> beam.Create(sorted(parts))
        | "RowGroups" >> beam.FlatMap(curated_row_groups)
        | "SpreadRowGroups" >> beam.Reshuffle()   # a row group is the unit of work, not a part
        | "ReadCurated" >> beam.FlatMap(read_curated_rows)     # dict rows, decision == keep
    )
    tokens = rows | "Tokenize" >> TokenizeDocuments(tokenizer)  # TokenizedDoc
    mixed = tokens | "MixPhases" >> MixPhases(cfg.phases, cfg.mix, ledger)
    _ = mixed["plan"] | "WritePlan" >> beam.Map(write_json, f"{output}/phases/plan.json")
    _ = (  # exact tokens of curated/ per source and language, for the report's funnel
        tokens
        | "TokensBySourceLang" >> beam.Map(lambda d: ((d.source, d.lang or "und"), (1, d.n_tokens)))
        | "SumTokens" >> beam.CombinePerKey(_sum_pairs)
        | "AllTokenCounts" >> beam.combiners.ToList()
        | "TokenCountsJson" >> beam.Map(_token_counts_json)
        | "WriteTokenCounts" >> beam.Map(write_json, f"{output}/{CURATED_TOKENS_FILE}"))
    names = {ph.name for ph in cfg.phases} if write is None else set(write)
    phases = tuple(ph for ph in cfg.phases if ph.name in names)
    assigned = mixed["assigned"]
    if len(phases) < len(cfg.phases):
        assigned = assigned | "OnlyPhasesToWrite" >> beam.Filter(lambda kv, keep: kv[0][0] in keep, names)
    packed = assigned | "Pack" >> PackSequences(phases, cfg.mix.seed, tokenizer.pad_id, compress_shuffles(p))
    _ = packed | "WriteShards" >> WriteArrowShards(output, phases)
