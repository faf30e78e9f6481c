"""Process settings for the processes that run the pipeline: the launcher and every Beam worker.

`tune_gc` raises the young-generation threshold of CPython's cyclic garbage collector from 700 to 20,000
container allocations (`GC_THRESHOLD`; the older generations keep their defaults).
A pipeline allocates container objects (tuples, lists, dicts: Beam's windowed values and keys, documents'
fields) for every element, and almost all of them are freed by reference counting, so most collector
passes find nothing; and the local FnApiRunner holds the PCollections between stages in the same process,
so each full pass walks millions of live objects. On the 100 MB benchmark corpus, one in_memory run spent
7.2 s of its 192 s in 25,250 collector passes, and 0.9 s in 432 passes with this threshold (most of them
while modules were imported, before it applies; benchmarks/gc_passes.py, BENCHMARKS.md "Garbage
collector"). Garbage that is not cyclic is still freed at once; cyclic garbage waits longer (a young pass
every 20,000 allocations instead of 700), a bounded amount of memory.

`exit_fast_when_done`, in a Beam SDK worker process (`python -m apache_beam.runners.worker.sdk_worker_main`,
what multi_processing, Dataflow and Flink's PROCESS/DOCKER environments start), ends the process with
`os._exit(0)` once its harness has returned normally, instead of the interpreter's teardown (freeing
every module and object one by one: the language-ID and quality models, Beam, pyarrow). The local
FnApiRunner stops its workers one after the other at the end of each job and waits for each to exit; on
the 100 MB benchmark, the curation job's end took 0.66 s after its last bundle and the mixing job's 0.38 s,
against 0.07 and 0.04 s with the fast exit (multi_processing, 2 workers). Everything a worker produces has
reached the runner before its harness returns, so nothing is lost; logging handlers and stdio are flushed
first. A harness that ends with an exception (or is interrupted) exits the usual way, with its usual exit
code; a `SystemExit` with a non-zero code would leave with 0, but the harness's main never raises one.
A LOOPBACK worker (which runs inside the launcher) is never affected. The `curate` command itself ends the
same way once `pipeline.cli.main` has returned (`pipeline.cli.entry`, `exit_now`): its jobs, helper process
and progress threads are finished by then, and its outputs written and closed.

`tune_process` applies both. It is called where a process starts pipeline work: `pipeline.run.run` in the
launcher (the in_memory runner executes the stages there) and the `setup` of the DoFns that open each
job's stages on a worker (reading, URL filtering, language ID, MinHash signatures, tokenization), so it
holds on every worker of every runner. Idempotent and cheap.
"""

from __future__ import annotations

import atexit
import gc
import logging
import os
import sys
from types import TracebackType
from typing import NoReturn

GC_THRESHOLD = (20_000, 10, 10)
WORKER_MAIN = "apache_beam.runners.worker.sdk_worker_main"


class _FastExit:
    installed = False
    failed = False


def tune_process() -> None:
    tune_gc()
    exit_fast_when_done()


def tune_gc() -> None:
    if gc.get_threshold() != GC_THRESHOLD:
        gc.set_threshold(*GC_THRESHOLD)


def in_sdk_worker() -> bool:
    """This process runs Beam's SDK worker harness as its main module."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return getattr(spec, "name", None) == WORKER_MAIN


def exit_fast_when_done() -> None:
    """In an SDK worker process, `os._exit(0)` at exit after a normal end (see the module's docstring)."""
    if in_sdk_worker():
        install_fast_exit()   # idempotent


def install_fast_exit() -> None:
    """From now on this process skips the interpreter's teardown when it ends without an unhandled
    exception: an `atexit` hook (run before the ones registered earlier) flushes logging and stdio and
    calls `os._exit(0)`. An unhandled exception (seen by `sys.excepthook`) leaves the usual exit."""
    if _FastExit.installed:
        return
    _FastExit.installed = True
    previous = sys.excepthook

    def excepthook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        _FastExit.failed = True
        previous(kind, value, tb)

    sys.excepthook = excepthook
    atexit.register(_exit_now)


def _exit_now() -> None:
    if _FastExit.failed:
        return
    exit_now(0)


def exit_now(code: int) -> NoReturn:
    """Ends this process with `code` at once: logging handlers and stdio flushed, no interpreter teardown."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    os._exit(code)
