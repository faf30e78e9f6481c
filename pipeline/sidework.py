"""Launcher work beside the launcher's own, on a core the launcher would leave idle.

After the curation job, a run's launcher works alone for seconds at a time: it trains the tokenizer
(SentencePiece, mostly one thread) and, after the mixing job, assembles and draws the report. On a machine
where this process may use more than one core (`os.sched_getaffinity`), `SideWork` runs parts of that work
in one helper process meanwhile: the report's counts of curated/ and rejected/ and their histogram plots
while the tokenizer trains, then the remaining plots. With one core there is no helper: the work runs
in the launcher when its result is asked for, as before. The results are the same either way (pure functions
of the run's outputs), so a report does not depend on the cores a run had.

The helper is a `spawn`ed process (never a fork of a launcher that has run gRPC threads), started at the
first `submit`: its imports (Beam's filesystems, pyarrow, matplotlib) happen beside the tokenizer too. A
helper that fails or dies costs only time: `Deferred.get` redoes the work inline, so a real error surfaces there,
and once the helper has died every later `submit` runs its work inline too.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class SideWork:
    """A context manager; `enabled` (default: more than one core) decides whether a helper process runs."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = cores() > 1 if enabled is None else enabled
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> SideWork:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def submit(self, fn: Callable[..., T], *args: Any) -> Deferred[T]:
        """fn(*args), started in the helper when there is one (`fn` and `args` must pickle), else run by
        `Deferred.get`."""
        future = None
        if self.enabled:
            try:
                if self._pool is None:
                    self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
                future = self._pool.submit(fn, *args)
            except Exception as exc:  # noqa: BLE001 - a helper that died (BrokenProcessPool) or cannot start
                log.warning("side work: no helper process for %s (%s: %s); it runs here",
                            getattr(fn, "__name__", fn), type(exc).__name__, exc)
                self.enabled = False
        return Deferred(future, fn, args)


class Deferred(Generic[T]):
    """The result of a `SideWork.submit`."""

    def __init__(self, future: Future[T] | None, fn: Callable[..., T], args: tuple[Any, ...]) -> None:
        self.future = future   # None: no helper, the work runs in `get`
        self._fn, self._args = fn, args

    def get(self) -> T:
        """The helper's result, or fn(*args) done here when there is no helper or it failed."""
        if self.future is not None:
            try:
                return self.future.result()
            except Exception as exc:  # noqa: BLE001 - redone inline below, where a real error raises
                log.warning("side work %s failed in the helper process (%s: %s); doing it here",
                            getattr(self._fn, "__name__", self._fn), type(exc).__name__, exc)
        return self._fn(*self._args)
