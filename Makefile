# Hookline on one machine. Needs only Python 3.11+: everything else lands in .venv.
#   make up                  the embedded stack (see `make help`)
#   make test ARGS='-k wallet -x'

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Touched after a successful install, so editing pyproject.toml reinstalls.
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench
ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help .venv up test bench lint fmt clean

help:
	@echo "make up     Redis and MongoDB (reused if they answer, else embedded), a worker,"
	@echo "            the gateway on :8000 and Flower on :5555; Ctrl-C stops everything"
	@echo "make test   pytest (extra arguments: make test ARGS='-k wallet -x')"
	@echo "make bench  Hookline against plain Celery, bare Starlette and pluggy (ARGS='--help')"
	@echo "make lint   ruff check, ruff format --check, mypy"
	@echo "make fmt    ruff format and ruff check --fix"
	@echo "make clean  remove caches and build output (keeps .venv and .hookline data)"

.venv: $(STAMP)

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "Hookline needs Python 3.11 or newer; try: make PYTHON=python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[dev]'
	touch $@

$(BENCH_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[dev,bench]'
	touch $@ $(STAMP)

up: $(STAMP)
	$(BIN)/hookline up

test: $(STAMP)
	$(BIN)/python -m pytest $(ARGS)

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -exec rm -rf {} +
