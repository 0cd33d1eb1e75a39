# Fresh machine: `make serve` (set up + run engine and bridge), `make test` (set up + run the tests).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup serve demo test bench clean train-default bundle gpu-kit

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
	$(PY) bench/bench_live.py --out docs/benchmarks.md
	$(if $(wildcard data/real/manifest.jsonl),$(PY) bench/bench_fills.py --data data/real --out docs/benchmarks.md)
	$(if $(wildcard data/real/manifest.jsonl),$(PY) bench/bench_phase.py --data data/real --out docs/benchmarks.md)
	$(PY) bench/bench_tempo.py $(if $(wildcard data/real/manifest.jsonl),--data data/real) --out docs/benchmarks.md
	$(PY) bench/bench_chords.py --out docs/benchmarks.md
	git show $(RANK64_MODEL_COMMIT):engine/models/default.safetensors > /tmp/daw-diffusion-rank64.safetensors
	$(PY) bench/bench_models.py --compare /tmp/daw-diffusion-rank64.safetensors --out docs/benchmarks.md

clean:
	rm -rf $(VENV) renders

# The bundled default model, reproducibly: real music from Debian's game-data packages, the
# magnitude network (which fits the mel scalers), the context-conditioned U-Net in the five stages it was
# trained in (from scratch at lr 3e-4; then on from those weights with a fresh optimizer at
# lr 2e-4; then with a full-rank linear path grown around it, so that it can predict every mel
# band; then with a frequency-local stage grown onto it, annealed; then on at lr 1e-4, annealed
# again), then the evaluation on held-out tracks
# beside the model it replaced. Stages end at the shipped step counts, so a re-run resumes an
# unfinished stage and skips finished ones. About 10 hours on 2 CPU cores; on a GPU machine, add
# --device cuda (and a larger preset).
DATA ?= data/real
RUN ?= runs/real
PREVIOUS_MODEL_COMMIT ?= 6eaa1b5
# the model the model issue started from: bench_models' yardstick
RANK64_MODEL_COMMIT ?= a9bc146
FULL_STEPS ?= 30770
LOCAL_STEPS ?= 46000
LOCAL2_STEPS ?= 52500
TRAIN_DIFFUSION = $(VENV)/bin/daw-diffusion train diffusion --data $(DATA) --crop-frames 448 --batch-size 6 \
	--snapshot-every 1200 --no-progress
train-default: setup
	$(VENV)/bin/daw-diffusion prepare-data --out $(DATA) --no-midi --debian all --max-seconds 900
	$(VENV)/bin/daw-diffusion train magnitude --data $(DATA) --run-dir $(RUN) --preset real --max-steps 1582 --no-progress
	$(TRAIN_DIFFUSION) --run-dir $(RUN) --lr 3e-4 --seed 0 --max-steps 14674
	mkdir -p $(RUN)/on && { test -f $(RUN)/on/model.safetensors || cp $(RUN)/model.safetensors $(RUN)/on/; }
	$(TRAIN_DIFFUSION) --run-dir $(RUN)/on --lr 2e-4 --seed 2 --max-steps 20683
	mkdir -p $(RUN)/full && { test -f $(RUN)/full/model.safetensors || cp $(RUN)/on/model.safetensors $(RUN)/full/; }
	$(TRAIN_DIFFUSION) --run-dir $(RUN)/full --lr 2e-4 --seed 3 --outer-width 128 --outer-blocks 0 --max-steps $(FULL_STEPS)
	mkdir -p $(RUN)/local && { test -f $(RUN)/local/model.safetensors || cp $(RUN)/full/model.safetensors $(RUN)/local/; }
	$(TRAIN_DIFFUSION) --run-dir $(RUN)/local --lr 2e-4 --seed 5 --local-width 16 --local-layers 3 --max-steps $(LOCAL_STEPS) --decay-steps 4000
	mkdir -p $(RUN)/local2 && { test -f $(RUN)/local2/model.safetensors || cp $(RUN)/local/model.safetensors $(RUN)/local2/; }
	$(TRAIN_DIFFUSION) --run-dir $(RUN)/local2 --lr 1e-4 --seed 6 --local-width 16 --local-layers 3 --max-steps $(LOCAL2_STEPS) --decay-steps 3000
	git show $(PREVIOUS_MODEL_COMMIT):engine/models/default.safetensors > $(RUN)/previous.safetensors
	$(VENV)/bin/daw-diffusion evaluate --checkpoint $(RUN)/local2/model.safetensors --compare $(RUN)/previous.safetensors \
		--data $(DATA) --out $(RUN)/eval --clips 6 --gaps 2 --extensions 5 --snapshots $(RUN)/local2/snapshots

# What travels to a borrowed GPU (docs/training.md): packed data and the wheels its image lacks.
gpu-kit: setup
	test -f data/packed/manifest.jsonl || $(VENV)/bin/daw-diffusion pack-data --data $(DATA) --out data/packed --max-mib 40
	$(PY) -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
		--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
		-d .whl soundfile==0.14.0 cffi==2.0.0 pyzmq==27.1.0

# Ship a run's model as the bundled default (half precision keeps it small).
bundle: setup
	rm -f engine/models/default.safetensors
	$(VENV)/bin/daw-diffusion export $(RUN)/local2/model.safetensors engine/models/default.safetensors --half
