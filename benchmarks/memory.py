"""Memory: peak RSS per input MB of a whole `curate run` at several corpus sizes.

For each `--sizes` entry (target MB of text, default 100 and 1000) it builds the benchmark corpus
(scripts/build_corpus.py, in `<work>/corpus-<size>`), runs `curate run` on its config.yaml in a child
process and records the wall time, the peak RSS, the input size (bytes of the gzipped input files and of
the JSONL they decompress to, streamed) and the records read and kept (report/report.json `totals`).
From those: RSS MB per uncompressed input MB, and the marginal RSS per MB between consecutive sizes
((rss2 - rss1) / (mb2 - mb1)), which strips the fixed base (Python, Beam, the models).

Peak RSS comes from os.wait4 on the child (pipeline_bench.pipeline_benchmark): the largest resident set of
the child and of the descendants it waited for, not their sum. `--runner in_memory` (the default, 1 worker,
no Beam arguments) runs everything in that one process, so there it is the whole run's peak; with
`--runner multi_processing` (2 workers) it is the largest single process.

Before each size after the first it projects the peak as the previous size's RSS per input MB x this size's
input MB (scaled from the previous size's input MB per target MB; no extra headroom, the ratio includes the
fixed base and so over-projects) and skips the size, with a line saying so, when that exceeds the available
memory (psutil, else MemAvailable in /proc/meminfo).

Writes the section between <!-- memory:begin --> and <!-- memory:end --> of BENCHMARKS.md (`--report`) and
the raw numbers to `<work>/memory.json`. Corpus sizes at or below the real text (about 12 MB) all give the
same corpus: build_corpus.py only adds filler above it.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shlex
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import _common as C  # noqa: E402 - benchmarks/ is on sys.path when this runs as a script
from pipeline_bench import pipeline_benchmark  # noqa: E402

BEGIN, END = C.markers("memory")
HEADROOM = 1.0  # the ratio includes the fixed base (Python, Beam, models), so it already over-projects
RUNNERS = {"in_memory": [],
           "multi_processing": ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]}


def memory_bytes() -> tuple[int, int]:
    """(available, total) bytes of memory: psutil when installed, else /proc/meminfo."""
    try:
        import psutil
    except ImportError:
        info = {}
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, _, value = line.partition(":")
            info[key] = int(value.split()[0]) * 1024
        return info["MemAvailable"], info["MemTotal"]
    vm = psutil.virtual_memory()
    return vm.available, vm.total


def input_files(config: Path) -> list[Path]:
    from pipeline.config import load_config

    return sorted({path for src in load_config(config).sources for pattern in src.paths
                   for path in Path(pattern).parent.glob(Path(pattern).name)})


def uncompressed_bytes(path: Path, chunk: int = 1 << 20) -> int:
    """Decompressed size of a (gzipped) file, streamed."""
    total = 0
    with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as fh:
        while block := fh.read(chunk):
            total += len(block)
    return total


def measure(size: int, work: Path, beam_args: list[str]) -> dict:
    config = C.build_bench_corpus(work / f"corpus-{size}", size)
    files = input_files(config)
    out = work / f"out-{size}"
    subprocess.run(["rm", "-rf", str(out)], check=True)
    run = pipeline_benchmark(config, out, beam_args)
    mb = sum(uncompressed_bytes(f) for f in files) / 1e6
    totals = run["report"]["totals"]
    return {"target_mb": size, "input_mb": mb, "input_gz_mb": sum(f.stat().st_size for f in files) / 1e6,
            "files": [f.name for f in files], "records": totals["read"], "kept": totals["kept"],
            "wall_s": run["seconds"], "peak_rss_mb": run["peak_rss_mb"], "rss_per_mb": run["peak_rss_mb"] / mb,
            "jobs_s": run["jobs"]}


def marginals(runs: list[dict]) -> list[dict]:
    """(rss2 - rss1) / (mb2 - mb1) between consecutive measured sizes; None when the inputs are the same
    size (targets at or below the real text build the same corpus)."""
    done = [r for r in runs if "peak_rss_mb" in r]
    out = []
    for a, b in zip(done, done[1:], strict=False):
        d_mb = b["input_mb"] - a["input_mb"]
        per_mb = (b["peak_rss_mb"] - a["peak_rss_mb"]) / d_mb if d_mb >= 1 else None
        out.append({"from": a["target_mb"], "to": b["target_mb"], "from_input_mb": a["input_mb"],
                    "to_input_mb": b["input_mb"], "rss_mb_per_mb": per_mb})
    return out


def local_limit(runs: list[dict], margins: list[dict], total_mb: float) -> dict | None:
    """Estimated largest input a local run fits in `total_mb`: (total - base) / marginal RSS per MB, from the
    last consecutive pair with a marginal; base = that pair's larger RSS minus marginal x its input MB."""
    done = {r["target_mb"]: r for r in runs if "peak_rss_mb" in r}
    for m in reversed(margins):
        if m["rss_mb_per_mb"] and m["rss_mb_per_mb"] > 0:
            r = done[m["to"]]
            base = r["peak_rss_mb"] - m["rss_mb_per_mb"] * r["input_mb"]
            return {"input_mb": (total_mb - base) / m["rss_mb_per_mb"], "base_mb": base,
                    "per_mb": m["rss_mb_per_mb"], "from": "marginal"}
    if done:  # no marginal: RSS per MB with the base in it, so a lower bound
        r = max(done.values(), key=lambda r: r["input_mb"])
        return {"input_mb": total_mb / r["rss_per_mb"], "base_mb": 0.0, "per_mb": r["rss_per_mb"], "from": "average"}
    return None


def render(res: dict) -> list[str]:
    runs, margins, limit = res["runs"], res["marginals"], res["limit"]
    total_gib = res["machine"]["memory_total_mb"] / 1024
    lines = [BEGIN, "## Memory: peak RSS per input MB of `curate run`", "",
             f"Produced by `{res['command']}`. Machine: {res['machine']['machine']}, {res['machine']['cpus']} cores, "
             f"{total_gib:.1f} GiB RAM, Python {res['machine']['python']}, Beam {res['beam']}. Runner: {res['runner']}"
             + (" (1 worker, one process)" if res["runner"] == "in_memory" else " (2 workers)")
             + "; single runs. Peak RSS: os.wait4 on the `curate run` child (largest process; input MB "
             "= 10^6 bytes, RSS MB = MiB). Corpus: `scripts/build_corpus.py --target-mb N` (real text of "
             "../shared/data, about 12 MB, plus filler copies above that).", "",
             "| corpus target MB | input MB (uncompressed) | input MB (gz) | records | kept | wall s | peak RSS MB "
             "| RSS MB per input MB |", "|---|---|---|---|---|---|---|---|"]
    for r in runs:
        if "peak_rss_mb" in r:
            lines.append(f"| {r['target_mb']} | {r['input_mb']:.1f} | {r['input_gz_mb']:.1f} | {r['records']} | "
                         f"{r['kept']} | {r['wall_s']:.1f} | {r['peak_rss_mb']:.0f} | {r['rss_per_mb']:.1f} |")
        else:
            lines.append(f"| {r['target_mb']} | - | - | - | - | - | - | {r['skipped']} |")
    lines.append("")
    for m in margins:
        figure = (f"{m['rss_mb_per_mb']:.1f} MB of RSS per input MB" if m["rss_mb_per_mb"] is not None
                  else "n/a (the same corpus: both targets are at or below the real text)")
        lines.append(f"Marginal RSS from the {m['from']} to the {m['to']} MB corpus ({m['from_input_mb']:.1f} -> "
                     f"{m['to_input_mb']:.1f} input MB): {figure}.")
    if not margins:
        lines.append("Marginal RSS: n/a (fewer than two sizes measured).")
    if limit:
        how = (f"(the {total_gib:.1f} GiB minus a base of {limit['base_mb']:.0f} MB) / {limit['per_mb']:.1f} MB per "
               "input MB, the last marginal" if limit["from"] == "marginal" else
               f"{total_gib:.1f} GiB / {limit['per_mb']:.1f} MB per input MB, the average with the fixed base in it "
               "(no marginal measured), so a low estimate")
        bound = f"about {limit['input_mb'] / 1000:.1f} GB of input (estimate: {how})"
    else:
        bound = "an input size this run could not estimate (no size measured)"
    lines += ["", "Beam's local FnApiRunner keeps every PCollection between stages in memory in one process, so a "
              f"local run's peak grows with the corpus; on this {total_gib:.1f} GiB machine that bounds a local run "
              f"to {bound}. Beyond that, Dataflow or Flink, whose shuffles spill to disk or to the shuffle service, "
              "take over: their workers then hold only a bundle plus the per-stage models.", END]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--sizes", default="100,1000", help="corpus target MB, comma-separated")
    parser.add_argument("--work", default="bench-out/memory")
    parser.add_argument("--report", default="BENCHMARKS.md")
    parser.add_argument("--runner", choices=sorted(RUNNERS), default="in_memory")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    runs: list[dict] = []
    for size in sizes:
        available, _ = memory_bytes()
        prev = next((r for r in reversed(runs) if "peak_rss_mb" in r), None)
        if prev:
            projected = prev["rss_per_mb"] * size * prev["input_mb"] / prev["target_mb"] * HEADROOM
            if projected > available / 2**20:
                note = f"skipped: projected {projected:.0f} MB > {available / 2**20:.0f} MB available"
                print(f"size {size} MB {note} (previous {prev['rss_per_mb']:.1f} MB RSS per input MB x "
                      f"{HEADROOM})", flush=True)
                runs.append({"target_mb": size, "skipped": note, "projected_mb": projected,
                             "available_mb": available / 2**20})
                continue
        print(f"size {size} MB: building the corpus and running curate run ({args.runner})", flush=True)
        try:
            r = measure(size, work, RUNNERS[args.runner])
        except SystemExit as exc:  # the run failed (e.g. killed when out of memory): keep what was measured
            print(f"size {size} MB failed: {exc}", flush=True)
            runs.append({"target_mb": size, "skipped": "failed: " + (str(exc).strip().splitlines() or ["?"])[-1][:120]})
            break
        runs.append(r)
        print(f"size {size} MB: {r['input_mb']:.1f} MB input, {r['wall_s']:.1f} s, peak RSS {r['peak_rss_mb']:.0f} MB,"
              f" {r['rss_per_mb']:.1f} MB per input MB", flush=True)
    margins = marginals(runs)
    total = memory_bytes()[1]
    res = {"command": shlex.join(["python", "benchmarks/memory.py", *sys.argv[1:]]), "runner": args.runner,
           "beam": version("apache-beam"),
           "machine": {**C.machine(), "memory_total_mb": total / 2**20},
           "runs": runs, "marginals": margins, "limit": local_limit(runs, margins, total / 2**20)}
    (work / "memory.json").write_text(json.dumps(res, indent=1))
    section = "\n".join(render(res))
    print(section)
    C.replace_section(Path(args.report), "memory", section)
    print(f"wrote {args.report} and {work / 'memory.json'}")


if __name__ == "__main__":
    main()
