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

Called where a process starts pipeline work: `pipeline.run.run` in the launcher (the in_memory runner
executes the stages there) and the `setup` of the DoFns that open each job's stages on a worker
(reading, URL filtering, language ID, MinHash signatures, tokenization), so it holds on every worker of
every runner. Idempotent and cheap.
"""

from __future__ import annotations

import gc

GC_THRESHOLD = (20_000, 10, 10)


def tune_gc() -> None:
    if gc.get_threshold() != GC_THRESHOLD:
        gc.set_threshold(*GC_THRESHOLD)
