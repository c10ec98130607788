# siyu — the two commands: `make demo` and `make test`. Both set up .venv/ if missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "siyu needs Python 3.11 or newer")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,dev]"
	$(BIN)/python scripts/fetch_assets.py
	@touch $(STAMP)

demo: setup
	$(BIN)/siyu demo

test: setup lint
	$(BIN)/python -m pytest -q -n auto --maxprocesses=4 --dist loadgroup --durations=30

lint: setup
	$(BIN)/ruff check siyu tests bench scripts
	$(BIN)/mypy siyu

bench: setup
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && apt-get install -y -qq wrk >/dev/null; } \
		|| echo "wrk is missing: the callback benchmark falls back to a much slower Python load generator"
	$(BIN)/python -m pytest -q -m bench bench/ -p no:randomly -o addopts="" -s

clean:
	rm -rf $(VENV) siyu.db siyu.db-wal siyu.db-shm demo-data
