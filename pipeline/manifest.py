"""Phase manifests, written after every shard of the phase exists (presence = the phase is complete),
and the shard reader used by tests, the report and users."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
from apache_beam.io.filesystems import FileSystems

from pipeline.config import MixConfig, section_hash
from pipeline.tokenizer_step import MODEL_FILE
from tokenizer.wrapper import Tokenizer
from transforms.arrow_shards import shard_relpath
from transforms.mix import TRAIN, VALIDATION, PhaseConfig, check_shortfall


def read_shard(path: str) -> pa.Table:
    """A shard as a table, read through a memory map (local files)."""
    with pa.memory_map(path, "r") as source:
        return pa.ipc.open_stream(source).read_all()


def iter_segments(table: pa.Table) -> Iterator[tuple[str, str, int, list[int]]]:
    """(doc_id, source, doc_offset, token ids) for every segment of every row."""
    rows = table.to_pydict()
    for ids, cu, docs, srcs, offs in zip(rows["input_ids"], rows["cu_seqlens"], rows["doc_ids"],
                                         rows["sources"], rows["doc_offsets"], strict=True):
        for i, doc_id in enumerate(docs):
            yield doc_id, srcs[i], offs[i], ids[cu[i]:cu[i + 1]]


def _describe_shard(output: str, relpath: str) -> dict[str, Any]:
    path = f"{output}/{relpath}"
    with FileSystems.open(path) as fh:
        data = fh.read()
    table = pa.ipc.open_stream(pa.BufferReader(data)).read_all()
    by_source: Counter[str] = Counter()
    tokens = 0
    for cu, srcs in zip(table.column("cu_seqlens").to_pylist(), table.column("sources").to_pylist(), strict=True):
        tokens += cu[-1]
        for i, src in enumerate(srcs):
            by_source[src] += cu[i + 1] - cu[i]
    return {"file": relpath.rsplit("/", 1)[-1], "rows": table.num_rows, "tokens": tokens,
            "sha256": hashlib.sha256(data).hexdigest(), "tokens_by_source": dict(sorted(by_source.items()))}


def _sum_sources(shards: list[dict[str, Any]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for shard in shards:
        total.update(shard["tokens_by_source"])
    return dict(sorted(total.items()))


def build_phase_manifest(output: str, phase: PhaseConfig, mix: MixConfig, plan: dict,
                         tokenizer: Tokenizer) -> dict[str, Any]:
    train = [_describe_shard(output, shard_relpath(phase.name, TRAIN, b, phase.pack_buckets))
             for b in range(phase.pack_buckets)]
    validation = ([_describe_shard(output, shard_relpath(phase.name, VALIDATION, 0, 1))]
                  if phase.validation_fraction > 0 else [])
    realized = Counter(_sum_sources(train))
    realized.update(_sum_sources(validation))
    phase_plan = plan.get(phase.name, {})
    for source, entry in phase_plan.items():  # internal consistency: shards hold exactly what the plan chose
        if realized.get(source, 0) != entry["realized"]:
            raise RuntimeError(f"phase {phase.name}: shards hold {realized.get(source, 0)} tokens of {source}, "
                               f"the plan chose {entry['realized']}")
    return {
        "phase": phase.name,
        "seq_len": phase.seq_len,
        "tokenizer": {"path": MODEL_FILE, "sha256": tokenizer.sha256, "vocab_size": tokenizer.vocab_size,
                      "bos_id": tokenizer.bos_id, "eos_id": tokenizer.eos_id, "pad_id": tokenizer.pad_id},
        "shards": [{k: s[k] for k in ("file", "rows", "tokens", "sha256")} for s in train],
        "validation": {"fraction": phase.validation_fraction,
                       "shards": [{k: s[k] for k in ("file", "rows", "tokens", "sha256")} for s in validation],
                       "tokens_by_source": _sum_sources(validation)},
        "tokens": sum(s["tokens"] for s in train),
        "tokens_by_source": {"target": phase.targets(), "realized": dict(sorted(realized.items()))},
        "epochs_by_source": {s: 1 for s, e in sorted(phase_plan.items()) if e["realized"] > 0},
        "shortfall": {s: e["target"] - e["realized"] for s, e in sorted(phase_plan.items())
                      if e["realized"] < e["target"]},
        "consumed": {s: {"bins": [e["start"], e["end"]], "of_bins": mix.bins,
                         "hash": "xxh3_64(seed, 'mix', doc_id) % bins", "seed": mix.seed}
                     for s, e in sorted(phase_plan.items())},
        "config_hash": section_hash({"phase": phase, "mix": mix, "tokenizer": tokenizer.sha256}),
    }


def remove_phase_manifests(output: str, phases: tuple[PhaseConfig, ...]) -> None:
    stale = [f"{output}/phases/{p.name}/manifest.json" for p in phases]
    FileSystems.delete([p for p in stale if FileSystems.exists(p)])


def write_phase_manifests(output: str, phases: tuple[PhaseConfig, ...], mix: MixConfig,
                          tokenizer: Tokenizer) -> dict[str, dict[str, Any]]:
    with FileSystems.open(f"{output}/phases/plan.json") as fh:
        plan = json.loads(fh.read())
    check_shortfall(plan, phases)
    manifests = {}
    for phase in phases:
        manifest = build_phase_manifest(output, phase, mix, plan, tokenizer)
        with FileSystems.create(f"{output}/phases/{phase.name}/manifest.json") as fh:
            fh.write((json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode())
        manifests[phase.name] = manifest
    return manifests
