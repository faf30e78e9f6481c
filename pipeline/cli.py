"""`curate`: the command line. Errors a user can act on print one line and exit non-zero."""

from __future__ import annotations

import argparse
import logging
import sys


class _QuietImports(logging.Filter):
    """Drops a warning Beam logs at import when the optional GCP client libraries are absent."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "apitools not found" not in record.getMessage()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="curate", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the whole pipeline: curate, tokenize, mix, pack, report",
                         epilog="Arguments after `--` are Beam pipeline options, e.g. "
                                "-- --direct_running_mode=multi_processing --direct_num_workers=2")
    run.add_argument("--config", required=True, help="YAML config (see configs/sample.yaml)")
    run.add_argument("--output", required=True, help="output directory (local path or gs://, s3://)")
    run.add_argument("--force", action="store_true",
                     help="redo every stage (by default stages whose completion marker in OUTPUT/stages/ "
                          "matches the config and inputs are skipped)")
    run.add_argument("-v", "--verbose", action="store_true", help="show Beam's own logging")
    run.add_argument("-q", "--quiet", action="store_true",
                     help="no live progress (shown on stderr when it is a terminal; CURATE_PROGRESS=always|never)")
    run.add_argument("--runner-profile", metavar="FILE",
                     help="Beam options from a YAML list (configs/runners/*.yaml; ${VAR} from the environment), "
                          "placed before the options after `--`")
    sub.add_parser("fetch-models", help="download and verify the default language-ID model (lid.176.ftz)")
    tq = sub.add_parser("train-quality", help="train the fastText quality classifier (pipeline/train_quality.py)")
    tq.add_argument("--labelled", nargs="+", default=[], metavar="F", help="JSONL with a text and a label field")
    tq.add_argument("--positive", nargs="+", default=[], metavar="F", help="JSONL of high-quality examples")
    tq.add_argument("--negative", nargs="+", default=[], metavar="F", help="JSONL of low-quality examples")
    tq.add_argument("--output", required=True, metavar="MODEL.bin", help="model path (sidecar: MODEL.bin.json)")
    tq.add_argument("--text-field", default="text")
    tq.add_argument("--label-field", default="label")
    tq.add_argument("--positive-label", default="hq", help="label value of high quality; any other is low")
    tq.add_argument("--holdout", type=float, default=0.1, help="held-out fraction (seeded hash of the text)")
    for flag, kind in (("--epoch", int), ("--lr", float), ("--word-ngrams", int), ("--dim", int),
                       ("--min-count", int), ("--bucket", int), ("--seed", int), ("--max-chars", int)):
        tq.add_argument(flag, type=kind, help="default: see TrainQualityConfig")
    tt = sub.add_parser("train-tokenizer", help="train the SentencePiece tokenizer on a finished run's curated/ "
                        "(pipeline/tokenizer_step.py)")
    tt.add_argument("--config", required=True, help="YAML config: its tokenizer.train section is used")
    tt.add_argument("--curated", required=True, metavar="DIR_OR_GLOB",
                    help="a run's output or curated/ directory, or a glob of curated Parquet parts")
    tt.add_argument("--output", required=True, metavar="DIR",
                    help="writes DIR/tokenizer.model and DIR/tokenizer.json (pin with tokenizer.model)")
    ins = sub.add_parser("inspect", help="summarize a run, its curated/ or rejected/ Parquet, or a phase, and show "
                         "rows (pipeline/inspect_cmd.py)")
    ins.add_argument("path", help="a phase directory (phases/<phase>), a run's curated/ or rejected/ directory or "
                     "one of its part files, or a run output")
    ins.add_argument("--shard", type=int, default=0, help="phase: the shard of the decoded row")
    ins.add_argument("--row", type=int, default=None,
                     help="phase: the row decoded (default 0); Parquet or a run output: show document N")
    ins.add_argument("--sample", type=int, default=0, metavar="K",
                     help="Parquet or a run output: show a seeded sample of K documents")
    exp = sub.add_parser("explain", help="where a document went: curated or rejected (why), phase, shard, row "
                         "(pipeline/explain.py)")
    exp.add_argument("doc_id", metavar="DOC_ID", help="a document id (<source>/<id>; the id alone if unique)")
    exp.add_argument("run_dir", metavar="RUN_DIR", help="a run output (local path or gs://, s3://)")
    exp.add_argument("--json", action="store_true", help="print a machine-readable JSON object")
    pl = sub.add_parser("plan", help="pre-flight estimate at scale: core-hours per stage, shuffle, sizes, wall time "
                        "(pipeline/plan.py, docs/scale.md)")
    pl.add_argument("--config", required=True)
    pl.add_argument("--input-bytes", required=True, metavar="N", help="input size, e.g. 40T, 500G or 123456789")
    pl.add_argument("--workers", type=int, default=100)
    pl.add_argument("--worker-cores", type=int, default=4)
    pl.add_argument("--html-share", type=float, default=None,
                    help="share of the input that is WARC HTML (default: 0, or 0.9 when a source is WARC)")
    pl.add_argument("--doc-bytes", type=int, default=3000, help="mean text bytes per document")
    pl.add_argument("--json", action="store_true")
    rep = sub.add_parser("report", help="rebuild report/report.json and report.html from a finished run's outputs "
                         "(pipeline/report.py)")
    rep.add_argument("run_dir", metavar="RUN_DIR", help="a finished run's output (local path or gs://, s3://)")
    meg = sub.add_parser("export-megatron", help="write a phase as a Megatron-LM indexed dataset (.bin/.idx)")
    meg.add_argument("phase", help="a phase directory (phases/<phase>) with manifest.json")
    meg.add_argument("--output", required=True, metavar="PREFIX", help="writes PREFIX.bin and PREFIX.idx")
    meg.add_argument("--split", choices=("train", "validation"), default="train")
    return parser


def _phase_tools(args: argparse.Namespace) -> int:
    """`inspect` and `export-megatron`."""
    from pipeline.inspect_cmd import InspectError, inspect
    from pipeline.megatron import export_megatron

    try:
        if args.command == "inspect":
            print("\n".join(inspect(args.path, args.row, args.shard, args.sample)))
            return 0
        from pipeline.dataset import open_phase

        vocab = open_phase(args.phase).manifest["tokenizer"]["vocab_size"]
        stats = export_megatron(args.phase, args.output, vocab, args.split)
    except (InspectError, FileNotFoundError) as exc:
        print(f"curate: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.output}.bin and {args.output}.idx: {stats['documents']} documents, {stats['tokens']} tokens")
    return 0


def _explain(args: argparse.Namespace) -> int:
    """`explain`: exit 0 when the document is found, 1 when not (suggestions printed), 2 for a bad RUN_DIR."""
    import json

    from pipeline.explain import ExplainError, explain, explain_lines

    try:
        result = explain(args.run_dir, args.doc_id)
    except ExplainError as exc:
        print(f"curate: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=1, ensure_ascii=False) if args.json else "\n".join(explain_lines(result)))
    return 0 if result["found"] else 1


_SI = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15}


def _bytes(text: str) -> int:
    text = text.strip().upper().removesuffix("B")
    unit = text[-1] if text and text[-1] in _SI else ""
    return int(float(text[:-1] if unit else text) * _SI[unit])


def _plan(args: argparse.Namespace) -> int:
    import json

    from pipeline.config import ConfigError, load_config
    from pipeline.plan import Assumptions, plan, plan_lines

    try:
        cfg = load_config(args.config)
        size = _bytes(args.input_bytes)
    except ConfigError as exc:
        print(f"curate: error: {exc}", file=sys.stderr)
        return 2
    except ValueError:
        print(f"curate: error: --input-bytes: not a size: {args.input_bytes!r} (e.g. 40T, 500G)", file=sys.stderr)
        return 2
    share = args.html_share if args.html_share is not None else (
        0.9 if any(s.format == "warc" for s in cfg.sources) else 0.0)
    result = plan(cfg, size, args.workers, Assumptions(doc_bytes=args.doc_bytes, html_share=share,
                                                       worker_cores=args.worker_cores))
    print(json.dumps(result, indent=1) if args.json else "\n".join(plan_lines(result)))
    return 0


def runner_profile_args(path: str, environ: dict[str, str] | None = None) -> list[str]:
    """The Beam options of a runner profile (configs/runners/*.yaml): a YAML list of options written as
    after `--`, each `${VAR}` replaced from the environment (`${VAR:-default}` when unset or empty;
    `${PROFILE_DIR}` is the profile's directory). A missing variable or a malformed file is a ConfigError."""
    import os
    import re

    import yaml

    from pipeline.config import ConfigError

    env = dict(os.environ if environ is None else environ)
    env["PROFILE_DIR"] = os.path.dirname(os.path.abspath(path))
    try:
        with open(path, encoding="utf-8") as fh:
            options = yaml.safe_load(fh)
    except OSError as exc:
        raise ConfigError(f"--runner-profile {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"--runner-profile {path}: not YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(options, list) or not all(isinstance(o, str) and o.startswith("--") for o in options):
        raise ConfigError(f"--runner-profile {path}: expected a YAML list of Beam options such as "
                          "--runner=DataflowRunner")
    missing: list[str] = []

    def expand(match: re.Match[str]) -> str:
        value = env.get(match[1]) or match[2]
        if value is None:
            missing.append(match[1])
        return value or ""

    args = [re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}", expand, option) for option in options]
    if missing:
        raise ConfigError(f"--runner-profile {path}: set {', '.join(dict.fromkeys(missing))} in the environment")
    return args


def _report(args: argparse.Namespace) -> int:
    """`report RUN_DIR`: the run's report rebuilt from its outputs (with the timings it recorded)."""
    from pipeline.report import assemble_report, write_report

    run_dir = args.run_dir.rstrip("/")
    try:
        report = assemble_report(run_dir)
    except (FileNotFoundError, KeyError, ValueError) as exc:
        print(f"curate: error: cannot rebuild the report of {run_dir}: {exc}", file=sys.stderr)
        return 2
    write_report(run_dir, report)
    status = "reconciled" if report["reconciled"] else "NOT reconciled: " + "; ".join(report["problems"])
    print(f"report: {run_dir}/report/report.json, {run_dir}/report/report.html ({status})")
    return 0 if report["reconciled"] else 1


def entry() -> None:
    """The `curate` command and `python -m pipeline`: `main`, then the process ends with its exit code without
    the interpreter's teardown, which frees every module and object one by one (Beam, pyarrow, the models;
    after a local run, whatever the in_memory runner left): 0.4 s after the sample run here. Everything the
    command wrote is closed by then; logging and stdio are flushed (transforms/runtime.py: `exit_now`). An
    exception out of `main` leaves the usual way, with its traceback."""
    from transforms.runtime import exit_now

    exit_now(main())


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    beam_args: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, beam_args = argv[:cut], argv[cut + 1:]
    args = _parser().parse_args(argv)
    verbose = getattr(args, "verbose", False)
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(_QuietImports())
    logging.getLogger("pipeline").setLevel(logging.INFO)
    if not verbose:
        logging.getLogger("apache_beam").setLevel(logging.ERROR)

    if args.command in ("inspect", "export-megatron"):
        return _phase_tools(args)
    if args.command == "explain":
        return _explain(args)
    if args.command == "report":
        return _report(args)
    if args.command == "plan":
        return _plan(args)
    if args.command == "fetch-models":
        from pipeline.models import fetch_lid_model

        try:
            path = fetch_lid_model()
        except Exception as exc:  # noqa: BLE001 - any failure here is one line for the user
            print(f"curate: error: could not fetch the language-ID model: {exc}", file=sys.stderr)
            return 1
        print(f"language-ID model: {path}")
        return 0

    if args.command == "train-tokenizer":
        from pipeline.config import ConfigError
        from pipeline.tokenizer_step import summary_lines, train_tokenizer_command

        logging.getLogger("tokenizer").setLevel(logging.ERROR)  # warnings are printed with the summary
        try:
            result = train_tokenizer_command(args.config, args.curated, args.output)
        except ConfigError as exc:
            print(f"curate: error: {exc}", file=sys.stderr)
            return 2
        except OSError as exc:
            print(f"curate: error: train-tokenizer: {exc}", file=sys.stderr)
            return 1
        print("\n".join(summary_lines(result)))
        return 0

    if args.command == "train-quality":
        from pipeline.train_quality import TrainQualityConfig, train_quality

        tuning = {k: getattr(args, k) for k in ("epoch", "lr", "word_ngrams", "dim", "min_count", "bucket",
                                                "seed", "max_chars") if getattr(args, k) is not None}
        try:
            tq_cfg = TrainQualityConfig(
                labelled=tuple(args.labelled), positive=tuple(args.positive), negative=tuple(args.negative),
                text_field=args.text_field, label_field=args.label_field, positive_label=args.positive_label,
                holdout_fraction=args.holdout, **tuning)
            metrics = train_quality(tq_cfg, args.output)
        except ValueError as exc:  # TrainQualityError and config values: one line for the user
            print(f"curate: error: {exc}", file=sys.stderr)
            return 2
        except OSError as exc:
            print(f"curate: error: train-quality: {exc}", file=sys.stderr)
            return 1
        print(f"held out: {metrics['holdout']['hq']} positive, {metrics['holdout']['lq']} negative; "
              f"precision {metrics['precision']}, recall {metrics['recall']}, F1 {metrics['f1']} (P(hq) >= 0.5)")
        print(f"model:   {args.output}")
        print(f"sidecar: {args.output}.json")
        return 0

    from pipeline.config import ConfigError, load_config
    from pipeline.progress import progress_enabled
    from pipeline.report import ReconciliationError
    from pipeline.run import run
    from transforms.mix import ShortfallError

    try:
        if args.runner_profile:
            beam_args = runner_profile_args(args.runner_profile) + beam_args
        cfg = load_config(args.config)
        result = run(cfg, args.output, beam_args, force=args.force,
                     progress=progress_enabled(args.quiet, sys.stderr))
    except (ConfigError, ShortfallError) as exc:
        print(f"curate: error: {exc}", file=sys.stderr)
        return 2
    except ReconciliationError as exc:
        print(f"curate: error: {exc}", file=sys.stderr)
        return 1
    out = result.output
    totals = result.report["totals"]
    print(f"read {totals['read']} records, kept {totals['kept']}, dead letters {totals['dead_letters']}; "
          f"dropped by stage {totals['dropped_by_stage']}")
    for name, manifest in result.manifests.items():
        print(f"phase {name}: {manifest['tokens']} tokens in {len(manifest['shards'])} shards "
              f"-> {out}/phases/{name}/ (manifest.json)")
    print(f"curated documents: {out}/curated/")
    print(f"rejected records:  {out}/rejected/")
    print(f"report data:       {out}/report/report.json")
    print(f"run manifest:      {out}/run_manifest.json")
    trained = result.report.get("quality_model")
    if trained:
        m = trained["holdout_metrics"]
        when = "an earlier run into this output" if "quality_model" in result.skipped else "this run"
        print(f"quality model:     {out}/quality/quality.bin (trained by {when}; held-out precision "
              f"{m['precision']:.3f}, recall {m['recall']:.3f})")
    if result.skipped:
        print(f"skipped (up to date, see {out}/stages/): {', '.join(result.skipped)}"
              + ("" if result.done else "; nothing to do (--force redoes every stage)"))
    print("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in result.seconds.items()))
    print(f"report:            {out}/report/report.html")
    return 0
