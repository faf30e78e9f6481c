"""train_sentencepiece: a lossless, deterministic SentencePiece BPE tokenizer from curated documents.

Lossless (DESIGN.md, Tokenizer): identity normalization, no whitespace removal, no dummy prefix,
whitespace-only pieces allowed, "\\n" and "\\t" as user-defined pieces, byte fallback for everything
else, so `decode(encode(text)) == text` for code and whitespace too. Deterministic: the sample is chosen
by a seeded hash of document ids (not by file order), fed in sorted order through `sentence_iterator`
(so no temp-file path is recorded in the model), and the thread count comes from the config, since
SentencePiece's result depends on it.
Sampling across languages: each language's share of the sample is proportional to its share of the
corpus raised to 1/temperature (temperature 1 = natural mix; higher gives small languages more pieces).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping

from transforms.hashing import hash64

log = logging.getLogger(__name__)
MODEL_TYPES = ("bpe", "unigram")


@dataclasses.dataclass(frozen=True)
class TokenizerTrainConfig:
    vocab_size: int = 8000
    model_type: str = "bpe"
    sample_chars: int = 50_000_000
    temperature: float = 1.0
    character_coverage: float = 0.9995   # high enough for the long tail of Chinese characters
    split_digits: bool = True
    byte_fallback: bool = True
    user_defined_symbols: tuple[str, ...] = ("\n", "\t")
    num_threads: int = 2
    seed: int = 20231

    def __post_init__(self) -> None:
        if self.model_type not in MODEL_TYPES:
            raise ValueError(f"tokenizer.train.model_type must be one of {MODEL_TYPES}, got {self.model_type!r}")
        if not 300 <= self.vocab_size <= 1_000_000:
            raise ValueError(f"tokenizer.train.vocab_size must be in [300, 1000000], got {self.vocab_size}")
        if self.temperature <= 0:
            raise ValueError(f"tokenizer.train.temperature must be > 0, got {self.temperature}")


def language_budgets(chars_by_lang: Mapping[str, int], total: int, temperature: float) -> dict[str, int]:
    """Characters to sample per language: share ~ (corpus share) ** (1 / temperature)."""
    corpus = sum(chars_by_lang.values())
    if corpus == 0:
        return {}
    weights = {lang: (n / corpus) ** (1.0 / temperature) for lang, n in chars_by_lang.items()}
    norm = sum(weights.values())
    return {lang: min(chars_by_lang[lang], int(total * w / norm)) for lang, w in sorted(weights.items())}


def select_sample(docs: Iterable[tuple[str, str, str]], cfg: TokenizerTrainConfig) -> list[str]:
    """Texts of the training sample from (id, lang, text), in a deterministic order."""
    by_lang: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
    for doc_id, lang, text in docs:
        by_lang[lang].append((hash64(cfg.seed, doc_id), doc_id, text))
    budgets = language_budgets({k: sum(len(t) for *_, t in v) for k, v in by_lang.items()},
                               cfg.sample_chars, cfg.temperature)
    sample = []
    for lang in sorted(by_lang):
        taken = 0
        for _, _, text in sorted(by_lang[lang]):
            if taken >= budgets[lang]:
                break
            sample.append(text)
            taken += len(text)
    return sample


def _sentences(texts: list[str]) -> list[str]:
    return [line for text in texts for line in text.split("\n") if line]


def sample_info(texts: list[str], cfg: TokenizerTrainConfig) -> dict:
    """What the sidecar records about a training sample; equal info means an identical model."""
    digest = hashlib.sha256()
    sentences = _sentences(texts)
    for s in sentences:
        digest.update(s.encode("utf-8") + b"\n")
    return {
        "train_config": json.loads(json.dumps(dataclasses.asdict(cfg))),
        "sample": {"documents": len(texts), "sentences": len(sentences),
                   "chars": sum(len(t) for t in texts), "sha256": digest.hexdigest()},
    }


def train_sentencepiece(texts: list[str], cfg: TokenizerTrainConfig) -> tuple[bytes, dict]:
    """(model bytes, sidecar dict). Each line of each text is one SentencePiece sentence."""
    import sentencepiece as spm

    writer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(_sentences(texts)), model_writer=writer, model_type=cfg.model_type,
        vocab_size=cfg.vocab_size, character_coverage=cfg.character_coverage,
        normalization_rule_name="identity", remove_extra_whitespaces=False, add_dummy_prefix=False,
        allow_whitespace_only_pieces=True, split_digits=cfg.split_digits, byte_fallback=cfg.byte_fallback,
        user_defined_symbols=list(cfg.user_defined_symbols), unk_id=0, bos_id=1, eos_id=2, pad_id=3,
        num_threads=cfg.num_threads, max_sentence_length=1 << 20, input_sentence_size=0,
        shuffle_input_sentence=False, hard_vocab_limit=False, minloglevel=2,
    )
    return writer.getvalue(), {**sample_info(texts, cfg), "sentencepiece_version": spm.__version__}


def sidecar_json(sidecar: dict) -> str:
    return json.dumps(sidecar, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
