# Fresh machine: `make demo` (set up + run the main job), `make test` (set up + run the tests).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[train,test]'
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(VENV)/bin/daw-diffusion demo --out-dir renders/demo

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) bench/bench_engine.py --out docs/benchmarks.md

clean:
	rm -rf $(VENV) renders
