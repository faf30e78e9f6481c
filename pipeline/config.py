"""The run config: YAML parsed once, at the edge, into frozen dataclasses.

Unknown keys, wrong types and invalid values raise `ConfigError` with one line naming the key. Each stage
receives only its own section. Paths (sources, models) are resolved relative to the config file unless
absolute or remote (`scheme://`). `langid.model: null` resolves to the lid.176.ftz fetched at set-up
(`curate fetch-models`); `langid.keep: all` keeps every language.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from pipeline.models import default_lid_model
from pipeline.train_quality import TrainQualityConfig
from tokenizer.train import TokenizerTrainConfig
from transforms.decontam import DecontamConfig
from transforms.exact_dedup import ExactDedupConfig
from transforms.extract import ExtractConfig
from transforms.langid import LangIdConfig
from transforms.mix import MixConfig, PhaseConfig, check_phases
from transforms.near_dedup import NearDedupConfig
from transforms.normalize import NormalizeConfig
from transforms.quality import DEFAULT_MAX_CHARS, QualityConfig
from transforms.read import ReadConfig, SourceConfig
from transforms.rules import RulesConfig
from transforms.safety import SafetyConfig
from transforms.urls import UrlsConfig

MODES = ("filter", "annotate")


class ConfigError(ValueError):
    """A config problem a user can fix; the message names the key."""


@dataclasses.dataclass(frozen=True)
class RunConfig:
    name: str = "run"
    seed: int = 20231
    mode: str = "filter"              # filter | annotate (keep every readable document, record the decision)
    parts: int = 4                    # Parquet parts of curated/ and rejected/
    rejected_text_fraction: float = 0.01  # deterministic share of rejects that keep their text, per reason
    examples_per_reason: int = 3      # dropped documents shown per stage:reason in the report (seeded sample)
    example_chars: int = 300          # characters of each example's text

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"run.mode must be one of {MODES}, got {self.mode!r}")
        if self.parts < 1:
            raise ValueError(f"run.parts must be >= 1, got {self.parts}")
        if not 0.0 <= self.rejected_text_fraction <= 1.0:
            raise ValueError("run.rejected_text_fraction must be in [0, 1]")
        if self.examples_per_reason < 0 or self.example_chars < 0:
            raise ValueError("run.examples_per_reason and run.example_chars must be >= 0")


@dataclasses.dataclass(frozen=True)
class TokenizerConfig:
    model: str | None = None          # null = train from curated/ into the run's output
    train: TokenizerTrainConfig = TokenizerTrainConfig()


@dataclasses.dataclass(frozen=True)
class QualitySection:
    """`quality:` of the config. The stage is off unless `model` names a trained classifier or `train`
    says what to train it on (the run then trains it into <output>/quality/ first: explicit in the config,
    never a silent default)."""

    model: str | None = None
    train: TrainQualityConfig | None = None
    threshold: float | None = None        # drop documents with quality_score < threshold
    top_fraction: float | None = None     # or keep the top fraction of each source
    max_chars: int = DEFAULT_MAX_CHARS
    batch_size: int = 64
    sources: tuple[str, ...] = ()         # sources the classifier applies to (empty = all)

    def __post_init__(self) -> None:
        if self.model is not None and self.train is not None:
            raise ValueError("quality: set model (a trained classifier) or train, not both")
        if self.train is not None and self.train.max_chars != self.max_chars:
            raise ValueError(f"quality.max_chars ({self.max_chars}) must equal quality.train.max_chars "
                             f"({self.train.max_chars})")
        self.stage(self.model or ("<trained in the run>" if self.train else None))  # validates the rest

    def stage(self, model: str | None) -> QualityConfig:
        return QualityConfig(model=model, threshold=self.threshold, top_fraction=self.top_fraction,
                             max_chars=self.max_chars, batch_size=self.batch_size, sources=self.sources)


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    sources: tuple[SourceConfig, ...]
    phases: tuple[PhaseConfig, ...]
    langid: LangIdConfig
    run: RunConfig = RunConfig()
    read: ReadConfig = ReadConfig()
    urls: UrlsConfig = UrlsConfig()
    extract: ExtractConfig = ExtractConfig()
    normalize: NormalizeConfig = NormalizeConfig()
    exact_dedup: ExactDedupConfig = ExactDedupConfig()
    rules: RulesConfig = RulesConfig()
    safety: SafetyConfig = SafetyConfig()
    quality: QualitySection = QualitySection()
    near_dedup: NearDedupConfig = NearDedupConfig()
    decontam: DecontamConfig = DecontamConfig()
    tokenizer: TokenizerConfig = TokenizerConfig()
    mix: MixConfig = MixConfig()

    def __post_init__(self) -> None:
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names):
            raise ValueError(f"sources: duplicate source names in {names}")
        for phase in self.phases:
            for source in phase.weights:
                if source not in names:
                    raise ValueError(f"phases.{phase.name}.weights: unknown source {source!r}; known: {names}")
        for source in self.rules.by_source:
            if source not in names:
                raise ValueError(f"rules.by_source: unknown source {source!r}; known: {names}")
        for source in self.quality.sources:
            if source not in names:
                raise ValueError(f"quality.sources: unknown source {source!r}; known: {names}")
        if len({p.name for p in self.phases}) != len(self.phases):
            raise ValueError("phases: duplicate phase names")
        check_phases(self.phases, self.mix)  # phases.<name>.tiers against mix.quality_tiers


# ---------------------------------------------------------------- generic typed loading

def _convert(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(inner, value, where)
    if dataclasses.is_dataclass(tp):
        return build(tp, value, where)
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"{where} must be a list, got {type(value).__name__}")
        inner = typing.get_args(tp)[0]
        return tuple(_convert(inner, v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin in (Mapping, dict, typing.Mapping):
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a mapping, got {type(value).__name__}")
        ktp, vtp = typing.get_args(tp)
        for k in value:
            if not isinstance(k, ktp) or isinstance(k, bool):  # YAML 1.1 reads `no:` as False
                raise ConfigError(f"{where}: key {k!r} must be {ktp.__name__} (quote it in YAML)")
        return {k: _convert(vtp, v, f"{where}.{k}") for k, v in value.items()}
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float, str, bool):
        if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
            raise ConfigError(f"{where} must be {tp.__name__}, got {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported type {tp}")


def build(cls: type, data: Any, where: str) -> Any:
    """Instantiate dataclass `cls` from a mapping, rejecting unknown keys and wrong types."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            raise ConfigError(f"unknown config key {where}.{key} (known: {', '.join(sorted(fields))})"
                              if where else f"unknown config key {key} (known: {', '.join(sorted(fields))})")
    kwargs = {name: _convert(hints[name], value, f"{where}.{name}" if where else name)
              for name, value in data.items()}
    for name, f in fields.items():
        if name not in data and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"missing config key {where}.{name}" if where else f"missing config key {name}")
    try:
        return cls(**kwargs)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


# ---------------------------------------------------------------- resolution

def _is_remote(path: str) -> bool:
    return "://" in path


def resolve_path(path: str, base: Path) -> str:
    if _is_remote(path) or os.path.isabs(path):
        return path
    return str((base / path).resolve())


def load_config(path: str | os.PathLike) -> PipelineConfig:
    config_path = Path(path)
    try:
        raw = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {config_path}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config {config_path} is not valid YAML: {exc}".replace("\n", " ")) from None
    if not isinstance(raw, dict):
        raise ConfigError(f"config {config_path} must be a mapping at the top level")
    return config_from_dict(raw, config_path.resolve().parent)


def config_from_dict(raw: dict, base: Path) -> PipelineConfig:
    raw = copy.deepcopy(raw)
    for i, src in enumerate(raw.get("sources") or []):
        if isinstance(src, dict) and isinstance(src.get("paths"), list):
            src["paths"] = [resolve_path(p, base) if isinstance(p, str) else p for p in src["paths"]]
        elif not isinstance(src, dict):
            raise ConfigError(f"sources[{i}] must be a mapping")
    langid = raw.setdefault("langid", {}) or {}
    raw["langid"] = langid
    if not isinstance(langid, dict):
        raise ConfigError("langid must be a mapping")
    if langid.get("keep") == "all":
        langid["keep"] = None
    model = langid.get("model")
    langid["model"] = default_lid_model() if model is None else (
        resolve_path(model, base) if isinstance(model, str) else model)
    urls = raw.get("urls")
    if isinstance(urls, dict) and isinstance(urls.get("blocklists"), list):
        urls["blocklists"] = [resolve_path(p, base) if isinstance(p, str) else p for p in urls["blocklists"]]
    _merge_language_rules(raw.get("rules"))
    safety = raw.get("safety")
    if isinstance(safety, dict) and isinstance(safety.get("word_blocklists"), dict):
        safety["word_blocklists"] = {name: resolve_path(p, base) if isinstance(p, str) else p
                                     for name, p in safety["word_blocklists"].items()}
    decontam = raw.get("decontam")
    if isinstance(decontam, dict) and isinstance(decontam.get("eval_sets"), dict):
        decontam["eval_sets"] = {name: [resolve_path(p, base) if isinstance(p, str) else p for p in paths]
                                 if isinstance(paths, list) else paths
                                 for name, paths in decontam["eval_sets"].items()}
    quality = raw.get("quality")
    if isinstance(quality, dict):
        if isinstance(quality.get("model"), str):
            quality["model"] = resolve_path(quality["model"], base)
        train = quality.get("train")
        for key in ("labelled", "positive", "negative"):
            if isinstance(train, dict) and isinstance(train.get(key), list):
                train[key] = [resolve_path(p, base) if isinstance(p, str) else p for p in train[key]]
    tok = raw.get("tokenizer")
    if isinstance(tok, dict) and isinstance(tok.get("model"), str):
        tok["model"] = resolve_path(tok["model"], base)
    mix = raw.get("mix")  # mix.previous: earlier run outputs, relative to the config file like every path
    if isinstance(mix, dict) and isinstance(mix.get("previous"), list):
        mix["previous"] = [resolve_path(p, base) if isinstance(p, str) else p for p in mix["previous"]]
    return build(PipelineConfig, raw, "")


def _merge_language_rules(rules: Any) -> None:
    """`rules.by_language.<lang>.<rule set>` holds only the fields that differ for that language: fill in
    the rest from the top-level `rules.<rule set>` (the user's, else the defaults), in place."""
    if not isinstance(rules, dict) or not isinstance(rules.get("by_language"), dict):
        return
    for sections in rules["by_language"].values():
        if not isinstance(sections, dict):
            continue
        for name, override in sections.items():
            base = rules.get(name)
            if isinstance(override, dict) and isinstance(base, dict):
                sections[name] = {**base, **override}


def to_dict(obj: Any) -> Any:
    """JSON-ready form of a config (tuples -> lists, mapping keys -> str)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, Mapping):
        return {str(k): to_dict(v) for k, v in obj.items()}
    return obj


def section_hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(to_dict(obj), sort_keys=True).encode()).hexdigest()[:16]
