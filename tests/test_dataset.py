"""Readers of finished phases: zero-copy memory-mapped rows, Hugging Face datasets, and the PyTorch dataset
split across ranks and DataLoader workers."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
from collections import Counter

import numpy as np
import pyarrow as pa
import pytest

from pipeline.dataset import open_phase, rank_rows
from transforms.arrow_shards import shard_bytes
from transforms.pack import pack_documents
from transforms.tokenize import TokenizedDoc

SEQ_LEN, PAD = 16, 0


def _docs(n, seed):
    rng = np.random.default_rng(seed)
    return [TokenizedDoc(id=f"s/{seed}-{i}", source="web" if i % 3 else "code", lang="en",
                         ids=rng.integers(3, 1000, size=int(rng.integers(3, 40)), dtype=np.uint32).copy())
            for i in range(n)]


@pytest.fixture(scope="module")
def phase_dir(tmp_path_factory):
    """A phase of 3 shards (rows 23 + 17 + 12 = 52, not a multiple of 2 or 4) and its manifest."""
    root = tmp_path_factory.mktemp("phase") / "p"
    root.mkdir()
    shards = []
    for k, n in enumerate((30, 22, 15)):
        packed = pack_documents(_docs(n, k), SEQ_LEN, PAD)
        data = shard_bytes(packed)
        name = f"shard-{k:05d}-of-00003.arrow"
        (root / name).write_bytes(data)
        shards.append({"file": name, "rows": packed.rows, "tokens": int(sum(c[-1] for c in packed.cu_seqlens)),
                       "sha256": hashlib.sha256(data).hexdigest()})
    tokens = sum(s["tokens"] for s in shards)
    manifest = {"phase": "p", "seq_len": SEQ_LEN, "shards": shards, "tokens": tokens,
                "tokens_by_source": {"target": {"web": 500, "code": 300}, "realized": {"web": 0, "code": 0}},
                "tokenizer": {"pad_id": PAD, "bos_id": 1, "eos_id": 2, "path": "tokenizer/tokenizer.model",
                              "sha256": "ab" * 32, "vocab_size": 1000},
                "validation": {"fraction": 0.0, "shards": []}}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def test_rows_are_zero_copy_views_of_the_memory_map(phase_dir):
    before = pa.total_allocated_bytes()
    phase = open_phase(str(phase_dir))
    row = phase.row(1, 3)
    assert pa.total_allocated_bytes() == before  # nothing read into Arrow's memory pool: the file is mapped
    assert row.input_ids.dtype == np.uint32 and row.input_ids.shape == (SEQ_LEN,)
    assert not row.input_ids.flags.owndata and not row.input_ids.flags.writeable
    table = phase.shards[1].table
    assert row.input_ids.tolist() == table.column("input_ids")[3].as_py()
    assert row.cu_seqlens == table.column("cu_seqlens")[3].as_py() and row.doc_ids
    assert phase.rows == sum(s["rows"] for s in phase.manifest["shards"])
    phase.close()


def test_a_phase_without_manifest_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="no manifest.json"):
        open_phase(str(tmp_path))


def test_shards_load_with_hugging_face_datasets(phase_dir):
    datasets = pytest.importorskip("datasets", reason="datasets is a test extra: pip install '.[train]'")
    phase = open_phase(str(phase_dir))
    for shard in phase.shards:
        ds = datasets.Dataset.from_file(shard.path)
        assert ds.num_rows == shard.rows
        assert ds[0]["input_ids"] == shard.input_ids(0).tolist() and ds[0]["doc_ids"] == shard.row(0).doc_ids


def _positions(shard_rows, world, remainder, workers=1, epoch=0, start=0):
    return {(r, w): list(rank_rows(shard_rows, world, r, 7, epoch, remainder, w, workers, start))
            for r in range(world) for w in range(workers)}


@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_ranks_get_equal_rows_drop_loses_only_the_remainder_pad_keeps_every_row_once(world):
    shard_rows = [23, 17, 12]
    total = sum(shard_rows)
    for remainder in ("drop", "pad"):
        per = _positions(shard_rows, world, remainder)
        counts = {len(v) for v in per.values()}
        assert len(counts) == 1, (remainder, counts)  # every rank the same number of rows
        real = Counter(p for v in per.values() for p in v if p is not None)
        assert all(n == 1 for n in real.values())      # no row twice
        if remainder == "drop":
            assert counts == {total // world} and len(real) == total - total % world
        else:
            assert counts == {-(-total // world)} and len(real) == total  # every row exactly once


def _round_robin(*streams):
    out, iters = [], [iter(s) for s in streams]
    while iters:
        for it in list(iters):
            try:
                out.append(next(it))
            except StopIteration:
                iters.remove(it)
    return out


def test_workers_split_a_rank_and_resume_continues_where_it_stopped():
    shard_rows = [23, 17, 12]
    whole = list(rank_rows(shard_rows, 2, 1, 7, 3))
    split = _positions(shard_rows, 2, "drop", workers=2, epoch=3)
    assert _round_robin(split[(1, 0)], split[(1, 1)]) == whole  # the DataLoader's round robin: the rank's order
    resumed = _positions(shard_rows, 2, "drop", workers=2, epoch=3, start=5)
    assert _round_robin(resumed[(1, 0)], resumed[(1, 1)]) == whole[5:]
    assert list(rank_rows(shard_rows, 2, 1, 7, 4)) != whole  # another epoch, another order


def test_pytorch_dataset_two_ranks_two_workers(phase_dir):
    torch = pytest.importorskip("torch", reason="torch is a test extra: pip install '.[train]'")
    from torch.utils.data import DataLoader

    from pipeline.dataset import PhaseDataset

    # Workers come from a forkserver, not a fork of this process: the test process has run Beam (gRPC
    # threads), and a fork of a threaded process can crash in the child (a DataLoader worker once aborted
    # with std::system_error in CI). The server imports torch and the dataset once, for all the workers.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["torch", "pipeline.dataset"])
    total = open_phase(str(phase_dir)).rows
    for remainder in ("drop", "pad"):
        seen, lengths = Counter(), []
        for rank in range(2):
            ds = PhaseDataset(str(phase_dir), rank=rank, world_size=2, seed=5, epoch=1, remainder=remainder)
            loader = DataLoader(ds, batch_size=None, num_workers=2, multiprocessing_context=context)
            items = list(loader)
            lengths.append(len(items))
            assert len(items) == len(ds)
            for item in items:
                assert item["input_ids"].dtype == torch.int64 and item["input_ids"].shape == (SEQ_LEN,)
                if not item["is_padding"]:
                    seen[(item["shard"], item["row"])] += 1
        assert lengths[0] == lengths[1]
        assert max(seen.values()) == 1
        assert len(seen) == (total if remainder == "pad" else total - total % 2)


def test_export_megatron_writes_every_document_once_in_the_indexed_format(phase_dir, tmp_path):
    import struct

    from pipeline.megatron import export_megatron, phase_documents, read_megatron

    originals = {d.id: d.ids for k, n in enumerate((30, 22, 15)) for d in _docs(n, k)}
    docs = list(phase_documents(str(phase_dir)))
    assert [doc_id for doc_id, _ in docs] == list(originals)          # packing order = input order here
    assert all(np.array_equal(ids, originals[doc_id]) for doc_id, ids in docs)
    stats = export_megatron(str(phase_dir), str(tmp_path / "mega" / "p_text_document"), vocab_size=1000)
    assert stats == {"documents": 67, "tokens": sum(len(v) for v in originals.values()), "dtype_code": 8}
    head = (tmp_path / "mega" / "p_text_document.idx").read_bytes()[:34]
    assert head == b"MMIDIDX\x00\x00" + struct.pack("<Q", 1) + struct.pack("<B", 8) + struct.pack("<QQ", 67, 68)
    back = read_megatron(str(tmp_path / "mega" / "p_text_document"))
    assert [s.tolist() for s in back] == [v.tolist() for v in originals.values()]


def test_cli_inspect_and_export(phase_dir, tmp_path, capsys):
    from pipeline.cli import main

    assert main(["inspect", str(phase_dir), "--shard", "1", "--row", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    phase = open_phase(str(phase_dir))
    assert out[0] == f"phase p: seq_len {SEQ_LEN}, 3 shards, {phase.rows} rows, {phase.manifest['tokens']} training " \
                     "tokens (target 800)"
    row = phase.row(1, 2)
    assert out[4].startswith(f"  row 2 of shard-00001-of-00003.arrow: {len(row.doc_ids)} segments")
    assert out[5].startswith(f"    [0] {row.doc_ids[0]} ({row.sources[0]}, offset {row.doc_offsets[0]}")
    assert main(["export-megatron", str(phase_dir), "--output", str(tmp_path / "m")]) == 0
    assert (tmp_path / "m.bin").is_file() and (tmp_path / "m.idx").is_file()
    assert main(["inspect", str(tmp_path)]) == 2
    assert "is neither a phase directory" in capsys.readouterr().err
