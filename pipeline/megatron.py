"""`curate export-megatron`: a finished phase as a Megatron-LM indexed dataset (`<prefix>.bin` + `.idx`).

Megatron's GPTDataset packs documents itself, so the export holds documents, not our packed rows: each
document of the phase (in shard order; its segments joined back in `doc_offsets` order, BOS and EOS
included as the shards hold them) is one sequence and one document. Format (Megatron-LM
`megatron/core/datasets/indexed_dataset.py`, `_IndexWriter`): the index starts with b"MMIDIDX\\x00\\x00",
version 1 (<Q), the dtype code (<B: 8 = uint16 for vocabularies below 65,500, else 4 = int32), the
sequence count (<Q) and the document count (<Q, = documents + 1), then the sequence lengths (int32), the
byte offsets of the sequences in `.bin` (int64) and the document indices (int64, 0 ... sequences). The
`.bin` file is the token ids, concatenated. Written to temporary names and renamed when complete.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator

import numpy as np

from pipeline.dataset import open_phase

INDEX_HEADER = b"MMIDIDX\x00\x00"
DTYPE_CODES = {np.dtype(np.uint16): 8, np.dtype(np.int32): 4}


def phase_documents(phase_dir: str, split: str = "train") -> Iterator[tuple[str, np.ndarray]]:
    """(doc id, token ids) of every document of a phase: a document split across rows is joined again
    (the packer writes its segments into consecutive rows of one shard)."""
    phase = open_phase(phase_dir, split)
    try:
        current_id, parts = None, []
        for row in phase:
            for k, doc_id in enumerate(row.doc_ids):
                seg = row.input_ids[row.cu_seqlens[k]:row.cu_seqlens[k + 1]]
                if row.doc_offsets[k] == 0:
                    if current_id is not None:
                        yield current_id, np.concatenate(parts)
                    current_id, parts = doc_id, [seg]
                elif doc_id == current_id and row.doc_offsets[k] == sum(len(p) for p in parts):
                    parts.append(seg)
                else:
                    raise ValueError(f"{phase_dir}: segment of {doc_id} at offset {row.doc_offsets[k]} does not "
                                     "continue the previous segment")
        if current_id is not None:
            yield current_id, np.concatenate(parts)
    finally:
        phase.close()


def export_megatron(phase_dir: str, prefix: str, vocab_size: int, split: str = "train") -> dict[str, int]:
    """Writes `<prefix>.bin` and `<prefix>.idx`; returns the numbers of documents and tokens."""
    dtype = np.dtype(np.uint16) if vocab_size < 65500 else np.dtype(np.int32)
    lengths: list[int] = []
    tmp_bin, tmp_idx = f"{prefix}.bin.tmp", f"{prefix}.idx.tmp"
    os.makedirs(os.path.dirname(os.path.abspath(prefix)), exist_ok=True)
    with open(tmp_bin, "wb") as fh:
        for _, ids in phase_documents(phase_dir, split):
            fh.write(ids.astype(dtype).tobytes())
            lengths.append(len(ids))
    sizes = np.asarray(lengths, dtype=np.int32)
    pointers = np.zeros(len(lengths), dtype=np.int64)
    if len(lengths) > 1:
        pointers[1:] = np.cumsum(sizes[:-1].astype(np.int64)) * dtype.itemsize
    doc_indices = np.arange(len(lengths) + 1, dtype=np.int64)
    with open(tmp_idx, "wb") as fh:
        fh.write(INDEX_HEADER)
        fh.write(struct.pack("<Q", 1))
        fh.write(struct.pack("<B", DTYPE_CODES[dtype]))
        fh.write(struct.pack("<Q", len(sizes)))
        fh.write(struct.pack("<Q", len(doc_indices)))
        fh.write(sizes.tobytes(order="C"))
        fh.write(pointers.tobytes(order="C"))
        fh.write(doc_indices.tobytes(order="C"))
    os.replace(tmp_bin, f"{prefix}.bin")
    os.replace(tmp_idx, f"{prefix}.idx")
    return {"documents": len(lengths), "tokens": int(sizes.sum()), "dtype_code": DTYPE_CODES[dtype]}


def read_megatron(prefix: str) -> list[np.ndarray]:
    """The sequences of an exported dataset, read back by the format above (a check, not a loader)."""
    with open(f"{prefix}.idx", "rb") as fh:
        if fh.read(9) != INDEX_HEADER:
            raise ValueError(f"{prefix}.idx: not a Megatron MMapIndexedDataset index")
        (version,), (code,) = struct.unpack("<Q", fh.read(8)), struct.unpack("<B", fh.read(1))
        (n_seq,), (n_doc,) = struct.unpack("<Q", fh.read(8)), struct.unpack("<Q", fh.read(8))
        sizes = np.frombuffer(fh.read(4 * n_seq), dtype=np.int32)
        pointers = np.frombuffer(fh.read(8 * n_seq), dtype=np.int64)
        np.frombuffer(fh.read(8 * n_doc), dtype=np.int64)
    if version != 1:
        raise ValueError(f"{prefix}.idx: version {version}")
    dtype = {v: k for k, v in DTYPE_CODES.items()}[code]
    data = np.memmap(f"{prefix}.bin", dtype=dtype, mode="r")
    return [np.asarray(data[p // dtype.itemsize:p // dtype.itemsize + n]) for p, n in zip(pointers, sizes, strict=True)]
