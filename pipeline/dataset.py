"""Reading finished phases: memory-mapped shards, zero-copy rows, and a PyTorch dataset for training.

`open_phase(path)` reads `phases/<phase>/manifest.json` (its presence means the phase is complete; a
phase without one is refused) and memory-maps every shard of the split. Rows are NumPy views into the
mapped files: no token buffer is copied (`Row.input_ids` is a read-only uint32 view).

Row order for training (`rank_rows`): per epoch, a seeded permutation of the shards, and inside each
shard a seeded permutation of its rows (so no step builds a permutation of the whole phase: a phase of
400M rows still shuffles one shard at a time). The epoch's sequence is dealt round-robin to ranks:
position p goes to rank p % world_size. With `remainder="drop"` every rank gets floor(N / world) rows
(the last N % world positions are dropped); with `"pad"` every rank gets ceil(N / world) and the missing
positions are padding rows (`Row.is_padding`, all pad ids, no documents), so every real row is seen
exactly once and no rank waits for another at the end of an epoch. Inside a rank, DataLoader worker k of
W takes the rank's positions k, k + W, ...; the DataLoader interleaves workers round-robin, so a rank sees
its sequence in order and can resume from (epoch, rows already consumed).

`PhaseDataset` (needs torch, `pip install '.[train]'`) wraps this as an `IterableDataset`. Hugging Face
`datasets.Dataset.from_file(shard)` reads a shard directly (tests check it).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa

from transforms.hashing import hash64

REMAINDER = ("drop", "pad")


@dataclasses.dataclass(frozen=True)
class Row:
    input_ids: np.ndarray        # uint32 [seq_len], a view into the memory-mapped shard
    cu_seqlens: list[int]        # segment boundaries: segment i is input_ids[cu[i]:cu[i + 1]]
    doc_ids: list[str]
    sources: list[str]
    doc_offsets: list[int]       # token offset of each segment inside its document (> 0: continued)
    shard: int = -1              # position in the phase (-1 for padding)
    index: int = -1

    @property
    def is_padding(self) -> bool:
        return self.shard < 0


class Shard:
    """One memory-mapped shard: rows as zero-copy views."""

    def __init__(self, path: str, seq_len: int) -> None:
        self.path = path
        self._source = pa.memory_map(path, "r")
        self.table = pa.ipc.open_stream(self._source).read_all()
        self.seq_len = seq_len
        # one 2-D view per record batch; the ids buffer of a fixed-size list is contiguous in the file
        self._views: list[np.ndarray] = []
        self._starts: list[int] = []
        start = 0
        for chunk in self.table.column("input_ids").chunks:
            flat = chunk.values.to_numpy(zero_copy_only=True)
            self._views.append(flat.reshape(len(chunk), seq_len))
            self._starts.append(start)
            start += len(chunk)
        self.rows = start
        self._cu = self.table.column("cu_seqlens")
        self._docs = self.table.column("doc_ids")
        self._srcs = self.table.column("sources")
        self._offs = self.table.column("doc_offsets")

    def input_ids(self, i: int) -> np.ndarray:
        k = int(np.searchsorted(self._starts, i, side="right")) - 1
        return self._views[k][i - self._starts[k]]

    def row(self, i: int, shard_index: int = -1) -> Row:
        if not 0 <= i < self.rows:
            raise IndexError(f"row {i} of {self.path} ({self.rows} rows)")
        return Row(self.input_ids(i), self._cu[i].as_py(), self._docs[i].as_py(), self._srcs[i].as_py(),
                   self._offs[i].as_py(), shard_index, i)

    def close(self) -> None:
        self._source.close()


class Phase:
    """A finished phase: its manifest and memory-mapped shards (training or validation split)."""

    def __init__(self, directory: str, split: str = "train") -> None:
        manifest_path = os.path.join(directory, "manifest.json")
        if not os.path.isfile(manifest_path):
            raise FileNotFoundError(f"{directory}: no manifest.json (the phase is missing or incomplete)")
        with open(manifest_path, encoding="utf-8") as fh:
            self.manifest: dict[str, Any] = json.load(fh)
        if split not in ("train", "validation"):
            raise ValueError(f"split must be train or validation, got {split!r}")
        self.name = self.manifest["phase"]
        self.seq_len = int(self.manifest["seq_len"])
        self.pad_id = int(self.manifest["tokenizer"]["pad_id"])
        entries = self.manifest["shards"] if split == "train" else self.manifest["validation"]["shards"]
        base = directory if split == "train" else os.path.join(directory, "validation")
        self.shards = [Shard(os.path.join(base, e["file"]), self.seq_len) for e in entries]
        for shard, entry in zip(self.shards, entries, strict=True):
            if shard.rows != entry["rows"]:
                raise ValueError(f"{shard.path}: {shard.rows} rows, the manifest says {entry['rows']}")
        self.rows = sum(s.rows for s in self.shards)

    def padding_row(self) -> Row:
        return Row(np.full(self.seq_len, self.pad_id, dtype=np.uint32), [0, 0], [], [], [])

    def row(self, shard: int, index: int) -> Row:
        return self.shards[shard].row(index, shard)

    def __iter__(self) -> Iterator[Row]:
        for k, shard in enumerate(self.shards):
            for i in range(shard.rows):
                yield shard.row(i, k)

    def close(self) -> None:
        for shard in self.shards:
            shard.close()


def open_phase(directory: str, split: str = "train") -> Phase:
    return Phase(directory, split)


def _permutation(n: int, seed: int, *parts: Any) -> list[int]:
    return sorted(range(n), key=lambda i: hash64(seed, *parts, i))


def epoch_order(shard_rows: list[int], seed: int, epoch: int) -> Iterator[tuple[int, int]]:
    """(shard, row) of one epoch: shards in a seeded order, rows of each shard in a seeded order."""
    for k in _permutation(len(shard_rows), seed, "shards", epoch):
        for i in _permutation(shard_rows[k], seed, "rows", epoch, k):
            yield k, i


def rank_rows(shard_rows: list[int], world_size: int, rank: int, seed: int, epoch: int,
              remainder: str = "drop", worker: int = 0, num_workers: int = 1,
              start: int = 0) -> Iterator[tuple[int, int] | None]:
    """The (shard, row) positions rank `rank` reads in `epoch` (None = a padding row), for DataLoader
    worker `worker` of `num_workers`, skipping the first `start` positions of the rank (resume)."""
    if remainder not in REMAINDER:
        raise ValueError(f"remainder must be one of {REMAINDER}, got {remainder!r}")
    if not 0 <= rank < world_size or not 0 <= worker < num_workers:
        raise ValueError(f"rank {rank} of {world_size}, worker {worker} of {num_workers}")
    total = sum(shard_rows)
    per_rank = total // world_size if remainder == "drop" else -(-total // world_size)
    mine = 0  # positions of this rank seen so far
    for p, pos in enumerate(epoch_order(shard_rows, seed, epoch)):
        if p % world_size != rank:
            continue
        if mine >= per_rank:
            return
        if mine >= start and (mine - start) % num_workers == worker:
            yield pos
        mine += 1
    while mine < per_rank:  # pad: the ranks that got one row fewer
        if mine >= start and (mine - start) % num_workers == worker:
            yield None
        mine += 1


try:  # optional: `pip install '.[train]'`
    import torch
    from torch.utils.data import IterableDataset, get_worker_info
except ImportError:  # pragma: no cover - the class below then refuses to be built
    torch = None
    IterableDataset = object


class PhaseDataset(IterableDataset):
    """Rows of a finished phase for one rank: dicts of `input_ids` (int64 [seq_len]), `cu_seqlens`
    (int32), `position_ids` (restarting at each segment), `is_padding`; the document ids and sources
    as lists. Call `set_epoch(e)` before each epoch; `start_row` resumes a rank mid-epoch."""

    def __init__(self, directory: str, rank: int = 0, world_size: int = 1, seed: int = 0, epoch: int = 0,
                 remainder: str = "drop", split: str = "train", start_row: int = 0) -> None:
        if torch is None:
            raise ImportError("PhaseDataset needs torch: pip install 'multiphase-curation[train]'")
        super().__init__()
        self.directory, self.split = directory, split
        self.rank, self.world_size, self.seed, self.epoch = rank, world_size, seed, epoch
        self.remainder, self.start_row = remainder, start_row
        phase = open_phase(directory, split)
        self.shard_rows = [s.rows for s in phase.shards]
        self.rows_per_rank = (sum(self.shard_rows) // world_size if remainder == "drop"
                              else -(-sum(self.shard_rows) // world_size))
        phase.close()

    def set_epoch(self, epoch: int, start_row: int = 0) -> None:
        self.epoch, self.start_row = epoch, start_row

    def __len__(self) -> int:
        return self.rows_per_rank - self.start_row

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        phase = open_phase(self.directory, self.split)  # opened in the worker process: maps, no copies
        try:
            for pos in rank_rows(self.shard_rows, self.world_size, self.rank, self.seed, self.epoch,
                                 self.remainder, worker, workers, self.start_row):
                row = phase.padding_row() if pos is None else phase.row(*pos)
                cu = np.asarray(row.cu_seqlens, dtype=np.int32)
                positions = np.zeros(phase.seq_len, dtype=np.int64)
                for a, b in zip(cu[:-1], cu[1:], strict=True):
                    positions[a:b] = np.arange(b - a)
                yield {"input_ids": torch.from_numpy(row.input_ids.astype(np.int64)),
                       "cu_seqlens": torch.from_numpy(cu), "position_ids": torch.from_numpy(positions),
                       "is_padding": row.is_padding, "doc_ids": row.doc_ids, "sources": row.sources,
                       "shard": row.shard, "row": row.index}
        finally:
            phase.close()
