# Every target sets up what it needs: a fresh machine runs `make demo` or `make test` as is.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DB ?= .demo/demo.db

.PHONY: demo test lint screenshots bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Open the terminal app on a demo store built from sample_prompts/.
demo: $(STAMP)
	$(BIN)/promptdeck --db $(DEMO_DB) import sample_prompts
	$(BIN)/promptdeck --db $(DEMO_DB)

## Run the whole test suite (PostgreSQL and tmux tests included when available).
test: $(STAMP)
	$(BIN)/pytest -n 2 --dist loadfile

## Types and style.
lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts examples
	$(BIN)/ruff format --check src tests bench scripts examples
	$(BIN)/mypy
	$(BIN)/lint-imports

## Regenerate the SVGs in screenshots/.
screenshots: $(STAMP)
	$(BIN)/python scripts/screenshots.py

## Print the benchmark figures.
bench: $(STAMP)
	$(BIN)/python bench/bench_diff.py
	$(BIN)/python bench/bench_runtime.py
	$(BIN)/python bench/bench_sync.py
	$(BIN)/python bench/bench_tui.py

clean:
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache
