"""Beam counters under one grammar: namespace = stage name; names `docs_in`, `kept`, `dropped:<reason>`.

Counters are created once per DoFn instance (lazily, by name) and are for live progress only: the report
reconciles from output rows, since attempted metrics double-count retries on some runners. An increment
adds to the instance's own table; `flush` adds that table to Beam's counters at the end of each bundle
(`CountingDoFn.finish_bundle`): one Beam increment per counter and bundle instead of one per document and
counter (each looks up the bundle's metrics container: ~1.5 us, 0.5 s of a 1-worker run on the 100 MB
benchmark corpus).

Live progress for local runs (pipeline/progress.py): when `CURATE_PROGRESS_DIR` is set in a process's
environment (the launcher sets it around a local Beam job; the FnApiRunner's worker subprocesses inherit
it), every increment is also added to a process-wide table, and a daemon thread writes that table about
once a second, when it changed, to `<dir>/<pid>.json` (temporary file + rename, so a reader never sees
half a snapshot). The Beam counters are unchanged: on Dataflow or Flink they are the progress display.
"""

from __future__ import annotations

import json
import os
import threading
import time

import apache_beam as beam
from apache_beam.metrics import Metrics

PROGRESS_DIR_ENV = "CURATE_PROGRESS_DIR"
WRITE_EVERY_S = 1.0


class _LiveCounts:
    """This process's counts: one small table {name: n} per StageCounters instance (so an increment takes
    no lock: a DoFn instance runs one bundle at a time), the wall time of each stage's first increment, and
    the writer thread that sums the tables into a snapshot in `directory` when they changed."""

    def __init__(self, directory: str, every: float = WRITE_EVERY_S) -> None:
        self.directory = directory
        self._every = every
        self._lock = threading.Lock()  # guards registration, not increments
        self._tables: list[tuple[str, dict[str, int]]] = []
        self._first: dict[str, float] = {}
        self._last: dict[str, float] = {}     # wall time of the last snapshot in which a stage's counts grew
        self._written: dict[str, dict[str, int]] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="curate-progress-writer", daemon=True)
        self._thread.start()

    def table(self, stage: str) -> dict[str, int]:
        """A new table for one StageCounters instance, registered for the snapshots."""
        table: dict[str, int] = {}
        with self._lock:
            self._tables.append((stage, table))
            self._first.setdefault(stage, time.time())
        return table

    def snapshot(self) -> dict | None:
        """The summed tables as a snapshot dict, or None when nothing changed since the last one."""
        with self._lock:
            tables = list(self._tables)
            first = dict(self._first)
        counts: dict[str, dict[str, int]] = {}
        for stage, table in tables:
            names = counts.setdefault(stage, {})
            for name, n in table.copy().items():  # a C-level copy: atomic under the GIL
                names[name] = names.get(name, 0) + n
        if counts == self._written:
            return None
        now = time.time()
        for stage, names in counts.items():
            if self._written is None or self._written.get(stage) != names:
                self._last[stage] = now
        self._written = counts
        stages = {stage: {"first": first.get(stage, now), "last": self._last[stage],
                          "counts": dict(sorted(names.items()))} for stage, names in sorted(counts.items())}
        return {"pid": os.getpid(), "time": now, "stages": stages}

    def write(self) -> None:
        snap = self.snapshot()
        if snap is None:
            return
        path = os.path.join(self.directory, f"{os.getpid()}.json")
        tmp = os.path.join(self.directory, f".{os.getpid()}.json.tmp")
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(snap, fh)
            os.replace(tmp, path)
        except OSError:  # the directory is gone (the job ended and the launcher cleaned up): nothing to report to
            self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self._every):
            self.write()

    def close(self) -> None:
        """Stops the writer after a last snapshot (called in the launcher's own process at the end of a job)."""
        self._stop.set()
        self.write()


_live: _LiveCounts | None = None


def live_progress(directory: str | None) -> None:
    """Start writing this process's counts to `directory` (None: stop, after a last snapshot)."""
    global _live
    if _live is not None:
        _live.close()
    _live = _LiveCounts(directory) if directory else None


def _after_fork_in_child() -> None:
    global _live  # a forked child starts empty, with its own pid file and writer thread
    if _live is not None:
        _live = _LiveCounts(_live.directory)


os.register_at_fork(after_in_child=_after_fork_in_child)
if os.environ.get(PROGRESS_DIR_ENV):
    live_progress(os.environ[PROGRESS_DIR_ENV])


class StageCounters:
    def __init__(self, stage: str) -> None:
        self._stage = stage
        self._counters: dict = {}
        self._pending: dict[str, int] = {}
        self._live: _LiveCounts | None = None
        self._table: dict[str, int] = {}

    def __getstate__(self) -> dict:
        return {"_stage": self._stage, "_counters": {}, "_pending": {}, "_live": None, "_table": {}}

    def inc(self, name: str, n: int = 1) -> None:
        pending = self._pending
        pending[name] = pending.get(name, 0) + n
        live = _live
        if live is not None:
            if self._live is not live:
                self._live, self._table = live, live.table(self._stage)
            table = self._table
            table[name] = table.get(name, 0) + n

    def flush(self) -> None:
        """Adds the increments since the last flush to Beam's counters (call it before a bundle ends)."""
        for name, n in self._pending.items():
            counter = self._counters.get(name)
            if counter is None:
                counter = self._counters[name] = Metrics.counter(self._stage, name)
            counter.inc(n)
        self._pending.clear()


class CountingDoFn(beam.DoFn):
    """A DoFn that counts into `self._counters` (a StageCounters), flushed to Beam at the end of each bundle."""

    _counters: StageCounters

    def finish_bundle(self) -> None:
        self._counters.flush()
