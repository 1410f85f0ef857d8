# The two set-up commands of a fresh machine: `make demo` (the main job on SQLite) and
# `make test` (the whole test suite). Both create .venv and install the project into it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test lint bench schemas clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'

demo: install
	$(BIN)/python -m ledger.demo

test: install
	$(BIN)/ruff check ledger tests benchmarks
	$(BIN)/ruff format --check ledger tests benchmarks
	$(BIN)/mypy ledger
	$(BIN)/pytest -n 2 -q tests

bench: install
	$(BIN)/pytest benchmarks --benchmark-only -q

clean:
	rm -rf build $(VENV) ledger/_native/*.c ledger/_native/*.so
