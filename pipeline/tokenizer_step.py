"""The tokenizer stage boundary: copy the configured model, or train one from curated/ once.

`tokenizer.model: null` trains on a sample of curated documents (tokenizer/train.py) into
`<output>/tokenizer/`; a rerun whose sample and training config are unchanged reuses the model there.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable

import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from pipeline.config import ConfigError, TokenizerConfig
from tokenizer.train import sample_info, select_sample, sidecar_json, train_sentencepiece
from tokenizer.wrapper import Tokenizer
from transforms.document import KEEP

log = logging.getLogger(__name__)
MODEL_FILE = "tokenizer/tokenizer.model"
SIDECAR_FILE = "tokenizer/tokenizer.json"


def _curated_docs(parts: Iterable[str]) -> list[tuple[str, str, str]]:
    docs = []
    for path in parts:
        with FileSystems.open(path) as fh:
            table = pq.read_table(fh, columns=["id", "lang", "text", "decision"])
        docs += [(r["id"], r["lang"] or "und", r["text"]) for r in table.to_pylist() if r["decision"] == KEEP]
    return docs


def _read(path: str) -> bytes | None:
    if not FileSystems.exists(path):
        return None
    with FileSystems.open(path) as fh:
        return fh.read()


def _write(path: str, data: bytes) -> None:
    with FileSystems.create(path) as fh:
        fh.write(data)


def prepare_tokenizer(cfg: TokenizerConfig, output: str, parts: Iterable[str]) -> Tokenizer:
    model_path, sidecar_path = f"{output}/{MODEL_FILE}", f"{output}/{SIDECAR_FILE}"
    if cfg.model is not None:
        tok = Tokenizer.from_file(cfg.model)
        if problems := tok.problems():
            raise ConfigError(f"tokenizer.model {cfg.model}: " + "; ".join(problems))
        _write(model_path, tok.model_bytes)
        _write(sidecar_path, sidecar_json({"copied_from": cfg.model, "sha256": tok.sha256}).encode())
        return tok
    sample = select_sample(_curated_docs(parts), cfg.train)
    if not sample:
        raise RuntimeError("no curated documents to train the tokenizer on (every document was dropped?)")
    existing_model, existing_sidecar = _read(model_path), _read(sidecar_path)
    if existing_model and existing_sidecar:
        probe, old = sample_info(sample, cfg.train), json.loads(existing_sidecar)
        if old.get("sample") == probe["sample"] and old.get("train_config") == probe["train_config"]:
            log.info("tokenizer: reusing %s (same sample and training config)", model_path)
            return Tokenizer(existing_model)
    model, sidecar = train_sentencepiece(sample, cfg.train)
    _write(model_path, model)
    _write(sidecar_path, sidecar_json(sidecar).encode())
    return Tokenizer(model)
