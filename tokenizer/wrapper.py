"""Tokenizer: a thin, picklable wrapper over a SentencePiece model (loaded lazily, once per process).

SentencePiece writes spaces as U+2581 ("▁") inside pieces, so a literal "▁" in the text would decode as
a space. `encode_document` keeps such text lossless by encoding "▁" as its three UTF-8 byte-fallback
pieces, which decode back to "▁".
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

_META_SPACE = "\u2581"


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

    def problems(self) -> list[str]:
        """Why this model cannot serve the pipeline (lossless, framed, padded), if it cannot."""
        found = [f"{name} is {value}, must be >= 0" for name, value in
                 (("bos_id", self.bos_id), ("eos_id", self.eos_id), ("pad_id", self.pad_id)) if value < 0]
        if any(self.sp.piece_to_id(f"<0x{b:02X}>") == self.sp.unk_id() for b in range(256)):
            found.append("no byte-fallback pieces <0x00>..<0xFF> (text could not round-trip)")
        return found

    def encode(self, text: str) -> list[int]:
        """Lossless ids of a text (no BOS/EOS)."""
        if _META_SPACE not in text:
            return self.sp.encode(text)
        meta = [self.sp.piece_to_id(f"<0x{b:02X}>") for b in _META_SPACE.encode("utf-8")]
        ids: list[int] = []
        for i, part in enumerate(text.split(_META_SPACE)):
            if i:
                ids += meta
            if part:
                ids += self.sp.encode(part)
        return ids

    def encode_document(self, text: str) -> np.ndarray:
        """uint32 ids of one document framed by BOS and EOS."""
        return np.asarray([self.bos_id, *self.encode(text), self.eos_id], dtype=np.uint32)

    def decode(self, ids: Sequence[int]) -> str:
        return self.sp.decode([int(i) for i in ids])
