# ghost_model: the two set-up commands are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
GHOST_HOME ?= var
DEMO_DATA := $(GHOST_HOME)/demo-data
HOST ?= 127.0.0.1
PORT ?= 8000
export GHOST_HOME

.PHONY: install demo test lint train serve real-demo bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

$(DEMO_DATA)/dataset.yaml: | $(STAMP)
	$(BIN)/ghost-model simulate --out $(DEMO_DATA)

demo: $(STAMP) $(DEMO_DATA)/dataset.yaml
	$(BIN)/ghost-model demo --data $(DEMO_DATA)

test: $(STAMP)
	bash tests/setup_browser.sh
	$(BIN)/ruff check src pipelines serving tests benchmarks
	$(BIN)/ruff format --check src pipelines serving tests benchmarks
	$(BIN)/mypy
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check src pipelines serving tests benchmarks
	$(BIN)/ruff format --check src pipelines serving tests benchmarks
	$(BIN)/mypy

train: $(STAMP) $(DEMO_DATA)/dataset.yaml
	$(BIN)/ghost-model train --data $(DEMO_DATA) --promote

serve: $(STAMP)
	$(BIN)/ghost-model serve --host $(HOST) --port $(PORT)

real-demo: $(STAMP)
	$(BIN)/python -m pipelines.real_demo

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(GHOST_HOME) .pytest_cache .mypy_cache .ruff_cache
