# Two commands set everything up on a fresh machine: `make demo` and `make test`.
# Both create .venv if it is missing, install the project into it and fetch the language-ID model.
VENV   ?= .venv
PY     := $(VENV)/bin/python
CURATE := $(VENV)/bin/curate
STAMP  := $(VENV)/.installed
OUT    ?= out/sample

.PHONY: setup demo test test-fast bench lint sample clean

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $(STAMP)

setup: $(STAMP)
	@$(CURATE) fetch-models

demo: setup
	$(CURATE) run --config configs/sample.yaml --output $(OUT)

test: setup
	$(PY) -m pytest -q -rs

test-fast: setup
	$(PY) -m pytest -q -m "not slow"

bench: setup
	$(PY) benchmarks/pipeline_bench.py --out bench-out --report BENCHMARKS.md
	$(PY) benchmarks/run_all.py
	$(PY) benchmarks/run_all.py --suite dedup
	$(PY) benchmarks/run_all.py --suite quality

lint: setup
	$(VENV)/bin/ruff check pipeline transforms tokenizer tests scripts benchmarks

sample:
	python3 scripts/make_sample.py

clean:
	rm -rf out bench-out
