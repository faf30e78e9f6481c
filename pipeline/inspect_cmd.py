"""`curate inspect PATH` and `curate export-megatron`: look at finished phases from the command line."""

from __future__ import annotations

import json
import os
from typing import Any

from pipeline.dataset import open_phase


class InspectError(ValueError):
    """A path that is not a finished phase or run output (one line for the user)."""


def _phase_dirs(path: str) -> list[str]:
    if os.path.isfile(os.path.join(path, "manifest.json")):
        return [path]
    phases = os.path.join(path, "phases")
    found = sorted(os.path.join(phases, d) for d in (os.listdir(phases) if os.path.isdir(phases) else [])
                   if os.path.isfile(os.path.join(phases, d, "manifest.json")))
    if not found:
        raise InspectError(f"inspect: {path} is neither a phase directory with manifest.json nor a run output "
                           "with finished phases")
    return found


def _tokenizer(phase_dir: str, manifest: dict[str, Any]) -> Any:
    from tokenizer.wrapper import Tokenizer

    path = os.path.join(phase_dir, "..", "..", manifest["tokenizer"]["path"])
    if not os.path.isfile(path):
        return None
    with open(path, "rb") as fh:
        return Tokenizer(fh.read())


def describe_phase(phase_dir: str, row: int = 0, shard: int = 0, chars: int = 300) -> list[str]:
    """A phase's summary and one decoded row, as printable lines."""
    phase = open_phase(phase_dir)
    m = phase.manifest
    try:
        target = m["tokens_by_source"]["target"]
        realized = m["tokens_by_source"]["realized"]
        lines = [f"phase {phase.name}: seq_len {phase.seq_len}, {len(phase.shards)} shards, {phase.rows} rows, "
                 f"{m['tokens']} training tokens (target {sum(target.values())})",
                 "  tokens by source (target -> realized): "
                 + ", ".join(f"{s} {target.get(s, 0)} -> {realized.get(s, 0)}"
                             for s in sorted(set(target) | set(realized))),
                 f"  validation: {sum(s['rows'] for s in m['validation']['shards'])} rows, "
                 f"fraction {m['validation']['fraction']}",
                 f"  tokenizer: {m['tokenizer']['path']} (sha256 {m['tokenizer']['sha256'][:12]}..., "
                 f"vocab {m['tokenizer']['vocab_size']})"]
        if m.get("shortfall"):
            lines.append(f"  shortfall: {json.dumps(m['shortfall'], sort_keys=True)}")
        if not phase.rows:
            return lines
        if not 0 <= shard < len(phase.shards) or not 0 <= row < phase.shards[shard].rows:
            raise InspectError(f"inspect: no row {row} in shard {shard} of {phase_dir}")
        r = phase.row(shard, row)
        tok = _tokenizer(phase_dir, m)
        lines.append(f"  row {row} of {os.path.basename(phase.shards[shard].path)}: {len(r.doc_ids)} segments, "
                     f"{r.cu_seqlens[-1]} tokens + {phase.seq_len - r.cu_seqlens[-1]} padding")
        for k, doc_id in enumerate(r.doc_ids):
            seg = r.input_ids[r.cu_seqlens[k]:r.cu_seqlens[k + 1]]
            lines.append(f"    [{k}] {doc_id} ({r.sources[k]}, offset {r.doc_offsets[k]}, {len(seg)} tokens)")
            if tok is not None:
                text = tok.decode([int(t) for t in seg if t not in (tok.bos_id, tok.eos_id)])
                lines.append("        " + json.dumps(text[:chars], ensure_ascii=False))
        return lines
    finally:
        phase.close()


def inspect(path: str, row: int = 0, shard: int = 0) -> list[str]:
    out: list[str] = []
    for phase_dir in _phase_dirs(path):
        out += describe_phase(phase_dir, row, shard)
    return out
