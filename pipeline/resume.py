"""Resume: a completion marker per stage boundary, so `curate run` redoes only what changed.

Each stage boundary of a run writes `<output>/stages/<stage>.json` after all of its outputs are complete
(every output file is itself written atomically, transforms/atomic.py). The marker records a key: a hash of
only the config sections the stage depends on, of its inputs' fingerprints, and of the keys of the stages
it reads from. A rerun skips a stage whose marker holds the same key and whose outputs all exist, and
redoes it otherwise; a redone stage changes its key's inputs for everything downstream, so they are redone
too. Before a stage starts, its marker is deleted: a run killed in the middle leaves no marker claiming
the stage is complete.

The boundaries (DESIGN.md section 5):
- `quality_model`: the classifier trained from `quality.train` (only when the config trains one);
- `curation`: curated/, rejected/, counts/ and the curation report files;
- `tokenizer`: tokenizer/tokenizer.model and its sidecar;
- `phase-<name>`: the phase's shards and manifest.json. Phase k depends on phases 1..k (earlier phases of
  the run consume documents first), so changing the weights of the last phase redoes only that phase.

Input fingerprints are (path, size, modification time) from Beam's filesystems: cheap on terabytes of
input and on gs:// or s3://, as `make` does. A file rewritten in place with the same size within the same
second is not noticed; `--force` redoes every stage.

Markers are not outputs: they hold fingerprints of this machine's files, so they are left out of the
byte-identity guarantee (which covers curated/, rejected/, counts/, tokenizer/, phases/, report/ and
run_manifest.json).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.metadata
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from apache_beam.io.filesystems import FileSystems

from pipeline.config import to_dict
from transforms.atomic import write_atomic

log = logging.getLogger(__name__)
STAGES_DIR = "stages"
MARKER_FORMAT = 1
VERSIONED = ("multiphase-curation", "apache-beam", "fasttext-numpy2", "datasketch", "sentencepiece", "pyarrow",
             "numpy", "xxhash", "trafilatura", "ftfy")


@functools.cache
def code_versions() -> dict[str, str]:
    """Versions of this package and of the libraries whose behaviour shapes the outputs. They are part of
    every stage's key: an upgrade redoes the stages instead of mixing outputs of two versions."""
    versions = {}
    for name in VERSIONED:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def fingerprint_files(patterns: Iterable[str]) -> list[list[Any]]:
    """[path, size, mtime] of every file the patterns match, sorted and without repeats. A pattern that
    matches nothing gives [pattern, None, None], so a file appearing later changes the fingerprint."""
    found: dict[str, list[Any]] = {}
    for pattern in patterns:
        matched = FileSystems.match([pattern])[0].metadata_list
        if not matched:
            found.setdefault(pattern, [pattern, None, None])
        for meta in matched:
            found[meta.path] = [meta.path, meta.size_in_bytes, meta.last_updated_in_seconds]
    return [found[k] for k in sorted(found)]


def stage_key(config: Any, inputs: Any = None, upstream: Sequence[str] = ()) -> str:
    """The key of a stage: config sections (dataclasses, mappings, lists, scalars), input fingerprints,
    the keys of the stages it reads, and the code's versions."""
    payload = {"config": to_dict(config), "inputs": to_dict(inputs), "upstream": list(upstream),
               "code": code_versions()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


@dataclasses.dataclass(frozen=True)
class Stage:
    name: str
    key: str
    outputs: tuple[str, ...]        # paths relative to the run's output directory


class Resume:
    """The markers of one run's output directory. `force` redoes every stage."""

    def __init__(self, output: str, force: bool = False) -> None:
        self.output, self.force = output, force
        self.skipped: list[str] = []
        self.done: list[str] = []

    def marker_path(self, name: str) -> str:
        return f"{self.output}/{STAGES_DIR}/{name}.json"

    def read_marker(self, name: str) -> dict[str, Any] | None:
        path = self.marker_path(name)
        if not FileSystems.exists(path):
            return None
        try:
            with FileSystems.open(path) as fh:
                marker = json.loads(fh.read())
        except (OSError, ValueError):
            return None
        return marker if isinstance(marker, dict) else None

    def is_complete(self, stage: Stage) -> bool:
        """True (and noted as skipped) when the stage's marker holds its key and every output exists."""
        if self.force:
            return False
        marker = self.read_marker(stage.name)
        if marker is None or marker.get("format") != MARKER_FORMAT or marker.get("key") != stage.key:
            return False
        missing = [rel for rel in marker.get("outputs", []) if not FileSystems.exists(f"{self.output}/{rel}")]
        if missing:
            log.info("%s: marker found but %s is missing: redoing the stage", stage.name, missing[0])
            return False
        self.skipped.append(stage.name)
        log.info("%s: up to date (%s), skipped", stage.name, self.marker_path(stage.name))
        return True

    def start(self, stage: Stage) -> None:
        """Before a stage writes anything: its old marker goes, so no marker outlives a partial stage, and
        so do temporary files a killed attempt left in the stage's output directories."""
        path = self.marker_path(stage.name)
        if FileSystems.exists(path):
            FileSystems.delete([path])
        dirs = sorted({rel.rsplit("/", 1)[0] for rel in stage.outputs if "/" in rel})
        patterns = [f"{self.output}/{d}/{level}*.tmp-*" for d in dirs for level in ("", "*/")]
        leftovers = [m.path for r in FileSystems.match(patterns) for m in r.metadata_list]
        if leftovers:  # temporary files of a killed attempt (transforms/atomic.py)
            log.info("%s: removing %d temporary file(s) of an interrupted run", stage.name, len(leftovers))
            FileSystems.delete(leftovers)

    def complete(self, stage: Stage, outputs: Sequence[str] | None = None,
                 details: Mapping[str, Any] | None = None) -> None:
        """After every output of the stage is complete (written and renamed)."""
        rels = list(stage.outputs if outputs is None else outputs)
        marker = {"format": MARKER_FORMAT, "stage": stage.name, "key": stage.key, "outputs": sorted(rels),
                  **(dict(details) if details else {})}
        write_atomic(self.marker_path(stage.name), (json.dumps(marker, indent=1, sort_keys=True) + "\n").encode())
        self.done.append(stage.name)
