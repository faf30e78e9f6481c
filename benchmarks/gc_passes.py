"""What CPython's cyclic garbage collector costs a pipeline run, with the interpreter's default thresholds
and with transforms/runtime.py's.

Each run is `curate run` on the benchmark corpus (`make bench`'s, built if missing) with the in_memory
runner, pinned to one core, in a child process whose `gc.callbacks` count the collector's passes per
generation and the seconds spent in them. "default" keeps (700, 10, 10) by making `tune_gc` a no-op;
"tuned" is the pipeline as shipped. Settings alternate within each round (this host's speed drifts by
tens of percent within minutes, so compare the collector's seconds, not the walls of runs minutes apart).
Command: `python benchmarks/gc_passes.py` (about 6 minutes per round at 100 MB).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import _common as C  # noqa: E402

SECTION = "gc"
CORPUS = C.ROOT / "bench-out" / "efficiency" / "corpus"
WORK = C.ROOT / "bench-out" / "gc"

CHILD = r"""
import gc, json, sys, time
setting, stats_path = sys.argv[1], sys.argv[2]
passes, seconds, started = [0, 0, 0], [0.0, 0.0, 0.0], [0.0]
def _callback(phase, info):
    if phase == "start":
        started[0] = time.perf_counter()
    else:
        passes[info["generation"]] += 1
        seconds[info["generation"]] += time.perf_counter() - started[0]
gc.callbacks.append(_callback)
import transforms.runtime
if setting == "default":
    transforms.runtime.GC_THRESHOLD = gc.get_threshold()   # tune_gc leaves the interpreter's thresholds
from pipeline.cli import main
sys.argv = ["curate", *sys.argv[3:]]
try:
    code = main()
finally:
    with open(stats_path, "w") as fh:
        json.dump({"threshold": list(gc.get_threshold()), "passes": passes, "seconds": seconds}, fh)
sys.exit(code)
"""


def run(setting: str, config: Path, out: Path) -> dict:
    subprocess.run(["rm", "-rf", str(out)], check=True)
    with tempfile.TemporaryDirectory() as tmp:
        stats = Path(tmp) / "stats.json"
        cmd = ["taskset", "-c", "0", sys.executable, "-c", CHILD, setting, str(stats), "run", "--quiet",
               "--config", str(config), "--output", str(out), "--", "--direct_running_mode=in_memory"]
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=C.ROOT,
                              env={**os.environ, "PYTHONPATH": str(C.ROOT)})
        wall = time.perf_counter() - start
        if proc.returncode:
            raise SystemExit(f"curate run failed ({setting}):\n{proc.stderr[-3000:]}")
        result = json.loads(stats.read_text())
    result["wall"] = wall
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--report", default="BENCHMARKS.md")
    args = parser.parse_args()
    config = C.build_bench_corpus(CORPUS, 100, 8.0)   # the efficiency benchmark's corpus
    machine = C.machine()
    rows = []
    for k in range(args.rounds):
        for setting in ("default", "tuned"):
            r = run(setting, config, WORK / f"out-{setting}-{k}")
            rows.append((k, setting, r))
            print(f"round {k} {setting}: {sum(r['passes'])} passes, {sum(r['seconds']):.2f} s of "
                  f"{r['wall']:.1f} s", flush=True)
    lines = [
        "## Garbage collector: passes and seconds of one `curate run` (issue 9)", "",
        f"Produced by `python benchmarks/gc_passes.py --rounds {args.rounds}` at git {C.git_sha()}. "
        f"Machine: {machine['machine']}, {machine['cpus']} cores, Python {machine['python']}. Corpus: the "
        "efficiency benchmark's (bench-out/efficiency/corpus, 100 MB). in_memory "
        "runner pinned to one core; `gc.callbacks` in the run's process. The walls are single runs minutes "
        "apart on a host whose speed drifts by tens of percent: read the collector's seconds.", "",
        *C.md_table(["round", "thresholds", "passes (gen 0 / 1 / 2)", "collector s", "run wall s"],
                    [[k, f"{setting} {tuple(r['threshold'])}", " / ".join(map(str, r["passes"])),
                      f"{sum(r['seconds']):.2f}", f"{r['wall']:.1f}"] for k, setting, r in rows])]
    begin, end = C.markers(SECTION)
    C.replace_section(Path(args.report), SECTION, "\n".join([begin, *lines, end]) + "\n")


if __name__ == "__main__":
    main()
