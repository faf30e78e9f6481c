"""Tests for scripts/build_corpus.py (needs ../shared/data; skipped when it is absent)."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "build_corpus.py"
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SOURCES = ("web_en", "web_zh", "encyclopedia", "books", "code")
CJK_SOURCES = {"web_zh"}


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120)


def _build(out: Path, *extra: str) -> Path:
    proc = _run("--shared", str(SHARED), "--out", str(out), "--target-mb", "0", *extra)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return out


def _read(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _shingles(text: str, cjk: bool, n: int = 5) -> set:
    if cjk:
        s = "".join(text.split())
        return {s[i:i + n] for i in range(max(1, len(s) - n + 1))}
    words = re.sub(r"[^\w\s]", " ", text.lower()).split()
    return {tuple(words[i:i + n]) for i in range(max(1, len(words) - n + 1))}


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if (a or b) else 1.0


@pytest.fixture(scope="module")
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared test data not found at {SHARED} (a fresh clone has no ../shared; CI has it)")
    return SHARED


@pytest.fixture(scope="module")
def corpus(shared, tmp_path_factory) -> Path:
    return _build(tmp_path_factory.mktemp("corpus_a"))


@pytest.fixture(scope="module")
def records(corpus) -> dict:
    return {s: _read(corpus / f"{s}.jsonl.gz") for s in SOURCES}


def test_outputs_exist_and_are_well_formed(corpus, records):
    for s in SOURCES:
        assert (corpus / f"{s}.jsonl.gz").is_file()
        assert records[s], f"{s} is empty"
        for r in records[s]:
            assert isinstance(r, dict)
            assert isinstance(r["id"], str) and r["id"]
            assert isinstance(r["text"], str) and r["text"].strip()
            assert r["id"].startswith(f"{s}-")
            assert isinstance(r["origin"], str) and (SHARED / r["origin"]).is_dir()
            assert isinstance(r["license"], str) and r["license"]
    assert (corpus / "planted.json").is_file()
    assert (corpus / "summary.json").is_file()


def test_ids_unique(records):
    ids = [r["id"] for s in SOURCES for r in records[s]]
    assert len(ids) == len(set(ids))


def test_expected_content(records):
    en = records["encyclopedia"]
    assert all("\r" not in r["text"] for r in en)
    assert 55 <= sum(1 for r in en if re.fullmatch(r"encyclopedia-\w+-\d+", r["id"])) <= 62
    books = records["books"]
    assert any(r["text"].startswith("CHAPTER I\n") for r in books)
    assert all("Project Gutenberg" not in r["text"] for r in books)
    ja = [r for r in books if r.get("lang") == "ja"]
    assert ja and max(len(r["text"]) for r in ja) <= 3500
    web_en = records["web_en"]
    assert any(r["origin"] == "forum-stackexchange-posts" for r in web_en)
    assert not any("<p>" in r["text"] for r in web_en if r["origin"] == "forum-stackexchange-posts")
    assert {r["origin"] for r in web_en} == {
        "cc-web-samples-dolma-ccnet", "forum-stackexchange-posts", "web-articles-scrapinghub-aeb"}
    assert {r["origin"] for r in records["web_zh"]} == {"zh-hans-wiki-cmrc2018", "zh-script-variant-pairs-ud-gsd"}
    assert len(records["code"]) == 984


def test_planted(corpus, records):
    planted = json.loads((corpus / "planted.json").read_text(encoding="utf-8"))
    by_id = {r["id"]: (s, r) for s in SOURCES for r in records[s]}
    assert planted["near_dup"] and planted["exact_dup"]
    assert planted.get("filler", {}) == {}  # --target-mb 0
    for copy_id, orig_id in planted["exact_dup"].items():
        assert copy_id in by_id and orig_id in by_id
        assert copy_id.endswith("-dup1") or re.search(r"-dup\d+$", copy_id)
        assert by_id[copy_id][1]["text"] == by_id[orig_id][1]["text"]
    for copy_id, orig_id in planted["near_dup"].items():
        assert copy_id in by_id and orig_id in by_id
        assert re.search(r"-nd\d+$", copy_id)
        source, copy = by_id[copy_id]
        cjk = source in CJK_SOURCES
        a, b = _shingles(copy["text"], cjk), _shingles(by_id[orig_id][1]["text"], cjk)
        j = _jaccard(a, b)
        assert 0.7 <= j < 1.0, (copy_id, j)
    # ~5% near-dups / ~2% exact copies of eligible docs in the planted sources
    summary = json.loads((corpus / "summary.json").read_text(encoding="utf-8"))
    for s in ("web_en", "web_zh", "encyclopedia"):
        v = summary["sources"][s]
        assert v["near_dup"] >= 1 and v["exact_dup"] >= 1
        assert v["near_dup"] <= 0.06 * v["real_docs"] + 1
        assert v["docs"] == len(records[s])


def test_deterministic(shared, corpus, tmp_path):
    # an absent --sample-dir is skipped silently, so this must equal the plain build
    other = _build(tmp_path / "corpus_b", "--sample-dir", str(tmp_path / "no-sample-here"))
    names = sorted(p.name for p in corpus.iterdir())
    assert names == sorted(p.name for p in other.iterdir())
    for name in names:
        assert (corpus / name).read_bytes() == (other / name).read_bytes(), name


def test_sample_dir(shared, tmp_path):
    sample = tmp_path / "sample"
    sample.mkdir()
    lines = [
        json.dumps({"id": "a1", "text": "hello sample"}),
        "not json",
        json.dumps(["a", "list"]),
        json.dumps({"id": "a2", "text": 5}),
        json.dumps({"id": "sample-a3", "text": "already prefixed", "lang": "en"}),
    ]
    with gzip.open(sample / "web_en.jsonl.gz", "wt", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    out = _build(tmp_path / "out", "--sample-dir", str(sample))
    recs = [r for r in _read(out / "web_en.jsonl.gz") if r["id"].startswith("sample-")]
    assert sorted(r["id"] for r in recs) == ["sample-a1", "sample-a3"]
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["sources"]["web_en"]["sample_docs"] == 2


def test_missing_shared_folder(tmp_path):
    missing = tmp_path / "no-such-shared"
    proc = _run("--shared", str(missing), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert f"shared data not found at {missing}" in proc.stdout + proc.stderr
    assert not (tmp_path / "out").exists()


def test_sharded_layout_holds_the_same_records_in_order(shared, corpus, records, tmp_path):
    """--shard-mb splits each source into <name>-NNNNN.jsonl.gz files of about that much text, in the
    unsharded file's record order; rebuilding unsharded over it removes the shards again."""
    out = _build(tmp_path / "sharded", "--shard-mb", "0.5")
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    for s in SOURCES:
        files = sorted(out.glob(f"{s}-*.jsonl.gz"))
        assert not (out / f"{s}.jsonl.gz").exists()
        assert [f.name for f in files] == [f"{s}-{k:05d}.jsonl.gz" for k in range(len(files))]
        assert summary["sources"][s]["files"] == len(files)
        shards = [_read(f) for f in files]
        assert [r for shard in shards for r in shard] == records[s]
        sizes = [sum(len(r["text"].encode("utf-8")) for r in shard) for shard in shards]
        assert all(size >= 500_000 for size in sizes[:-1])                       # each closed at 0.5 MB ...
        assert all(size - len(shard[-1]["text"].encode("utf-8")) < 500_000       # ... by its last record
                   for size, shard in zip(sizes, shards, strict=True))
    assert len(list(out.glob("web_en-*.jsonl.gz"))) > 1
    _build(out)
    assert not list(out.glob("web_en-*.jsonl.gz")) and (out / "web_en.jsonl.gz").is_file()
