"""Tokenizer: a thin, picklable wrapper over a SentencePiece model (loaded lazily, once per process)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np


class Tokenizer:
    def __init__(self, model_bytes: bytes) -> None:
        self._bytes = model_bytes
        self._sp = None

    @classmethod
    def from_file(cls, path: str) -> Tokenizer:
        from apache_beam.io.filesystems import FileSystems

        with FileSystems.open(path) as fh:
            return cls(fh.read())

    def __getstate__(self) -> dict:
        return {"_bytes": self._bytes, "_sp": None}

    @property
    def sp(self):  # noqa: ANN201 - sentencepiece has no type stubs
        if self._sp is None:
            import sentencepiece as spm

            self._sp = spm.SentencePieceProcessor(model_proto=self._bytes)
        return self._sp

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self._bytes).hexdigest()

    @property
    def model_bytes(self) -> bytes:
        return self._bytes

    @property
    def vocab_size(self) -> int:
        return self.sp.vocab_size()

    @property
    def bos_id(self) -> int:
        return self.sp.bos_id()

    @property
    def eos_id(self) -> int:
        return self.sp.eos_id()

    @property
    def pad_id(self) -> int:
        return self.sp.pad_id()

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return self.sp.encode(list(texts))

    def encode_document(self, text: str) -> np.ndarray:
        """uint32 ids of one document framed by BOS and EOS."""
        ids = self.sp.encode(text)
        return np.asarray([self.bos_id, *ids, self.eos_id], dtype=np.uint32)

    def decode(self, ids: Sequence[int]) -> str:
        return self.sp.decode([int(i) for i in ids])
