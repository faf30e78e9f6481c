"""Side by side with a peer (issue 9, point 3): the same corpus through datatrove's equivalent steps and
through `curate run`, each on one pinned core, in the same run; writes BENCHMARKS.md between
`<!-- datatrove:begin -->` and `<!-- datatrove:end -->`.

datatrove (installed by this script in its own virtual environment, bench-out/datatrove-venv, never in
the project's): JsonlReader -> LanguageFilter(en, zh, ja) -> GopherRepetitionFilter -> GopherQualityFilter
-> JsonlWriter, then its 4-stage MinHash dedup (MinhashDedupSignature, MinhashDedupBuckets,
MinhashDedupCluster, MinhashDedupFilter -> JsonlWriter) with its default MinhashConfig, each stage a
LocalPipelineExecutor with workers=1 (tasks=1; the buckets stage needs tasks = num_buckets, run one after
the other in the same process). This same file runs that job under the datatrove venv's Python
(`--datatrove-job SPEC`); the project's venv never imports datatrove.

The project: `curate run` with read -> langid -> rules (gopher_quality_v1, gopher_repetition_v1) ->
near_dedup and the stages that can be switched off switched off (URL dedup, exact dedup, safety,
decontamination, quality), on the FnApiRunner in_memory; its curation job is timed by the run itself
(report/timings.json `seconds.curation`); tokenizer and one small phase only complete the run.

Both read the same gzip JSONL files, under `taskset -c 0` when it exists. datatrove runs offline: no
model, tokenizer or NLTK data is downloaded (see `DATATROVE_NOTES`).

    .venv/bin/python benchmarks/datatrove_compare.py               # 100 MB corpus (the issue's size)
    .venv/bin/python benchmarks/datatrove_compare.py --quick       # 5 MB, for development
    .venv/bin/python benchmarks/datatrove_compare.py --target-mb 20 --repeat 3 --no-report
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import _common as C  # noqa: E402 - benchmarks/ is on sys.path when this runs as a script

SECTION = "datatrove"
TITLE = "Side by side with datatrove (issue 9)"
DATATROVE_VERSION = "0.10.1"
# spacy: datatrove's English word tokenizer (spacy.blank("en"), no model download) is not in [processing];
# orjson: its JsonlReader/JsonlWriter need it (in [io], which would also pull datasets and pyarrow).
REQUIREMENTS = (f"datatrove[processing]=={DATATROVE_VERSION}", "orjson", "spacy>=3.8,<4")
VERSION_PACKAGES = ("datatrove", "fasttext-numpy2-wheel", "numpy", "spacy", "orjson", "xxhash")
SOURCES = ("web_en", "web_zh", "encyclopedia", "books", "code")
LANGUAGES = ("en", "zh", "ja")
QUICK_MB = 5
DEFAULT_MB = 100
STAMP = ".curate-bench-requirements"

DATATROVE_NOTES = [
    "LanguageFilter loads the project's local lid.176.ftz (`pipeline.models.default_lid_model()`) through a "
    "`FT176LID` subclass set as the filter's `model`, instead of downloading lid.176.bin (no internet here); "
    "both tools therefore run the same quantized fastText model. `languages=[en, zh, ja]` (its default, None, "
    "keeps every language), threshold 0.65 (its default, the project's `min_score`).",
    "Gopher filters and MinHash use datatrove's default English word tokenizer, `SpaCyTokenizer('en')` = "
    "`spacy.blank('en')`: nothing to download (NLTK, in [processing], is not used for English; its punkt "
    "data would need a download). spaCy is installed beside `datatrove[processing]`, with orjson for "
    "JsonlReader/JsonlWriter.",
    "MinHash: default `MinhashConfig` (word 5-grams, 14 buckets x 8 hashes, xxhash 64-bit); the 4 stages of "
    "datatrove's minhash example, without its `TokensCounter` in stage 4 (it loads a Hugging Face "
    "tokenizer and is not part of dedup). `HF_HUB_OFFLINE=1` and an empty `HF_HOME` under bench-out.",
]
OURS_NOTES = [
    "Off for a like-for-like run: `urls.dedup` (the corpus's filler and near-duplicate copies keep their "
    "original's URL, which datatrove does not look at), `exact_dedup`, `safety`, `decontam`, `quality` "
    "(off by default); rules = gopher_quality_v1 + gopher_repetition_v1 only (no fineweb_v1); the code source "
    "has no `lang: code`, so it goes through language ID as in datatrove. `near_dedup` has its defaults "
    "(128 permutations, 16 x 8 bands, threshold 0.7, verify estimated).",
    "Still done by the project and not by datatrove: Unicode normalization, a per-document script and "
    "mixed-language breakdown, language-aware rules (unspaced Chinese/Japanese), near-dedup clustering with "
    "a survivor rule and an audit, Parquet curated/ and rejected/ (every drop with its reason) and counts, "
    "reconciled before the job is declared complete.",
]


# ------------------------------------------------------------------------------------------- corpus


def _count_text(path: Path) -> tuple[int, int]:
    docs = nbytes = 0
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                docs += 1
                nbytes += len(row["text"].encode()) if isinstance(row.get("text"), str) else 0
    return docs, nbytes


def prepare_corpus(work: Path, target_mb: float) -> tuple[Path, dict]:
    """The benchmark input: scripts/build_corpus.py --target-mb N (as pipeline_bench.py builds it), then,
    when the real text alone is larger than N MB (it is about 12 MB), a deterministic prefix of each source
    file holding N/total of its text. Returns the folder holding only the five source files, and a summary."""
    built = work / f"corpus-build-{target_mb:g}mb"
    summary_path = built / "summary.json"
    if not (summary_path.exists() and json.loads(summary_path.read_text()).get("target_mb") == target_mb):
        shutil.rmtree(built, ignore_errors=True)
        cmd = [sys.executable, str(C.ROOT / "scripts" / "build_corpus.py"), "--shared", str(C.SHARED_DATA),
               "--out", str(built), "--target-mb", f"{target_mb:g}", "--sample-dir", str(C.SAMPLE_DIR)]
        print("building the corpus:", " ".join(cmd[1:]), flush=True)
        subprocess.run(cmd, check=True, capture_output=True)
    inputs = work / f"input-{target_mb:g}mb"
    info_path = inputs / "input.json"
    if info_path.exists():
        info = json.loads(info_path.read_text())
        if info.get("built_from") == json.loads(summary_path.read_text()):
            return inputs, info
    shutil.rmtree(inputs, ignore_errors=True)
    inputs.mkdir(parents=True)
    sizes = {s: _count_text(built / f"{s}.jsonl.gz")[1] for s in SOURCES}
    fraction = min(1.0, target_mb * 1e6 / sum(sizes.values()))
    per_source = {}
    for s in SOURCES:
        src, dst = built / f"{s}.jsonl.gz", inputs / f"{s}.jsonl.gz"
        if fraction >= 1.0:
            shutil.copyfile(src, dst)
        else:  # the first records up to this source's share (gzip with mtime 0: deterministic bytes)
            budget, taken = fraction * sizes[s], 0
            with gzip.open(src, "rt", encoding="utf-8") as fin, open(dst, "wb") as raw, \
                    gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as fout:
                for line in fin:
                    if taken >= budget:
                        break
                    taken += len(json.loads(line)["text"].encode())
                    fout.write(line.encode())
        docs, nbytes = _count_text(dst)
        per_source[s] = {"docs": docs, "mb": round(nbytes / 1e6, 3)}
    info = {"target_mb": target_mb, "trimmed": fraction < 1.0, "sources": per_source,
            "docs": sum(v["docs"] for v in per_source.values()),
            "mb": round(sum(v["mb"] for v in per_source.values()), 3),
            "built_from": json.loads(summary_path.read_text())}
    info_path.write_text(json.dumps(info, indent=1))
    return inputs, info


# ------------------------------------------------------------------------------------------ helpers


def pin_prefix(cpu: int | None) -> list[str]:
    if cpu is None or shutil.which("taskset") is None:
        return []
    return ["taskset", "-c", str(cpu)]


def run_child(cmd: list[str], log: Path, env: dict | None = None) -> tuple[float, float, float]:
    """Runs cmd with stdout/stderr to `log`; (wall seconds, peak RSS MB, CPU seconds user + system) of the
    child and the children it waited for, from os.wait4. CPU well below wall on a pinned core means
    something else ran on that core. Exits with the log's tail when it fails."""
    start = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=C.ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"failed: {' '.join(cmd)}\n{log.read_text()[-4000:]}")
    return seconds, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_venv(venv: Path) -> Path:
    """Creates the datatrove venv when missing and installs REQUIREMENTS (from PyPI) unless its stamp says
    they are installed already."""
    python = venv_python(venv)
    stamp = venv / STAMP
    wanted = "\n".join(REQUIREMENTS) + "\n"
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    if not python.exists():
        print(f"creating {venv}", flush=True)
        base = getattr(sys, "_base_executable", None) or sys.executable
        subprocess.run([base, "-m", "venv", str(venv)], check=True)
    print(f"installing {' '.join(REQUIREMENTS)} into {venv} (about a minute)", flush=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    *REQUIREMENTS], check=True)
    stamp.write_text(wanted)
    return python


def package_versions(python: Path, names: tuple[str, ...]) -> dict[str, str]:
    code = ("import importlib.metadata as m, json, sys\n"
            "out = {}\n"
            "for n in sys.argv[1:]:\n"
            "    try:\n"
            "        out[n] = m.version(n)\n"
            "    except m.PackageNotFoundError:\n"
            "        pass\n"
            "print(json.dumps(out))\n")
    proc = subprocess.run([str(python), "-c", code, *names], check=True, capture_output=True, text=True)
    return json.loads(proc.stdout)


# ---------------------------------------------------------------------------------------- datatrove


def datatrove_job(spec_path: Path) -> None:
    """Runs inside the datatrove venv (`--datatrove-job SPEC`): the filter pipeline, then the 4 MinHash
    stages, each timed; writes the result JSON named in the spec."""
    spec = json.loads(spec_path.read_text())
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import (
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.dedup.minhash import MinhashConfig
    from datatrove.pipeline.filters import GopherQualityFilter, GopherRepetitionFilter, LanguageFilter
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers.jsonl import JsonlWriter
    from datatrove.utils.lid import FT176LID

    lid_path = spec["lid_model"]

    class LocalFT176LID(FT176LID):
        """FT176LID reading a local fastText file instead of downloading lid.176.bin."""

        @property
        def model(self):
            if self._model is None:
                from fasttext.FastText import _FastText

                self._model = _FastText(lid_path)
            return self._model

    work = Path(spec["work"])
    inputs, filtered, deduped = spec["inputs"], str(work / "filtered"), str(work / "deduped")
    sigs, buckets, remove = str(work / "minhash" / "signatures"), str(work / "minhash" / "buckets"), \
        str(work / "minhash" / "remove_ids")
    logs = work / "logs"
    config = MinhashConfig()  # defaults: 5-grams, 14 buckets x 8 hashes, xxhash 64-bit

    language_filter = LanguageFilter(languages=list(spec["languages"]))
    language_filter.model = LocalFT176LID(list(spec["languages"]))
    stages = [
        ("filter", LocalPipelineExecutor(pipeline=[
            JsonlReader(inputs, glob_pattern="*.jsonl.gz"),
            language_filter,
            GopherRepetitionFilter(),
            GopherQualityFilter(),
            JsonlWriter(filtered),
        ], tasks=1, workers=1, logging_dir=str(logs / "filter"))),
        ("minhash_1_signatures", LocalPipelineExecutor(pipeline=[
            JsonlReader(filtered),
            MinhashDedupSignature(output_folder=sigs, config=config),
        ], tasks=1, workers=1, logging_dir=str(logs / "minhash1"))),
        ("minhash_2_buckets", LocalPipelineExecutor(pipeline=[
            MinhashDedupBuckets(input_folder=sigs, output_folder=buckets, config=config),
        ], tasks=config.num_buckets, workers=1, logging_dir=str(logs / "minhash2"))),
        ("minhash_3_cluster", LocalPipelineExecutor(pipeline=[
            MinhashDedupCluster(input_folder=buckets, output_folder=remove, config=config),
        ], tasks=1, workers=1, logging_dir=str(logs / "minhash3"))),
        ("minhash_4_filter", LocalPipelineExecutor(pipeline=[
            JsonlReader(filtered),
            MinhashDedupFilter(input_folder=remove),
            JsonlWriter(deduped),
        ], tasks=1, workers=1, logging_dir=str(logs / "minhash4"))),
    ]
    seconds, blocks = {}, {}
    for name, executor in stages:
        start = time.perf_counter()
        stats = executor.run()
        seconds[name] = time.perf_counter() - start
        blocks[name] = [s.to_dict() for s in stats.stats] if stats is not None else []
    Path(spec["result"]).write_text(json.dumps({"seconds": seconds, "blocks": blocks}, indent=1))


def _stat(block: dict, key: str) -> int:
    value = block.get("stats", {}).get(key, 0)
    return int(value.get("total", 0) if isinstance(value, dict) else value)


def run_datatrove(python: Path, inputs: Path, work: Path, cpu: int | None) -> dict:
    shutil.rmtree(work, ignore_errors=True)
    (work / "hf-home").mkdir(parents=True)
    spec = {"inputs": str(inputs), "work": str(work), "result": str(work / "result.json"),
            "lid_model": C.lid_model_path(), "languages": list(LANGUAGES)}
    (work / "spec.json").write_text(json.dumps(spec, indent=1))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(work / "hf-home"),
           "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": ""}
    cmd = [*pin_prefix(cpu), str(python), str(Path(__file__).resolve()), "--datatrove-job", str(work / "spec.json")]
    wall, rss, cpu_s = run_child(cmd, work / "job.log", env)
    res = json.loads((work / "result.json").read_text())
    filt = {b["name"]: b for b in res["blocks"]["filter"]}
    counts = {}
    for name, block in filt.items():
        low = name.lower()
        key = ("read" if "jsonl" in low and "reader" in low or "📖" in name else
               "lid" if "language" in low else "repetition" if "repetition" in low else
               "quality" if "quality" in low else None)
        if key == "read":
            counts["read"] = _stat(block, "documents") or _stat(block, "total")
        elif key:
            counts[f"{key}_dropped"] = _stat(block, "dropped")
            counts[f"{key}_kept"] = _stat(block, "forwarded")
    dedup = {b["name"]: b for b in res["blocks"]["minhash_4_filter"]}
    for name, block in dedup.items():
        if "minhash" in name.lower() or "dedup" in name.lower() or "stage 4" in name.lower():
            counts["minhash_dropped"] = _stat(block, "dropped")
            counts["kept"] = _stat(block, "forwarded")
    return {"seconds": res["seconds"], "wall": wall, "cpu_seconds": cpu_s, "peak_rss_mb": rss, "counts": counts,
            "blocks": res["blocks"]}


# ---------------------------------------------------------------------------------------------- ours


def project_config(inputs: Path, path: Path) -> None:
    sources = "\n".join(f"  - {{name: {s}, paths: [{json.dumps(str(inputs / f'{s}.jsonl.gz'))}], id_field: id}}"
                        for s in SOURCES)
    path.write_text(f"""\
# Written by benchmarks/datatrove_compare.py: read -> langid -> rules (Gopher) -> near_dedup, the rest off.
run: {{name: datatrove-compare, seed: 7}}
sources:
{sources}
urls: {{dedup: false}}
exact_dedup: {{enabled: false}}
langid: {{model: null, keep: [{", ".join(LANGUAGES)}]}}
rules: {{default: [gopher_quality_v1, gopher_repetition_v1]}}
safety: {{enabled: false}}
near_dedup: {{}}
decontam: {{enabled: false}}
tokenizer: {{model: null, train: {{vocab_size: 8000, sample_chars: 4000000, num_threads: 1}}}}
phases:
  - {{name: tiny, tokens: 50000, seq_len: 2048, pack_buckets: 1, weights: {{web_en: 1.0}}}}
""")


PART_A = ("Read", "FilterUrls", "ExtractText", "Normalize", "IdentifyLanguage", "FilterRules")
PART_B = ("NearDedup",)


def run_ours(config: Path, out: Path, cpu: int | None) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    log = out.parent / (out.name + ".log")
    cmd = [*pin_prefix(cpu), sys.executable, "-m", "pipeline", "run", "--quiet", "--config", str(config),
           "--output", str(out), "--", "--direct_running_mode=in_memory"]
    wall, rss, cpu_s = run_child(cmd, log, {**os.environ, "CURATE_PROGRESS": "never"})
    timings = json.loads((out / "report" / "timings.json").read_text())
    report = json.loads((out / "report" / "report.json").read_text())
    steps = {k.split("/", 1)[1]: v / 1000 for k, v in timings.get("beam_steps", {}).items()
             if k.startswith("curation/")}
    totals = report["totals"]
    by_stage = totals.get("dropped_by_stage", {})
    return {"wall": wall, "cpu_seconds": cpu_s, "peak_rss_mb": rss, "seconds": timings["seconds"], "beam_steps": steps,
            "part_a_beam": sum(v for k, v in steps.items() if k in PART_A),
            "part_b_beam": sum(v for k, v in steps.items() if k in PART_B),
            "counts": {"read": totals.get("read"), "kept": totals.get("kept"),
                       "lid_dropped": by_stage.get("langid", 0), "rules_dropped": by_stage.get("rules", 0),
                       "near_dedup_dropped": by_stage.get("near_dedup", 0),
                       "other_dropped": {k: v for k, v in by_stage.items()
                                         if k not in ("langid", "rules", "near_dedup")},
                       "dead_letters": totals.get("dead_letters", 0)}}


# -------------------------------------------------------------------------------------------- report


def _rate(mb: float, docs: int, seconds: float, bold: bool = False) -> str:
    """The two throughput cells, 'MB/s | docs/s'."""
    if seconds <= 0:
        return "n/a | n/a"
    b = "**" if bold else ""
    return f"{b}{mb / seconds:.3f}{b} | {b}{docs / seconds:.0f}{b}"


def _block_name(name: str) -> str:
    """'📖 - READER: 🐿 Jsonl' -> 'READER: Jsonl'."""
    return " ".join(re.sub(r"[^\x00-\x7f]", " ", name).split()).lstrip("- ").strip()


def _label(name: str) -> str:
    """'minhash_2_buckets' -> 'MinHash 2 buckets'."""
    return name.replace("minhash_", "MinHash ").replace("_", " ")


def render(res: dict) -> list[str]:
    corpus, dt, ours = res["corpus"], res["datatrove"], res["ours"]
    mb, docs = corpus["mb"], corpus["docs"]
    dts, ous = dt["seconds"], ours["seconds"]
    dt_filter = dts["filter"]
    minhash_parts = [k for k in dts if k.startswith("minhash")]
    dt_minhash = sum(dts[k] for k in minhash_parts)
    dt_total = dt_filter + dt_minhash
    our_job = ous["curation"]
    ratio = dt_total / our_job
    size = f"{corpus['target_mb']:g} MB corpus"
    label = (f"QUICK mode: {size}, a development size, not the issue's >= {DEFAULT_MB} MB benchmark" if res["quick"]
             else f"{size}, below the issue's >= {DEFAULT_MB} MB" if res["below_issue_size"] else size)
    runs = f"best of {res['repeat']} interleaved runs per tool" if res["repeat"] > 1 else "one run per tool"
    c, o = dt["counts"], ours["counts"]
    v = res["versions"]
    lines = [
        "### Throughput per core: datatrove vs the project", "",
        f"Command: `{res['command']}`. **{label}.** Machine: {res['machine']['machine']}, "
        f"{res['machine']['cpus']} cores, Python "
        f"{res['machine']['python']}; both tools {res['pinning']}, one after the other, {runs}; single runs "
        "vary by about +-20%." + (f" **Contended:** {res['contended_note']}" if res.get("contended_note") else ""),
        "",
        f"Corpus: {docs} documents, {mb:.2f} MB of text (UTF-8 bytes of `text`, MB = 10^6): the five source "
        f"files of `scripts/build_corpus.py --target-mb {corpus['target_mb']:g}` (web_en, web_zh, encyclopedia, "
        "books, code: real text from ../shared/data, the embedded sample, planted near-duplicates and filler"
        + ("; cut to a prefix of each file holding its share of the target, the real text alone being larger"
           if corpus["trimmed"] else "") + "). Both tools read the same gzip JSONL files.", "",
        f"Versions: datatrove {v['datatrove'].get('datatrove', '?')} ("
        + ", ".join(f"{k} {ver}" for k, ver in v["datatrove"].items() if k != "datatrove")
        + f") in `{res['venv']}`; the project at git {v['git']} (apache-beam {v['ours'].get('apache-beam', '?')}, "
        f"fasttext-numpy2 {v['ours'].get('fasttext-numpy2', '?')}, numpy {v['ours'].get('numpy', '?')}). "
        "Language ID model: lid.176.ftz for both.", "",
        "Throughput per core = corpus MB (or documents) / seconds of that part on one core, so the parts' "
        "seconds add up to the total.", "",
        "| tool | part | seconds | MB/s per core | docs/s per core | docs in -> out |",
        "|---|---|---|---|---|---|",
        f"| datatrove | JsonlReader + LanguageFilter + GopherRepetitionFilter + GopherQualityFilter + JsonlWriter | "
        f"{dt_filter:.1f} | {_rate(mb, docs, dt_filter)} | {c.get('read', '?')} -> {c.get('quality_kept', '?')} |",
        "| datatrove | MinHash, 4 stages (" + ", ".join(f"{_label(k)[8:]} {dts[k]:.1f} s" for k in minhash_parts)
        + f") | {dt_minhash:.1f} | {_rate(mb, docs, dt_minhash)} | {c.get('quality_kept', '?')} -> "
        f"{c.get('kept', '?')} |",
        f"| **datatrove** | **total** | **{dt_total:.1f}** | {_rate(mb, docs, dt_total, bold=True)} | "
        f"{c.get('read', '?')} -> {c.get('kept', '?')} |",
    ]
    a, b = ours["part_a_beam"], ours["part_b_beam"]
    after_rules = (o["read"] or 0) - o["lid_dropped"] - o["rules_dropped"] - sum(o["other_dropped"].values())
    lines += [
        f"| project | read + normalize + langid + rules (Beam's execution time of those steps) | {a:.1f} | "
        f"{_rate(mb, docs, a)} | {o['read']} -> {after_rules} |",
        f"| project | near_dedup (Beam's execution time) | {b:.1f} | {_rate(mb, docs, b)} | {after_rules} -> "
        f"{o['kept']} |",
        f"| project | rest of the job: Beam runner and shuffles, Parquet curated/ and rejected/, counts, "
        f"examples, audit | {our_job - a - b:.1f} | | | |",
        f"| **project** | **curation job (`seconds.curation` in report/timings.json)** | **{our_job:.1f}** | "
        f"{_rate(mb, docs, our_job, bold=True)} | {o['read']} -> {o['kept']} |",
        "",
        f"**Project / datatrove, MB/s per core over the whole job: {ratio:.2f}x** "
        f"({'faster' if ratio > 1 else 'slower'}: datatrove {dt_total:.1f} s, project {our_job:.1f} s). "
        f"Whole processes instead (the datatrove job with its imports vs all of `curate run`, tokenizer, mixing "
        f"and report included): {dt['wall'] / ours['wall']:.2f}x.", "",
        f"Processes: the datatrove job {dt['wall']:.1f} s wall ({dt['cpu_seconds']:.1f} s CPU), peak RSS "
        f"{dt['peak_rss_mb']:.0f} MB; `curate run` {ours['wall']:.1f} s wall ({ours['cpu_seconds']:.1f} s CPU), "
        f"peak RSS {ours['peak_rss_mb']:.0f} MB, of which the curation job above, then tokenizer "
        f"{ous.get('tokenizer', 0):.1f} s, mixing {ous.get('mixing', 0):.1f} s and report "
        f"{ous.get('report', 0):.1f} s (not compared: datatrove has no such steps) and "
        f"{ours['wall'] - sum(ous.values()):.1f} s that the run does not time (interpreter start-up and "
        "imports, config and model checks, reconciliation, manifests, and rendering report.html, which "
        "timings.json's `report` leaves out).", "",
        "Where the time goes (datatrove: its per-block timers; project: Beam's execution time per step):", "",
        "| tool | part | step | seconds |", "|---|---|---|---|",
    ]
    for part, blocks in dt["blocks"].items():
        for blk in blocks:
            lines.append(f"| datatrove | {_label(part)} | {_block_name(blk['name'])} | "
                         f"{blk['time_stats']['total']:.2f} |")
    for step, sec in sorted(ours["beam_steps"].items(), key=lambda kv: -kv[1]):
        lines.append(f"| project | curation | {step} | {sec:.2f} |")
    lines += [
        "",
        ("Both ran the same language ID model with the same threshold and dropped the same number of documents "
         "there. " if c.get("lid_dropped") == o["lid_dropped"] else "")
        + "Kept documents differ because the rules differ: datatrove dropped "
        f"{c.get('lid_dropped', '?')} at language ID, {c.get('repetition_dropped', '?')} at Gopher repetition, "
        f"{c.get('quality_dropped', '?')} at Gopher quality and {c.get('minhash_dropped', '?')} as near-duplicates; "
        f"the project {o['lid_dropped']} at langid, {o['rules_dropped']} at rules and "
        f"{o['near_dedup_dropped']} at near_dedup"
        + (f" (other: {o['other_dropped']})" if o["other_dropped"] else "")
        + ". datatrove's Gopher rules split every document with the English spaCy tokenizer and test English "
        "stop words, so Chinese and Japanese documents fail them; the project's rules are language-aware.", "",
        "datatrove settings that differ from its defaults, and why:", "",
        *[f"- {n}" for n in DATATROVE_NOTES], "",
        "The project's run (its config is written to `bench-out/datatrove/ours.yaml`):", "",
        *[f"- {n}" for n in OURS_NOTES],
        "- Its per-part rows are Beam's measured execution time per step on the FnApiRunner; the runner's own "
        "overhead is in the 'rest' row. The ratio uses the whole curation job's wall time, and datatrove's "
        "parts are wall times of its executors' `run()` in the job process.",
    ]
    return lines


def section(res: dict) -> list[str]:
    """The BENCHMARKS.md section when this script writes it (run_all.py --suite datatrove writes its own
    header around the same `render`)."""
    return [f"<!-- {SECTION}:begin -->", f"## {TITLE}", "",
            "Produced by `python benchmarks/datatrove_compare.py` (see benchmarks/README.md); rerun it to refresh "
            "this section.", "", *render(res), "", f"<!-- {SECTION}:end -->"]


def _load() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def contention(res: dict) -> str:
    """A note when other work shared the cores: a 1-minute load average above 0.5 before the run (nothing of
    ours running yet), or a tool that got less than 90% of its wall time as CPU on its pinned core."""
    load = res["load_average_1m"]
    shares = {tool: res[tool]["cpu_seconds"] / res[tool]["wall"] for tool in ("datatrove", "ours")}
    if (load["before"] or 0) <= 0.5 and min(shares.values()) >= 0.9:
        return ""
    return (f"other work shared the machine (1-minute load average {load['before']} before the run, "
            f"{load['after']} after; CPU / wall: datatrove {shares['datatrove']:.0%}, project "
            f"{shares['ours']:.0%}); absolute rates are low and the ratio is less certain.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"a {QUICK_MB} MB corpus (development)")
    parser.add_argument("--target-mb", type=float, default=None, help=f"corpus size (default {DEFAULT_MB})")
    parser.add_argument("--repeat", type=int, default=1, help="runs per tool, interleaved; the best is reported")
    parser.add_argument("--cpu", type=int, default=0, help="the core both tools are pinned to (taskset -c)")
    parser.add_argument("--work", type=Path, default=C.ROOT / "bench-out" / "datatrove",
                        help="corpus, outputs and logs (git-ignored bench-out/)")
    parser.add_argument("--venv", type=Path, default=C.ROOT / "bench-out" / "datatrove-venv")
    parser.add_argument("--report", type=Path, default=C.ROOT / "BENCHMARKS.md")
    parser.add_argument("--no-report", action="store_true", help="do not touch BENCHMARKS.md")
    parser.add_argument("--json", type=Path, default=None, help=f"raw results (default {C.RESULTS_DIR}/"
                                                                 "datatrove_compare.json)")
    parser.add_argument("--datatrove-job", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.datatrove_job:
        datatrove_job(args.datatrove_job)
        return 0
    if C.require_shared_data() is None:
        return 0
    load_before = _load()
    target = args.target_mb if args.target_mb is not None else (QUICK_MB if args.quick else DEFAULT_MB)
    started = time.perf_counter()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    python = ensure_venv(args.venv.resolve())
    inputs, corpus = prepare_corpus(work, target)
    print(f"corpus: {corpus['docs']} docs, {corpus['mb']:.2f} MB in {inputs}", flush=True)
    config = work / "ours.yaml"
    project_config(inputs, config)
    cpu = args.cpu if pin_prefix(args.cpu) else None

    best: dict[str, dict] = {}
    for i in range(args.repeat):
        dt = run_datatrove(python, inputs, work / "datatrove-run", cpu)
        total = sum(dt["seconds"].values())
        print(f"[{i + 1}/{args.repeat}] datatrove: filter {dt['seconds']['filter']:.1f} s, total {total:.1f} s "
              f"(job wall {dt['wall']:.1f} s)", flush=True)
        if "datatrove" not in best or total < sum(best["datatrove"]["seconds"].values()):
            best["datatrove"] = dt
        ours = run_ours(config, work / "ours-run", cpu)
        print(f"[{i + 1}/{args.repeat}] project: curation job {ours['seconds']['curation']:.1f} s "
              f"(curate run wall {ours['wall']:.1f} s)", flush=True)
        if "ours" not in best or ours["seconds"]["curation"] < best["ours"]["seconds"]["curation"]:
            best["ours"] = ours

    load_after = _load()
    cmd = "python benchmarks/datatrove_compare.py" + (" --quick" if args.quick and args.target_mb is None else "")
    if args.target_mb is not None:
        cmd += f" --target-mb {args.target_mb:g}"
    if args.repeat > 1:
        cmd += f" --repeat {args.repeat}"
    res = {
        "quick": args.quick and args.target_mb is None, "below_issue_size": target < DEFAULT_MB,
        "command": cmd, "repeat": args.repeat, "corpus": corpus,
        "machine": C.machine(), "pinning": f"pinned with `taskset -c {cpu}`" if cpu is not None else "not pinned",
        "venv": os.path.relpath(args.venv.resolve(), C.ROOT),
        "load_average_1m": {"before": load_before, "after": load_after},
        "versions": {"datatrove": package_versions(python, VERSION_PACKAGES),
                     "ours": package_versions(Path(sys.executable), ("apache-beam", "fasttext-numpy2", "numpy")),
                     "git": C.git_sha()},
        "datatrove": best["datatrove"], "ours": best["ours"],
    }
    res["contended_note"] = contention(res)
    res["seconds"] = round(time.perf_counter() - started, 1)
    path = C.write_results("datatrove_compare", res, args.json)
    lines = render(res)
    print("\n".join(lines))
    print(f"\nraw results: {path} ({res['seconds']} s)")
    if not args.no_report:
        C.replace_section(args.report, SECTION, "\n".join(section(res)))
        print(f"wrote the {SECTION} section of {args.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
