# Two commands set everything up on a fresh machine: `make demo` and `make test`.
# Both create .venv if it is missing, install the project into it and fetch the language-ID model.
VENV   ?= .venv
PY     := $(VENV)/bin/python
CURATE := $(VENV)/bin/curate
STAMP  := $(VENV)/.installed
TRAIN_STAMP := $(VENV)/.installed-train
# The tests of pipeline/dataset.py load shards through torch and Hugging Face datasets. torch 2.13.0 is
# pinned here only: its CPU build is what this machine class provides (a newer release means a CUDA build).
TORCH  ?= torch==2.13.0
OUT    ?= out/sample

.PHONY: setup setup-test demo test test-fast bench lint sample clean

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $(STAMP)

setup: $(STAMP)
	@$(CURATE) fetch-models

$(TRAIN_STAMP): $(STAMP)
	$(PY) -m pip install -q -e '.[test,train]' '$(TORCH)'
	@touch $(TRAIN_STAMP)

setup-test: setup $(TRAIN_STAMP)

demo: setup
	$(CURATE) run --config configs/sample.yaml --output $(OUT)

test: setup-test
	$(PY) -m pytest -q -rs

test-fast: setup-test
	$(PY) -m pytest -q -m "not slow"

# The benchmarks run in their own environment, with the project as `make demo` installs it (and as the
# worker image has it): without the train extra, whose Hugging Face datasets brings pandas, which Beam
# imports in every process it starts (apache_beam/typehints/__init__.py), 0.3-0.5 s per process here.
BENCH_VENV ?= .venv-bench
BPY := $(BENCH_VENV)/bin/python

bench:
	$(MAKE) setup VENV=$(BENCH_VENV)
	$(BPY) benchmarks/pipeline_bench.py --out bench-out --report BENCHMARKS.md
	$(BPY) benchmarks/run_all.py
	$(BPY) benchmarks/run_all.py --suite dedup
	$(BPY) benchmarks/run_all.py --suite quality
	$(BPY) benchmarks/run_all.py --suite tokenize
	$(BPY) benchmarks/efficiency.py --mp-baseline
	$(BPY) benchmarks/memory.py
	$(BPY) benchmarks/shuffle_compression.py
	$(BPY) benchmarks/gc_passes.py

lint: setup
	$(VENV)/bin/ruff check pipeline transforms tokenizer tests scripts benchmarks

sample:
	python3 scripts/make_sample.py

clean:
	rm -rf out bench-out
