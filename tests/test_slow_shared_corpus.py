"""Slow tier: the whole pipeline on ~11 MB of real third-party text built from ../shared/data.

Large enough to exercise LSH (208 planted near-duplicates by controlled edits, 83 exact copies) and to
fill a phase of 1M tokens. Run by `make test` (CI); `make test-fast` skips it.
"""

import gzip
import json
import subprocess
import sys

import pytest

from pipeline.cli import main
from tests.conftest import ROOT, require_shared_data
from tests.output_checks import check_layout, check_reconciled, check_shards, curated_table
from transforms.near_dedup import shingles

pytestmark = pytest.mark.slow



@pytest.fixture(scope="module")
def shared_run(tmp_path_factory):
    shared = require_shared_data()
    work = tmp_path_factory.mktemp("shared")
    subprocess.run([sys.executable, str(ROOT / "scripts" / "build_corpus.py"), "--shared", str(shared),
                    "--out", str(work / "corpus")], check=True, capture_output=True)
    assert main(["run", "--config", str(work / "corpus" / "config.yaml"), "--output", str(work / "out")]) == 0
    return work


def test_fills_a_phase_of_a_million_tokens_and_shards_decode(shared_run):
    out = shared_run / "out"
    check_layout(out, ["pretrain_4k", "long_32k"])
    manifest = check_shards(out, "pretrain_4k")
    assert manifest["tokens"] >= 1_000_000
    check_shards(out, "long_32k")
    check_reconciled(out)
    # a phase of >= 1M tokens: every bucket within 1% of its target, or a recorded shrink
    target, realized = manifest["tokens_by_source"]["target"], manifest["tokens_by_source"]["realized"]
    for bucket, want in target.items():
        got = realized.get(bucket, 0)
        assert abs(got - want) <= 0.01 * want or manifest["shortfall"].get(bucket) == want - got, (bucket, got, want)


def _texts(corpus):
    texts = {}
    for path in corpus.glob("*.jsonl.gz"):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            texts.update((r["id"], r["text"]) for r in map(json.loads, fh))
    return texts


def _jaccard(a, b):
    sa, sb = set(shingles(a, 5, 5)), set(shingles(b, 5, 5))
    return len(sa & sb) / len(sa | sb)


def test_lsh_removes_planted_near_duplicates(shared_run):
    """16 bands x 8 rows: P(candidate) is 0.95 at Jaccard 0.8 and > 0.995 at 0.85. So every planted pair
    at >= 0.85 must be caught, and most of those between 0.74 and 0.85."""
    planted = json.loads((shared_run / "corpus" / "planted.json").read_text())
    texts = _texts(shared_run / "corpus")
    curated = curated_table(shared_run / "out")

    def both_survive(copy, original):
        source = copy.split("-")[0]
        return f"{source}/{copy}" in curated and f"{source}/{original}" in curated

    assert [c for c, o in planted["exact_dup"].items() if both_survive(c, o)] == []
    missed = [(c, round(_jaccard(texts[c], texts[o]), 3)) for c, o in planted["near_dup"].items()
              if both_survive(c, o)]
    assert [m for m in missed if m[1] >= 0.85] == []
    assert len(missed) <= 0.1 * len(planted["near_dup"]), missed
