"""Run the four evaluation benchmarks (language-ID accuracy, Chinese script accuracy, HTML extraction
quality, language-ID throughput) and write their tables into BENCHMARKS.md between the markers
`<!-- eval:begin -->` and `<!-- eval:end -->` (appended at the end of the file when missing; the rest of
the file is left as it is). Raw numbers go to /tmp/multiphase-curation-bench/results.json, not the repo.

Each benchmark runs in its own process (so the one-core pinning of the throughput run stays local).
Budget: about 6 minutes on 2 cores (about 2 minutes measured). --max-pages N makes extraction score a
seeded subsample of N trafilatura pages (the table then says so); the default 0 scores every page.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import _common as C

DEFAULT_MAX_PAGES = 0  # every page: the full extraction run takes ~50 s here
SUITES = {  # suite -> (BENCHMARKS.md section title, benchmarks); each suite has its own marked section
    "eval": ("Language ID, scripts and extraction (issue 3)",
             ["lid_accuracy", "script_accuracy", "extraction_quality", "langid_throughput"]),
    "dedup": ("Deduplication quality and scale (issue 4)", ["dedup_quality", "dedup_scale"]),
    "quality": ("Quality, safety and decontamination (issue 5)", ["quality_eval"]),
    "tokenize": ("Tokenizer and tokenization (issue 6)", ["tokenize_throughput"]),
    # installs datatrove in bench-out/datatrove-venv on first use; the full size (100 MB) takes tens of minutes
    "datatrove": ("Side by side with datatrove (issue 9)", ["datatrove_compare"]),
}
EXTRA_ARGS = {"datatrove_compare": ["--no-report"]}  # run_all writes the section itself
BENCHES = [name for _, names in SUITES.values() for name in names]
HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every benchmark on its quick subsample")
    parser.add_argument("--max-pages", type=int, default=DEFAULT_MAX_PAGES,
                        help="trafilatura-eval pages scored by extraction_quality (0 = all)")
    parser.add_argument("--suite", choices=sorted(SUITES), default="eval")
    parser.add_argument("--only", nargs="*", choices=BENCHES, default=None)
    parser.add_argument("--report", type=Path, default=C.ROOT / "BENCHMARKS.md")
    parser.add_argument("--no-report", action="store_true", help="do not touch BENCHMARKS.md")
    args = parser.parse_args()
    title, suite_benches = SUITES[args.suite]
    args.only = args.only or suite_benches
    if C.require_shared_data() is None:
        print("run_all: skipped, BENCHMARKS.md left unchanged", file=sys.stderr)
        return 0

    out_dir = C.RESULTS_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    results, timings, failed = {}, {}, []
    started = time.perf_counter()
    for name in args.only:
        cmd = [sys.executable, str(HERE / f"{name}.py"), "--json", str(out_dir / f"{name}.json"),
               *EXTRA_ARGS.get(name, [])]
        if args.quick:
            cmd.append("--quick")
        elif name == "extraction_quality" and args.max_pages:
            cmd += ["--max-pages", str(args.max_pages)]
        json_path = out_dir / f"{name}.json"
        json_path.unlink(missing_ok=True)
        print(f"== {name}: {' '.join(cmd[1:])}", flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=C.ROOT)
        timings[name] = round(time.perf_counter() - t0, 1)
        if proc.returncode != 0 or not json_path.exists():
            print(f"== {name} FAILED (exit {proc.returncode}) after {timings[name]} s", file=sys.stderr)
            failed.append(name)
            continue
        results[name] = json.loads(json_path.read_text())
        print(f"== {name} done in {timings[name]} s", flush=True)
    total = round(time.perf_counter() - started, 1)

    combined = {"machine": C.machine(), "quick": args.quick, "wall_seconds": timings, "total_seconds": total,
                "failed": failed, "results": results}
    (out_dir / "results.json").write_text(json.dumps(combined, ensure_ascii=False, indent=1))
    print(f"raw results: {out_dir / 'results.json'}; total {total} s ({timings})")
    if failed:
        print(f"not writing {args.report}: failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    if args.no_report:
        return 0
    if set(args.only) != set(suite_benches):
        print("not writing the report from a partial run (--only)", file=sys.stderr)
        return 0

    q = " --quick" if args.quick else ""
    begin, end = C.markers(args.suite)
    suite_flag = "" if args.suite == "eval" else f" --suite {args.suite}"
    lines = [begin, f"## {title}", "",
             f"Produced by `python benchmarks/run_all.py{suite_flag}{q}` (see benchmarks/README.md); rerun it to "
             f"refresh this section. Machine: {platform.machine()}, {C.machine()['cpus']} cores, Python "
             f"{platform.python_version()}; data from ../shared/data; total {total:.0f} s ("
             + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()) + ").", ""]
    for name in suite_benches:
        module = importlib.import_module(name)
        lines += module.render(results[name]) + [""]
    lines.append(end)
    C.replace_section(args.report, args.suite, "\n".join(lines))
    print(f"wrote the {args.suite} section of {args.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
