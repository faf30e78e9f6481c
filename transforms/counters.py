"""Beam counters under one grammar: namespace = stage name; names `docs_in`, `kept`, `dropped:<reason>`.

Counters are created once per DoFn instance (lazily, by name) and are for live progress only: the report
reconciles from output rows, since attempted metrics double-count retries on some runners.
"""

from __future__ import annotations

from apache_beam.metrics import Metrics


class StageCounters:
    def __init__(self, stage: str) -> None:
        self._stage = stage
        self._counters: dict = {}

    def __getstate__(self) -> dict:
        return {"_stage": self._stage, "_counters": {}}

    def inc(self, name: str, n: int = 1) -> None:
        counter = self._counters.get(name)
        if counter is None:
            counter = self._counters[name] = Metrics.counter(self._stage, name)
        counter.inc(n)
