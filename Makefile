# Financial analytics workbench. `make help` lists the targets.
# Every target first sets up what is missing (.venv, packages, Jupyter kernel) and skips
# that work when it is already done.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.finlib-installed
KERNEL := $(VENV)/share/jupyter/kernels/finlib/kernel.json
SCALE  ?= medium
SEED   ?= 42
PORT   ?= 8866
WORKERS ?= 2
WAREHOUSE := data/warehouse.duckdb
SYSTEM_DEPS := PYTHON=$(PYTHON) bash tools/system-deps.sh

.DEFAULT_GOAL := help
.PHONY: help setup system-deps run test lab dashboards schedule bench clean demo status

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] < (3, 13) else "finlib needs Python 3.11 or 3.12; found " + sys.version.split()[0] + ": run make PYTHON=python3.11 ...")'
	@test -x $(BIN)/python || $(SYSTEM_DEPS) venv
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@touch $(STAMP)

$(KERNEL): $(STAMP)
	$(BIN)/python -m ipykernel install --sys-prefix --name finlib --display-name "Python (finlib)" >/dev/null

setup: $(STAMP) $(KERNEL)  ## create .venv, install finlib (editable) and register the Jupyter kernel

$(WAREHOUSE): | setup
	$(BIN)/finlib demo-data --scale $(SCALE) --seed $(SEED)

demo: setup  ## (re)build the demo warehouse: make demo SCALE=small|medium|large SEED=42
	$(BIN)/finlib demo-data --scale $(SCALE) --seed $(SEED) --force

status: setup  ## show the warehouse's tables, row counts and fingerprint
	$(BIN)/finlib db status

run: setup $(WAREHOUSE)  ## the main job: demo warehouse if missing, every domain job, report archive
	$(BIN)/finlib db status
	$(BIN)/finlib run --all --workers $(WORKERS)
	@echo "reports: $(CURDIR)/reports/index.html"

system-deps:  ## check the Debian packages the tests need; install them if root or passwordless sudo
	@$(SYSTEM_DEPS) test $(if $(wildcard $(BIN)/python),,venv)

test: system-deps setup  ## the whole test suite (small data; slow scale tests excluded)
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

lab: setup  ## JupyterLab on notebooks/ with finlib importable
	$(BIN)/jupyter lab --notebook-dir=notebooks

dashboards: setup $(WAREHOUSE)  ## Voila dashboards and reports on 127.0.0.1:$(PORT), behind a login (finlib users add first)
	PORT=$(PORT) $(BIN)/python -m finlib.dashboards serve --port $(PORT) --notebooks notebooks

schedule: setup $(WAREHOUSE)  ## run due jobs in a loop (foreground; Ctrl-C stops)
	$(BIN)/finlib schedule --workers $(WORKERS)

bench: setup  ## benchmarks under bench/ (prints figures)
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:  ## remove the venv, the local warehouse and generated reports
	rm -rf $(VENV) data/*.duckdb data/*.duckdb.wal data/*.json test-output .pytest_cache
	find reports -mindepth 1 -not -name README.md -exec rm -rf {} +
