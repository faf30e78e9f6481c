"""Live progress of a local Beam job on the terminal: documents per stage, rate and elapsed time.

    with Progress("curation", enabled) as progress, make_pipeline(beam_args) as p:
        progress.attach(p)            # optional: the final block then shows the job's Beam metrics
        build_curation(p, ...)

While the job runs, every process that counts (the launcher itself with the in_memory FnApiRunner, its
worker subprocesses with multi_processing) writes its per-stage counts to `<tmp dir>/<pid>.json` about
once a second (transforms/counters.py, switched on by `CURATE_PROGRESS_DIR`, which this context sets). A
daemon thread sums those snapshots every `interval` seconds and redraws one line per stage seen, in
pipeline order: documents in, kept, dropped, documents per second. When the job ends it prints the block
once more: with the job's committed Beam counters when the pipeline was attached and its runner reports
them (exact), else the last snapshots (labelled so; a worker's last second can be missing).

On Dataflow or Flink the same counters are the job's Beam metrics in the runner's UI.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

from transforms import counters

STAGE_ORDER = ("read", "urls", "extract", "normalize", "exact_dedup", "langid", "rules", "safety", "quality",
               "near_dedup", "paragraph_dedup", "decontam", "tokenize", "mix", "pack", "shards")
MODE_ENV = "CURATE_PROGRESS"              # always | never (default: on when stderr is a terminal)
INTERVAL_ENV = "CURATE_PROGRESS_INTERVAL"  # seconds between redraws (default 2)
DEFAULT_INTERVAL_S = 2.0
MIN_RATE_SPAN_S = 1.0                      # a stage seen for less than this shows no rate


def progress_enabled(quiet: bool, stream: TextIO) -> bool:
    """Shown when `stream` is a terminal, unless `quiet`; `CURATE_PROGRESS=always|never` forces it
    (`--quiet` still wins)."""
    if quiet:
        return False
    mode = os.environ.get(MODE_ENV, "").strip().lower()
    if mode == "never":
        return False
    if mode == "always":
        return True
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


@dataclasses.dataclass
class StageProgress:
    counts: dict[str, int]
    first: float | None = None   # wall time of the stage's first increment in any process
    last: float | None = None    # wall time of the last snapshot in which its counts grew

    @property
    def docs_in(self) -> int | None:
        return self.counts.get("docs_in")

    @property
    def kept(self) -> int | None:
        return self.counts.get("kept")

    @property
    def dropped(self) -> int | None:
        drops = [n for name, n in self.counts.items() if name.startswith("dropped:")]
        return sum(drops) if drops else None

    def rate(self) -> float | None:
        """docs_in per second over the stage's active time (first increment to last growth)."""
        if self.docs_in is None or self.first is None or self.last is None:
            return None
        span = self.last - self.first
        return self.docs_in / span if span >= MIN_RATE_SPAN_S else None


def read_snapshots(directory: str) -> list[dict[str, Any]]:
    """Every process's last snapshot in `directory` (unreadable or vanished files are skipped)."""
    snaps = []
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return snaps
    for name in names:
        if not name.endswith(".json") or name.startswith("."):
            continue
        try:
            with open(os.path.join(directory, name), encoding="utf-8") as fh:
                snaps.append(json.load(fh))
        except (OSError, ValueError):
            continue
    return snaps


def aggregate(snapshots: Iterable[Mapping[str, Any]]) -> dict[str, StageProgress]:
    """Per stage: counts summed over processes, the earliest first increment and the latest growth."""
    stages: dict[str, StageProgress] = {}
    for snap in snapshots:
        for stage, entry in snap.get("stages", {}).items():
            agg = stages.setdefault(stage, StageProgress({}))
            for name, n in entry.get("counts", {}).items():
                agg.counts[name] = agg.counts.get(name, 0) + int(n)
            first, last = entry.get("first"), entry.get("last")
            if first is not None:
                agg.first = first if agg.first is None else min(agg.first, first)
            if last is not None:
                agg.last = last if agg.last is None else max(agg.last, last)
    return stages


def with_counts(stages: Mapping[str, StageProgress], counts: Mapping[str, Mapping[str, int]]
                ) -> dict[str, StageProgress]:
    """The stages with their counts replaced by `counts` (the job's final Beam counters, by namespace);
    timings stay those of the snapshots. Namespaces that are neither pipeline stages nor seen in the
    snapshots are left out."""
    out: dict[str, StageProgress] = {}
    for stage in set(stages) | {s for s in counts if s in STAGE_ORDER}:
        seen = stages.get(stage)
        out[stage] = StageProgress(dict(counts.get(stage, {})), seen.first if seen else None,
                                   seen.last if seen else None)
    return out


def ordered(stages: Mapping[str, StageProgress]) -> list[str]:
    """Stages in pipeline order; any other namespace after them, alphabetically."""
    known = [s for s in STAGE_ORDER if s in stages]
    return known + sorted(s for s in stages if s not in STAGE_ORDER)


def format_elapsed(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def _count(n: int | None) -> str:
    return "-" if n is None else f"{n:,}"


def _rate(r: float | None) -> str:
    if r is None:
        return "-"
    return f"{r:,.0f}" if r >= 100 else f"{r:.1f}"


_FIRST_EXTRAS = ("rows", "files", "segments", "passed_through")


def _extra_order(name: str) -> tuple[int, str]:
    return (_FIRST_EXTRAS.index(name) if name in _FIRST_EXTRAS else len(_FIRST_EXTRAS), name)


def format_block(label: str, elapsed: float, stages: Mapping[str, StageProgress], width: int = 100,
                 status: str = "") -> list[str]:
    """The lines shown: a header with the job's label and elapsed time (and `status`), then one line per
    stage. A stage that does not count documents in (pack, shards, extract on non-HTML input) lists its own
    counters instead. Lines are cut to `width - 1` columns so the terminal never wraps them."""
    header = f"{label}: {format_elapsed(elapsed)} elapsed" + (f" ({status})" if status else "")
    lines = [header]
    if stages:
        lines.append(f"  {'stage':<16}{'docs in':>12}{'kept':>12}{'dropped':>12}{'docs/s':>10}")
    for stage in ordered(stages):
        st = stages[stage]
        line = (f"  {stage:<16}{_count(st.docs_in):>12}{_count(st.kept):>12}{_count(st.dropped):>12}"
                f"{_rate(st.rate()):>10}")
        if st.docs_in is None:
            others = [f"{name} {st.counts[name]:,}" for name in sorted(st.counts, key=_extra_order)
                      if name != "kept" and not name.startswith("dropped:")]
            if others:
                line += "  " + ", ".join(others)
        lines.append(line)
    cut = max(width - 1, 20)
    return [ln if len(ln) <= cut else ln[:cut - 3] + "..." for ln in lines]


def render(lines: list[str], previous: int, tty: bool) -> str:
    """The text that replaces the `previous` lines drawn (on a terminal: cursor up and clear) with `lines`."""
    text = "\n".join(lines) + "\n"
    if tty and previous:
        return f"\r\x1b[{previous}A\x1b[J" + text  # VT100 cursor up, then clear to the end of the screen
    return text


def metric_counts(result: Any) -> dict[str, dict[str, int]] | None:
    """A finished job's counters by namespace (committed, else attempted), or None when its runner does not
    report them."""
    from apache_beam.metrics.metric import MetricsFilter

    try:
        found = result.metrics().query(MetricsFilter())["counters"]
    except Exception:  # noqa: BLE001 - a runner without metrics support: fall back to the snapshots
        return None
    out: dict[str, dict[str, int]] = {}
    for res in found:
        value = res.committed if res.committed is not None else res.attempted
        if value is None:
            continue
        names = out.setdefault(res.key.metric.namespace, {})
        names[res.key.metric.name] = names.get(res.key.metric.name, 0) + int(value)
    return out


class Progress:
    """The live block around one Beam job (see the module docstring). Disabled: does nothing."""

    def __init__(self, label: str, enabled: bool, stream: TextIO | None = None, interval: float | None = None,
                 width: int | None = None) -> None:
        self.label = label
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        if interval is None:
            try:
                interval = float(os.environ.get(INTERVAL_ENV, DEFAULT_INTERVAL_S))
            except ValueError:
                interval = DEFAULT_INTERVAL_S
        self.interval = max(interval, 0.05)
        self._width = width
        self._pipeline: Any = None
        self._drawn = 0
        self._dir: str | None = None
        self._previous_env: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start = 0.0
        try:
            self._tty = self.stream.isatty()
        except (AttributeError, ValueError):
            self._tty = False

    def attach(self, pipeline: Any) -> None:
        """The pipeline whose result's Beam counters give the final block (read after it has run)."""
        self._pipeline = pipeline

    def __enter__(self) -> Progress:
        if not self.enabled:
            return self
        self._start = time.monotonic()
        self._dir = tempfile.mkdtemp(prefix="curate-progress-")
        self._previous_env = os.environ.get(counters.PROGRESS_DIR_ENV)
        os.environ[counters.PROGRESS_DIR_ENV] = self._dir   # inherited by worker subprocesses
        counters.live_progress(self._dir)                  # this process (in_memory runner)
        self._thread = threading.Thread(target=self._loop, name=f"curate-progress-{self.label}", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if not self.enabled or self._dir is None:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        counters.live_progress(self._previous_env)  # last snapshot of this process's counts
        if self._previous_env is None:
            os.environ.pop(counters.PROGRESS_DIR_ENV, None)
        else:
            os.environ[counters.PROGRESS_DIR_ENV] = self._previous_env
        try:
            stages = aggregate(read_snapshots(self._dir))
            result = getattr(self._pipeline, "result", None) if exc_type is None else None
            final = metric_counts(result) if result is not None else None
            if final is not None:
                stages, status = with_counts(stages, final), "done"
            else:
                status = "last snapshot" if exc_type is None else "stopped; last snapshot"
            if stages or self._drawn:
                self._draw(format_block(self.label, time.monotonic() - self._start, stages, self._columns(),
                                        status))
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def _columns(self) -> int:
        return self._width or shutil.get_terminal_size((100, 24)).columns

    def _draw(self, lines: list[str]) -> None:
        try:
            self.stream.write(render(lines, self._drawn, self._tty))
            self.stream.flush()
        except (OSError, ValueError):  # a closed or broken stream must not fail the run
            return
        self._drawn = len(lines)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            stages = aggregate(read_snapshots(self._dir)) if self._dir else {}
            self._draw(format_block(self.label, time.monotonic() - self._start, stages, self._columns()))
