# Two commands matter: `make run` (serve the embedded default config) and `make test` (the whole suite).
# Both create .venv on first use and reinstall the project when pyproject.toml changes.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench clean
BENCH_STAMP := $(VENV)/.installed-bench

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/patches-server

test: $(STAMP)
	$(BIN)/python -m pytest

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[bench]'
	touch $(BENCH_STAMP)

# The benchmarks (not tests): about 8 minutes; bench/setup.sh installs wrk and nginx if it can.
bench: $(BENCH_STAMP)
	bench/setup.sh
	$(BIN)/python -m bench.run_all

lint: $(STAMP)
	$(BIN)/ruff check patches tests bench
	$(BIN)/ruff format --check patches tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
