# Fresh machine: `make serve` (set up + run engine and bridge), `make test` (set up + run the tests).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup serve demo test bench clean train-default bundle

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[train,test]'
	touch $@

setup: $(VENV)/.installed

serve: setup
	$(VENV)/bin/daw-diffusion serve

demo: setup
	$(VENV)/bin/daw-diffusion demo --out-dir renders/demo

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) bench/bench_engine.py --out docs/benchmarks.md
	$(PY) bench/bench_service.py --out docs/benchmarks.md
	$(PY) bench/bench_bridge.py --out docs/benchmarks.md

clean:
	rm -rf $(VENV) renders

# The bundled default model, reproducibly: data, both stages, evaluation (CPU, time-boxed).
# On a GPU machine, raise the budgets and use `--preset gpu` for a better model.
DATA ?= data/corpus
RUN ?= runs/default
VOCODER_BUDGET ?= 480
DIFFUSION_BUDGET ?= 3900
train-default: setup
	$(VENV)/bin/daw-diffusion prepare-data --out $(DATA) --scale 0.75 --renders-per-piece 2 --max-seconds 45
	$(VENV)/bin/daw-diffusion train vocoder --data $(DATA) --run-dir $(RUN) --time-budget $(VOCODER_BUDGET) --no-progress
	$(VENV)/bin/daw-diffusion train diffusion --data $(DATA) --run-dir $(RUN) --time-budget $(DIFFUSION_BUDGET) --no-progress
	$(VENV)/bin/daw-diffusion evaluate --checkpoint $(RUN)/model.safetensors --data $(DATA) --out $(RUN)/eval

# Ship a run's model as the bundled default (half precision keeps it small).
bundle: setup
	rm -f engine/models/default.safetensors
	$(VENV)/bin/daw-diffusion export $(RUN)/model.safetensors engine/models/default.safetensors --half
