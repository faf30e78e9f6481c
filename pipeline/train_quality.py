"""`curate train-quality`: train the fastText quality classifier that transforms/quality.py applies.

Inputs: JSONL files, either `labelled` (a `label_field` per record: `positive_label` is high quality,
any other value low quality) or `positive` + `negative` files (every record of a file has its label).
Bad records (invalid JSON or UTF-8, not an object, no string `text_field`, text empty after the features,
no `label_field`) are skipped and counted per file and reason; blank lines are not records.

Split: a record goes to the held-out set iff a seeded hash of its text is below `holdout_fraction`, so the
same inputs give the same split and duplicates of a text never straddle it. Training lines are ordered by
a seeded hash too (fastText does not shuffle: files of all positives then all negatives would train
badly), which makes the model independent of the order of the inputs.

Training: `fasttext.train_supervised` on `quality_features(text, max_chars)` lines labelled `__label__hq`
/ `__label__lq`, softmax loss, one thread (fastText's threads race on shared weights, so more than one
makes the model nondeterministic). One thread is not enough: fastText fills the input matrix with random
values in ten blocks, one per thread up to ten, so with one thread only the first tenth of its rows is
initialized (facebookresearch/fastText#1061; upstream leaves the rest at zero) and the fasttext-numpy2
build leaves the rest as whatever bytes malloc returns: measured, two trainings in one process wrote
different models (row 2,056 of 20,563 on: zeros once, stale Python strings the next time). So training
runs with glibc's M_PERTURB set (`mallopt`), which makes every block malloc returns start as zero bytes:
the upstream behaviour, and two trainings on the same inputs write byte-identical `.bin` files (tested
with a dirtied heap). Where `mallopt` is missing (not glibc) a warning is logged and the sidecar says
`zero_filled_init: false`. Model size is about (vocabulary + `bucket`) x `dim` x 4 bytes.

Evaluation on the held-out split: precision, recall and F1 of the positive class at P(hq) >= 0.5, with
the confusion counts. Written: the model (`output_path`) and its sidecar `<output_path>.json` (inputs
with sha256 and per-label record counts, skipped records, hyperparameters, held-out metrics, versions,
the config); no timestamps, so the sidecar is as reproducible as the model.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import gzip
import importlib.metadata
import json
import logging
import os
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipeline.models import sha256_file
from transforms.hashing import hash64, unit_interval
from transforms.quality import (
    DEFAULT_MAX_CHARS,
    FEATURES_VERSION,
    HQ_LABEL,
    LQ_LABEL,
    hq_probabilities,
    quality_features,
    sidecar_path,
)

log = logging.getLogger(__name__)

HQ, LQ = "hq", "lq"
_M_PERTURB = -6                  # glibc malloc.h: fill malloc'd blocks with ~value (0xFF -> zero bytes)
THREADS = 1                      # deterministic training (see the module docstring)
SIDECAR_FORMAT = "multiphase-curation/quality-model/v1"
_PACKAGES = ("fasttext-numpy2", "multiphase-curation")


class TrainQualityError(ValueError):
    """A problem with the training inputs a user can fix; one line."""


@dataclasses.dataclass(frozen=True)
class TrainQualityConfig:
    labelled: tuple[str, ...] = ()        # JSONL with text_field and label_field
    positive: tuple[str, ...] = ()        # JSONL whose records are all high quality
    negative: tuple[str, ...] = ()        # JSONL whose records are all low quality
    text_field: str = "text"
    label_field: str = "label"
    positive_label: str = "hq"            # in labelled files; any other label value is negative
    holdout_fraction: float = 0.1
    max_chars: int = DEFAULT_MAX_CHARS    # characters of each text read (the scoring stage must match)
    epoch: int = 5
    lr: float = 0.1
    word_ngrams: int = 2
    dim: int = 64
    min_count: int = 1
    bucket: int = 200_000                 # hashed word n-gram rows (fastText's default 2M is 0.5 GB at dim 64)
    seed: int = 20231                     # fastText's seed, the hold-out split and the training order

    def __post_init__(self) -> None:
        if self.labelled and (self.positive or self.negative):
            raise ValueError("train_quality: give either labelled or positive + negative files, not both")
        if not self.labelled and not (self.positive and self.negative):
            raise ValueError("train_quality: give labelled files, or both positive and negative files")
        if not 0.0 <= self.holdout_fraction < 1.0:
            raise ValueError(f"train_quality.holdout_fraction must be in [0, 1), got {self.holdout_fraction}")
        if self.max_chars < 1:
            raise ValueError(f"train_quality.max_chars must be >= 1, got {self.max_chars}")
        for name in ("epoch", "word_ngrams", "dim", "min_count"):
            if getattr(self, name) < 1:
                raise ValueError(f"train_quality.{name} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"train_quality.lr must be > 0, got {self.lr}")
        if self.bucket < (1 if self.word_ngrams > 1 else 0):
            raise ValueError(f"train_quality.bucket must be >= 1 with word_ngrams > 1, got {self.bucket}")
        for name in ("text_field", "label_field", "positive_label"):
            if not getattr(self, name):
                raise ValueError(f"train_quality.{name} must be non-empty")


@dataclasses.dataclass(frozen=True)
class Example:
    label: str        # HQ or LQ
    text: str         # as read (the split and order hash it)
    features: str     # quality_features(text)


# ---------------------------------------------------------------- reading

def _lines(path: str) -> Iterator[bytes]:
    """The lines of a JSONL file, gzip-compressed when the name ends in .gz."""
    with (gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")) as fh:
        yield from fh


def _parse(line: bytes, cfg: TrainQualityConfig, fixed_label: str | None) -> tuple[str | None, str | None, str]:
    """(label, text, "") of a record, or (None, None, reason it is skipped)."""
    try:
        record = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        return None, None, "invalid_utf8"
    except ValueError:
        return None, None, "invalid_json"
    if not isinstance(record, dict):
        return None, None, "not_an_object"
    text = record.get(cfg.text_field)
    if not isinstance(text, str):
        return None, None, "missing_text"
    if fixed_label is not None:
        return fixed_label, text, ""
    value = record.get(cfg.label_field)
    if value is None:
        return None, None, "missing_label"
    return (HQ if str(value) == cfg.positive_label else LQ), text, ""


def read_examples(cfg: TrainQualityConfig) -> tuple[list[Example], list[dict[str, Any]]]:
    """Every usable record of every input, and one summary per input file (role, path, sha256,
    records per label, skipped records per reason)."""
    inputs = [("labelled", p, None) for p in cfg.labelled]
    inputs += [("positive", p, HQ) for p in cfg.positive] + [("negative", p, LQ) for p in cfg.negative]
    for _, path, _ in inputs:
        if not os.path.isfile(path):
            raise TrainQualityError(f"train-quality: input file not found: {path}")
    examples: list[Example] = []
    summaries: list[dict[str, Any]] = []
    for role, path, fixed in inputs:
        records: Counter[str] = Counter({HQ: 0, LQ: 0})
        skipped: Counter[str] = Counter()
        for line in _lines(path):
            if not line.strip():
                continue
            label, text, reason = _parse(line, cfg, fixed)
            features = quality_features(text, cfg.max_chars) if text is not None else ""
            if text is not None and not features:
                reason = "empty_text"
            if reason:
                skipped[reason] += 1
                continue
            records[label] += 1
            examples.append(Example(label, text, features))
        summaries.append({"role": role, "path": path, "sha256": sha256_file(path),  # of the file as stored
                          "records": dict(sorted(records.items())), "skipped": dict(sorted(skipped.items()))})
    return examples, summaries


def split(examples: list[Example], cfg: TrainQualityConfig) -> tuple[list[Example], list[Example]]:
    """(train, held out): held out iff a seeded hash of the text is below holdout_fraction; each part in
    a seeded-hash order (ties, i.e. duplicate texts, by label then features)."""
    def order(e: Example) -> tuple[int, str, str]:
        return hash64(cfg.seed, "train_quality_order", e.text), e.label, e.features

    train, held = [], []
    for e in examples:
        (held if unit_interval(cfg.seed, "train_quality_holdout", e.text) < cfg.holdout_fraction else train).append(e)
    return sorted(train, key=order), sorted(held, key=order)


# ---------------------------------------------------------------- training and evaluation

def _counts(examples: list[Example]) -> dict[str, int]:
    c = Counter(e.label for e in examples)
    return {HQ: c[HQ], LQ: c[LQ]}


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 6) if den else None


def evaluate(model: Any, held: list[Example]) -> dict[str, Any]:
    """Precision, recall and F1 of the positive class at P(hq) >= 0.5, with the confusion counts."""
    probs = hq_probabilities(model, [e.features for e in held])
    tp = sum(1 for e, p in zip(held, probs, strict=True) if e.label == HQ and p >= 0.5)
    fp = sum(1 for e, p in zip(held, probs, strict=True) if e.label == LQ and p >= 0.5)
    fn = sum(1 for e, p in zip(held, probs, strict=True) if e.label == HQ and p < 0.5)
    tn = len(held) - tp - fp - fn
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    f1 = (round(2 * precision * recall / (precision + recall), 6)
          if precision is not None and recall is not None and precision + recall > 0 else None)
    return {"threshold": 0.5, "precision": precision, "recall": recall, "f1": f1,
            "accuracy": _ratio(tp + tn, len(held)), "tp": tp, "fp": fp, "fn": fn, "tn": tn,
            "holdout": _counts(held)}


def hyperparameters(cfg: TrainQualityConfig) -> dict[str, Any]:
    """fastText's arguments, named as fastText names them."""
    return {"epoch": cfg.epoch, "lr": cfg.lr, "wordNgrams": cfg.word_ngrams, "dim": cfg.dim,
            "minCount": cfg.min_count, "bucket": cfg.bucket, "seed": cfg.seed, "thread": THREADS,
            "loss": "softmax"}


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


@contextlib.contextmanager
def zero_filled_allocations() -> Iterator[bool]:
    """Within the block, every block glibc's malloc returns starts as zero bytes (True), so fastText's
    uninitialized input-matrix rows are zeros, not stale memory; False where mallopt is unavailable."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
        ok = mallopt(_M_PERTURB, 0xFF) == 1
    except (OSError, AttributeError, TypeError):
        ok = False
    try:
        yield ok
    finally:
        if ok:
            mallopt(_M_PERTURB, 0)


def train_quality(cfg: TrainQualityConfig, output_path: str) -> dict[str, Any]:
    """Trains, evaluates on the held-out split, writes the model and its sidecar; returns the held-out
    metrics. Raises TrainQualityError for a missing input or a class without examples."""
    import fasttext

    examples, inputs = read_examples(cfg)
    total = _counts(examples)
    for label, name in ((HQ, "positive"), (LQ, "negative")):
        if not total[label]:
            if cfg.labelled:
                which = "==" if label == HQ else "!="
                where = f"records with {cfg.label_field} {which} {cfg.positive_label!r} in the labelled files"
            else:
                where = f"usable records in the {name} files"
            raise TrainQualityError(f"train-quality: no {name} examples: no {where}")
    train, held = split(examples, cfg)
    for label, name in ((HQ, "positive"), (LQ, "negative")):
        if not _counts(train)[label]:
            raise TrainQualityError(f"train-quality: no {name} examples left for training after the "
                                    f"hold-out split (holdout_fraction {cfg.holdout_fraction})")
    Path(output_path).parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="train_quality_") as tmp:
        train_file = os.path.join(tmp, "train.txt")
        with open(train_file, "w", encoding="utf-8") as fh:
            for e in train:
                fh.write(f"{HQ_LABEL if e.label == HQ else LQ_LABEL} {e.features}\n")
        with zero_filled_allocations() as zero_filled:
            model = fasttext.train_supervised(
                input=train_file, epoch=cfg.epoch, lr=cfg.lr, wordNgrams=cfg.word_ngrams, dim=cfg.dim,
                minCount=cfg.min_count, bucket=cfg.bucket, seed=cfg.seed, thread=THREADS, loss="softmax",
                verbose=0)
    if not zero_filled:
        log.warning("train-quality: mallopt(M_PERTURB) is unavailable (not glibc): 9/10 of the input matrix "
                    "starts as uninitialized memory, so the model may differ between trainings")
    metrics = evaluate(model, held)
    metrics["train"] = _counts(train)
    model.save_model(output_path)
    skipped: Counter[str] = Counter()
    for summary in inputs:
        skipped.update(summary["skipped"])
    sidecar = {
        "format": SIDECAR_FORMAT,
        "model": {"file": os.path.basename(output_path), "sha256": sha256_file(output_path),
                  "labels": {"positive": HQ_LABEL, "negative": LQ_LABEL}},
        "features": {"function": "transforms.quality.quality_features", "version": FEATURES_VERSION,
                     "max_chars": cfg.max_chars},
        "inputs": inputs,
        "examples": {"total": total, "train": metrics["train"], "holdout": metrics["holdout"]},
        "skipped": dict(sorted(skipped.items())),
        "split": {"holdout_fraction": cfg.holdout_fraction, "by": "seeded hash of the text", "seed": cfg.seed},
        "hyperparameters": hyperparameters(cfg),
        "zero_filled_init": zero_filled,
        "holdout_metrics": metrics,
        "versions": _versions(),
        "config": dataclasses.asdict(cfg),
    }
    with open(sidecar_path(output_path), "w", encoding="utf-8") as fh:
        json.dump(sidecar, fh, indent=2, sort_keys=True, ensure_ascii=False)
        fh.write("\n")
    return metrics
