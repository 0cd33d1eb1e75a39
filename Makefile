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

# The cluster extra (Ray Serve) for the tests and benchmarks only: `make serve` never installs it.
$(VENV)/.cluster: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[cluster]'
	touch $@

setup: $(VENV)/.installed

serve: setup
	$(VENV)/bin/daw-diffusion serve

demo: setup
	$(VENV)/bin/daw-diffusion demo --out-dir renders/demo

test: setup $(VENV)/.cluster
	.ci/peers
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(PY) -m pytest -q

bench: setup $(VENV)/.cluster
	$(PY) bench/bench_engine.py --out docs/benchmarks.md
	$(PY) bench/bench_service.py --out docs/benchmarks.md
	$(PY) bench/bench_cluster.py --out docs/benchmarks.md
	$(PY) bench/bench_bridge.py --out docs/benchmarks.md
	$(if $(wildcard data/real/manifest.jsonl),$(PY) bench/bench_fills.py --data data/real --out docs/benchmarks.md)
	$(if $(wildcard data/real/manifest.jsonl),$(PY) bench/bench_phase.py --data data/real --out docs/benchmarks.md)
	$(PY) bench/bench_tempo.py $(if $(wildcard data/real/manifest.jsonl),--data data/real) --out docs/benchmarks.md

clean:
	rm -rf $(VENV) renders

# The bundled default model, reproducibly: real music from Debian's game-data packages, the
# vocoder (which fits the mel scalers), the context-conditioned U-Net, then the evaluation on
# held-out tracks beside the model it replaced (CPU, time-boxed; resumes if interrupted).
# On a GPU machine, raise DIFFUSION_BUDGET (and the batch size) for a better model.
DATA ?= data/real
RUN ?= runs/real
VOCODER_BUDGET ?= 240
DIFFUSION_BUDGET ?= 4330
PREVIOUS_MODEL_COMMIT ?= 9771b53
train-default: setup
	$(VENV)/bin/daw-diffusion prepare-data --out $(DATA) --no-midi --debian all --max-seconds 900
	$(VENV)/bin/daw-diffusion train vocoder --data $(DATA) --run-dir $(RUN) --preset real --time-budget $(VOCODER_BUDGET) --no-progress
	$(VENV)/bin/daw-diffusion train diffusion --data $(DATA) --run-dir $(RUN) --crop-frames 448 --batch-size 6 --lr 3e-4 \
		--time-budget $(DIFFUSION_BUDGET) --snapshot-every 1200 --no-progress
	git show $(PREVIOUS_MODEL_COMMIT):engine/models/default.safetensors > $(RUN)/previous.safetensors
	$(VENV)/bin/daw-diffusion evaluate --checkpoint $(RUN)/model.safetensors --compare $(RUN)/previous.safetensors \
		--data $(DATA) --out $(RUN)/eval --snapshots $(RUN)/snapshots

# Ship a run's model as the bundled default (half precision keeps it small).
bundle: setup
	rm -f engine/models/default.safetensors
	$(VENV)/bin/daw-diffusion export $(RUN)/model.safetensors engine/models/default.safetensors --half
