"""Phase manifests, written after every shard of the phase exists (presence = the phase is complete),
the ledger they carry across runs, and the shard reader used by tests, the report and users.

A manifest's `consumed` is the ledger of its phase: per bucket, the ranges of units it used, each one
substream (source, tier, token-length interval, pass, within the cluster cap) and an interval
(after, through] of (position, id) in that substream's order (positions as 16 hex digits; `after` null =
from the start, `through` "end" = to the end). `selection` holds what a reader needs to evaluate them:
seed, position hash, tier cut-offs per source, the cluster-cap formula. A later run names earlier outputs
in `mix.previous`; `load_ledger` reads every finished phase there (`phases/*/manifest.json`) and the
mixing job skips the units they consumed (transforms/mix.py), whatever its own buckets and filters.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
from apache_beam.io.filesystems import FileSystems

from pipeline.config import ConfigError, MixConfig, section_hash
from pipeline.tokenizer_step import MODEL_FILE
from tokenizer.wrapper import Tokenizer
from transforms.arrow_shards import shard_relpath
from transforms.atomic import write_atomic
from transforms.mix import (
    CLUSTER_CAP,
    END,
    POSITION,
    TRAIN,
    VALIDATION,
    Ledger,
    LedgerRange,
    PhaseConfig,
    check_shortfall,
)


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


def _hexkey(key: Any) -> list[str] | str | None:
    if key is None:
        return None
    if tuple(key) == END:
        return "end"
    return [f"{int(key[0]):016x}", key[1]]


def _unhexkey(value: Any) -> tuple[int, str] | None:
    if value is None:
        return None
    if value == "end":
        return END
    return int(value[0], 16), value[1]


def consumed_ranges(plan: dict, bucket_entry: dict) -> list[dict[str, Any]]:
    """The ledger of one (phase, bucket) of a plan, substreams merged: adjacent token-length classes with
    the same interval become one n_tokens range, both sides of the cluster cap one entry (null), and every
    tier one entry (tier null)."""
    bounds = plan["length_bounds"]
    members: dict[tuple, dict[int, set[int]]] = {}   # (source, tier, pass, after, through) -> {class: {within}}
    for substream, after, through in bucket_entry["ranges"]:
        source, tier, lclass, repeat, within = substream.split("|")
        key = (source, int(tier), int(repeat), json.dumps(_hexkey(after)), json.dumps(_hexkey(through)))
        members.setdefault(key, {}).setdefault(int(lclass), set()).add(int(within))
    tiers: dict[str, set[int]] = {}   # the same range on every tier is one entry with tier null
    for (source, tier, repeat, after, through), classes in members.items():
        by_within: dict[frozenset[int], list[int]] = {}
        for lclass, withins in classes.items():
            by_within.setdefault(frozenset(withins), []).append(lclass)
        for withins, group in by_within.items():
            within = None if repeat == 0 or len(withins) == 2 else bool(next(iter(withins)))
            for lo, hi in _runs(sorted(group)):
                entry = {"source": source, "pass": repeat,
                         "n_tokens": [bounds[lo - 1] if lo else 0, bounds[hi] if hi < len(bounds) else None],
                         "within_cluster_cap": within, "after": json.loads(after), "through": json.loads(through)}
                tiers.setdefault(json.dumps(entry, sort_keys=True), set()).add(tier)
    out = []
    for entry, found in tiers.items():
        if len(found) == plan["quality_tiers"]:
            out.append({**json.loads(entry), "tier": None})
        else:
            out += [{**json.loads(entry), "tier": t} for t in sorted(found)]
    return sorted(out, key=lambda e: json.dumps(e, sort_keys=True))


def _runs(classes: list[int]) -> list[tuple[int, int]]:
    """[(first, last)] of consecutive integers."""
    runs: list[tuple[int, int]] = []
    for c in classes:
        if runs and runs[-1][1] == c - 1:
            runs[-1] = (runs[-1][0], c)
        else:
            runs.append((c, c))
    return runs


def selection_block(plan: dict) -> dict[str, Any]:
    return {"seed": plan["seed"], "bins": plan["bins"], "position": POSITION, "order": "(position, doc_id)",
            "quality_tiers": plan["quality_tiers"], "quality_bins": plan["quality_bins"],
            "tier_cutoffs": plan["tier_cutoffs"],
            "tier_rule": "score bin = min(floor(score x quality_bins), quality_bins - 1); tier = #{k: bin < "
                         "cutoff_k}; no score, or a source without cut-offs (no scored document): the last tier",
            "length_bounds": plan["length_bounds"], "cluster_cap": CLUSTER_CAP}


def ledger_ranges(manifest: dict[str, Any]) -> list[LedgerRange]:
    """The consumed ranges of a phase manifest, ready to evaluate (`Ledger`)."""
    sel = manifest["selection"]
    qbins, tiers = sel["quality_bins"], sel["quality_tiers"]
    ranges = []
    for entries in manifest["consumed"].values():
        for e in entries:
            cutoffs = tuple(sel["tier_cutoffs"].get(e["source"], [qbins] * (tiers - 1)))
            ranges.append(LedgerRange(seed=sel["seed"], source=e["source"], tier=e["tier"], tier_cutoffs=cutoffs,
                                      quality_bins=qbins, n_lo=e["n_tokens"][0], n_hi=e["n_tokens"][1],
                                      repeat=e["pass"], within=e["within_cluster_cap"],
                                      after=_unhexkey(e["after"]), through=_unhexkey(e["through"])))
    return ranges


def load_ledger(previous: tuple[str, ...] | list[str], phases: tuple[PhaseConfig, ...],
                tokenizer_sha256: str | None) -> Ledger:
    """The ledger of every finished phase in the earlier outputs `previous` (`mix.previous`). ConfigError
    (one line) for a path without finished phases, a manifest without a ledger, a phase name this run
    also uses, or another tokenizer (budgets and length filters count tokens). `tokenizer_sha256` None
    skips the tokenizer check (the early check, before the tokenizer exists)."""
    names = {p.name for p in phases}
    ranges: list[LedgerRange] = []
    sources: list[dict[str, str]] = []
    seen: dict[str, str] = {}
    chained: list[tuple[str, str, Any]] = []
    for out in previous:
        found = FileSystems.match([f"{out}/phases/*/manifest.json"])[0].metadata_list
        if not found:
            raise ConfigError(f"mix.previous: no finished phase (phases/<phase>/manifest.json) under {out}")
        for path in sorted(m.path for m in found):
            with FileSystems.open(path) as fh:
                data = fh.read()
            try:
                manifest = json.loads(data)
                name, sha = manifest.get("phase"), manifest["tokenizer"]["sha256"]
            except (ValueError, KeyError, TypeError, AttributeError):
                raise ConfigError(f"mix.previous: {path} is not a readable phase manifest") from None
            if name in names:
                raise ConfigError(f"mix.previous: phase {name} of {out} is also a phase of this run (rename one)")
            if name in seen:
                if seen[name] == hashlib.sha256(data).hexdigest():
                    continue  # the same run listed twice
                raise ConfigError(f"mix.previous: two earlier phases are named {name} ({out} and another output)")
            if "selection" not in manifest or not isinstance(manifest.get("consumed"), dict):
                raise ConfigError(f"mix.previous: {path} has no ledger in this version's format; rerun that phase")
            if tokenizer_sha256 is not None and sha != tokenizer_sha256:
                raise ConfigError(f"mix.previous: phase {name} of {out} used tokenizer {sha[:12]}, this run "
                                  f"{tokenizer_sha256[:12]}; runs that share a ledger need the same tokenizer.model")
            seen[name] = hashlib.sha256(data).hexdigest()
            ranges += ledger_ranges(manifest)
            sources.append({"output": out, "phase": name, "manifest_sha256": seen[name]})
            chained += [(name, out, p) for p in manifest.get("previous") or []]
    loaded = set(seen.values())
    for name, out, earlier in chained:  # the ledger is not carried forward: every earlier run must be listed
        if isinstance(earlier, dict) and earlier.get("manifest_sha256") not in loaded:
            raise ConfigError(f"mix.previous: phase {name} of {out} was mixed after phase {earlier.get('phase')} "
                              f"of {earlier.get('output')}: list that output in mix.previous too")
    return Ledger(ranges, sources)


def build_phase_manifest(output: str, phase: PhaseConfig, mix: MixConfig, plan: dict,
                         tokenizer: Tokenizer) -> dict[str, Any]:
    train = [_describe_shard(output, shard_relpath(phase.name, TRAIN, b, phase.pack_buckets))
             for b in range(phase.pack_buckets)]
    validation = ([_describe_shard(output, shard_relpath(phase.name, VALIDATION, 0, 1))]
                  if phase.validation_fraction > 0 else [])
    realized = Counter(_sum_sources(train))
    realized.update(_sum_sources(validation))
    phase_plan = plan["phases"].get(phase.name, {})
    for bucket, entry in phase_plan.items():  # internal consistency: shards hold exactly what the plan chose
        if realized.get(bucket, 0) != entry["realized"]:
            raise RuntimeError(f"phase {phase.name}: shards hold {realized.get(bucket, 0)} tokens of {bucket}, "
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
        "epochs_by_source": {b: max(r for r, t in enumerate(e["repeats"]) if t > 0) + 1   # passes reached
                             for b, e in sorted(phase_plan.items()) if e["realized"] > 0},
        "repeats_by_source": {b: e["repeats"] for b, e in sorted(phase_plan.items())},
        "shortfall": {b: e["target"] - e["realized"] for b, e in sorted(phase_plan.items())
                      if e["realized"] < e["target"]},
        "buckets": {b: {"available": e["available"], "available_epochs": e["available_epochs"],
                        "max_epochs": e["max_epochs"], "reusable": e["reusable"],
                        "cluster_weighted": e["cluster_weighted"],
                        "cut": None if e["cut"] is None else {"pass": e["cut"][0], "at": _hexkey(e["cut"][1:3]),
                                                              "tokens_kept": e["cut"][3]}}
                    for b, e in sorted(phase_plan.items())},
        "filter": {"min_tokens": phase.min_tokens, "max_tokens": phase.max_tokens},
        "selection": selection_block(plan),
        "consumed": {b: consumed_ranges(plan, e) for b, e in sorted(phase_plan.items())},
        "previous": plan["previous"],
        "config_hash": section_hash({"phase": phase, "mix": mix, "tokenizer": tokenizer.sha256,
                                     "previous": plan["previous"]}),
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
        write_atomic(f"{output}/phases/{phase.name}/manifest.json",
                     (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode())
        manifests[phase.name] = manifest
    return manifests
