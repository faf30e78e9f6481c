"""Tokenizer: a thin, picklable wrapper over a SentencePiece model (loaded lazily, once per process).

SentencePiece writes spaces as U+2581 ("▁") inside pieces, so a literal "▁" in the text would decode as
a space. `encode`, `encode_document` and `encode_batch` keep such text lossless by encoding "▁" as its
three UTF-8 byte-fallback pieces, which decode back to "▁".

`encode_batch` encodes a list of texts in one SentencePiece call (its C++ batch encoder, the GIL released,
`num_threads` worker threads of a pool kept for the wrapper's lifetime) and returns uint32 arrays straight
from SentencePiece's buffers (no Python int lists). `num_threads` defaults to 1: Beam already runs one
worker per core, and one core is what the throughput benchmark measures.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence

import numpy as np

_META_SPACE = "\u2581"
_ROLES = ("unk", "bos", "eos", "pad")
_CONTROL, _USER_DEFINED, _UNKNOWN = 3, 4, 2   # sentencepiece_model.proto ModelProto.SentencePiece.Type


# Spaces, tabs, newlines, CRLF, full-width forms, SentencePiece's own space marker, CJK and emoji: a model
# that normalizes or drops any of them is refused (DESIGN.md: encoding is lossless).
LOSSLESS_PROBE = " lead  two  spaces\n\tTab\r\nＡＢＣ１２３ ▁ 中文，日本語 😀 trailing  \n\n"


class Tokenizer:
    def __init__(self, model_bytes: bytes, num_threads: int = 1) -> None:
        if num_threads < 1:
            raise ValueError(f"num_threads must be >= 1, got {num_threads}")
        self._bytes = model_bytes
        self._num_threads = num_threads
        self._sp = None
        self._pool = None
        self._lock = threading.Lock()
        self._meta_ids: np.ndarray | None = None
        self._specials: dict[str, int] | None = None

    @classmethod
    def from_file(cls, path: str, num_threads: int = 1) -> Tokenizer:
        from apache_beam.io.filesystems import FileSystems

        with FileSystems.open(path) as fh:
            return cls(fh.read(), num_threads)

    def __getstate__(self) -> dict:
        return {"_bytes": self._bytes, "_num_threads": self._num_threads}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["_bytes"], state.get("_num_threads", 1))

    @property
    def sp(self):  # noqa: ANN201 - sentencepiece has no type stubs
        if self._sp is None:
            import sentencepiece as spm

            self._sp = spm.SentencePieceProcessor(model_proto=self._bytes, num_threads=self._num_threads)
        return self._sp

    def _thread_pool(self):  # noqa: ANN202
        if self._pool is None:
            import sentencepiece as spm

            self._pool = spm.ThreadPool(self._num_threads)
        return self._pool

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self._bytes).hexdigest()

    @property
    def model_bytes(self) -> bytes:
        return self._bytes

    @property
    def num_threads(self) -> int:
        return self._num_threads

    @property
    def vocab_size(self) -> int:
        return self.sp.vocab_size()

    @property
    def unk_id(self) -> int:
        return self.sp.unk_id()

    @property
    def bos_id(self) -> int:
        return self.sp.bos_id()

    @property
    def eos_id(self) -> int:
        return self.sp.eos_id()

    @property
    def pad_id(self) -> int:
        return self.sp.pad_id()

    @property
    def special_ids(self) -> dict[str, int]:
        """Every special piece by name -> id: unk, bos and eos, pad and the model's other control pieces
        (`special_tokens`), and the user-defined ones ("\\n", "\\t"); piece strings as names, e.g.
        {"<unk>": 0, "<s>": 1, "</s>": 2, "<pad>": 3, "<|endoftext|>": 4, "\\n": 5, "\\t": 6}."""
        if self._specials is None:
            self._specials = {piece: i for i, (piece, kind) in enumerate(model_pieces(self._bytes))
                              if kind in (_CONTROL, _USER_DEFINED, _UNKNOWN)}
        return dict(self._specials)

    def special_id(self, name: str) -> int:
        """Id of a special piece by role ("unk", "bos", "eos", "pad") or by piece ("<|endoftext|>", "\\n").
        KeyError when the model has no such special piece (or the role is disabled, id -1)."""
        if name in _ROLES:
            value = getattr(self, f"{name}_id")
            if value < 0:
                raise KeyError(f"this model has no {name} piece")
            return value
        specials = self.special_ids
        if name not in specials:
            raise KeyError(f"{name!r} is not a special piece of this model (known: {sorted(specials)})")
        return specials[name]

    def problems(self) -> list[str]:
        """Why this model cannot serve the pipeline (lossless, framed, padded), if it cannot."""
        found = [f"{name} is {value}, must be >= 0" for name, value in
                 (("bos_id", self.bos_id), ("eos_id", self.eos_id), ("pad_id", self.pad_id)) if value < 0]
        if any(self.sp.piece_to_id(f"<0x{b:02X}>") == self.sp.unk_id() for b in range(256)):
            found.append("no byte-fallback pieces <0x00>..<0xFF> (text could not round-trip)")
        elif self.decode(self.encode(LOSSLESS_PROBE)) != LOSSLESS_PROBE:
            found.append("text does not round-trip (normalization or whitespace removal: train with identity "
                         "normalization, remove_extra_whitespaces=false, add_dummy_prefix=false)")
        return found

    def _meta(self) -> np.ndarray:
        if self._meta_ids is None:
            self._meta_ids = np.asarray([self.sp.piece_to_id(f"<0x{b:02X}>") for b in _META_SPACE.encode("utf-8")],
                                        dtype=np.uint32)
        return self._meta_ids

    def encode(self, text: str) -> list[int]:
        """Lossless ids of a text (no BOS/EOS)."""
        return self.encode_batch([text], frame=False)[0].tolist()

    def encode_document(self, text: str) -> np.ndarray:
        """uint32 ids of one document framed by BOS and EOS (one document: no thread pool)."""
        if _META_SPACE in text:
            return self.encode_batch([text])[0]
        return self.sp.encode(text, add_bos=True, add_eos=True, return_type="numpy").view(np.uint32)

    def encode_batch(self, texts: Sequence[str], frame: bool = True) -> list[np.ndarray]:
        """uint32 ids of each text, framed by BOS and EOS (as `encode_document`) unless `frame=False`;
        one SentencePiece batch call (two when some texts hold a literal U+2581)."""
        texts = list(texts)
        plain = [i for i, t in enumerate(texts) if _META_SPACE not in t]
        out: list[np.ndarray] = [None] * len(texts)  # type: ignore[list-item]
        if plain:
            batch = texts if len(plain) == len(texts) else [texts[i] for i in plain]
            for i, ids in zip(plain, self._encode(batch, frame), strict=True):
                out[i] = ids
        if len(plain) < len(texts):
            self._encode_meta_space(texts, [i for i, t in enumerate(texts) if _META_SPACE in t], frame, out)
        return out

    def _encode(self, texts: list[str], frame: bool) -> list[np.ndarray]:
        with self._lock:  # one batch at a time on the wrapper's pool
            arrays = self.sp.encode(texts, add_bos=frame, add_eos=frame, return_type="numpy",
                                    thread_pool=self._thread_pool())
        return [a.view(np.uint32) for a in arrays]

    def _encode_meta_space(self, texts: list[str], idx: list[int], frame: bool, out: list) -> None:
        """Texts with a literal "▁": the parts between them are encoded, "▁" becomes its byte pieces."""
        split = [texts[i].split(_META_SPACE) for i in idx]
        encoded = iter(self._encode([p for parts in split for p in parts], frame=False))
        meta = self._meta()
        head = np.asarray([self.bos_id], dtype=np.uint32) if frame else None
        tail = np.asarray([self.eos_id], dtype=np.uint32) if frame else None
        for i, parts in zip(idx, split, strict=True):
            pieces = [head] if frame else []
            for k in range(len(parts)):
                if k:
                    pieces.append(meta)
                pieces.append(next(encoded))
            if frame:
                pieces.append(tail)
            out[i] = np.concatenate(pieces).astype(np.uint32, copy=False)

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        """Text of ids; BOS, EOS, pad and other control pieces decode to nothing."""
        if isinstance(ids, np.ndarray):
            ids = ids.tolist()
        return self.sp.decode([int(i) for i in ids])


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _fields(buf: bytes):  # noqa: ANN202 - yields (field number, wire type, value)
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 2:
            size, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + size], pos + size
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


def model_pieces(model_bytes: bytes) -> list[tuple[str, int]]:
    """(piece, type) of every vocabulary entry, read from the serialized ModelProto (field 1, repeated
    SentencePiece {1: piece, 3: type}) by hand: sentencepiece's generated `sentencepiece_model_pb2` needs a
    newer protobuf runtime than Beam pins."""
    pieces = []
    for number, wire, value in _fields(model_bytes):
        if number == 1 and wire == 2:
            piece, kind = "", 1  # proto default type NORMAL
            for n, w, v in _fields(value):
                if n == 1 and w == 2:
                    piece = v.decode("utf-8")
                elif n == 3 and w == 0:
                    kind = v
            pieces.append((piece, kind))
    return pieces
