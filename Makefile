# Two commands on a fresh machine: `make run` (the example suite end to end) and `make test` (all tests).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench

# `make run` installs what the main job needs; `make test` adds the test tools, torch (CPU) and the rest.
$(BIN)/.installed-run: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	touch $@

$(BIN)/.installed: $(BIN)/.installed-run
	$(BIN)/python -m pip install -q -e '.[dev,hf,inspect,lab,ray]'
	touch $@

run: $(BIN)/.installed-run
	scripts/system-deps.sh run
	$(BIN)/proctor run examples --model scripted/baseline

test: $(BIN)/.installed
	scripts/system-deps.sh test
	$(BIN)/python -m pytest -q

lint: $(BIN)/.installed
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

bench: $(BIN)/.installed
	scripts/system-deps.sh run
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done
