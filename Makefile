# One command each (see README):  make app   |   make test
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

export GRADIO_ANALYTICS_ENABLED = False
export HF_HUB_OFFLINE = 1

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.app-installed: requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $@

$(VENV)/.test-installed: requirements.txt requirements-test.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -r requirements-test.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $@ $(VENV)/.app-installed

.PHONY: app test bench load
app: $(VENV)/.app-installed          ## set up, then serve the app on http://127.0.0.1:7860
	$(BIN)/python app.py $(ARGS)

test: $(VENV)/.test-installed        ## set up, then run every test
	$(BIN)/python -m pytest -q tests

# Benchmarks write under artifacts/; DOCS=1 writes the README's figures in docs/ instead.
OUT = $(if $(DOCS),docs,artifacts)

bench: $(VENV)/.app-installed        ## latency of each built-in model, end to end, cold start -> $(OUT)/benchmark.md
	$(BIN)/python benchmarks/latency.py
	$(BIN)/python benchmarks/bench.py --out $(OUT)/benchmark

load: $(VENV)/.app-installed         ## bounded load test: 16 clients x 200 requests on loopback -> $(OUT)/load.json
	$(BIN)/python benchmarks/load.py --json $(OUT)/load.json

# Retraining from scratch: make train TASK=classify (or vqa, caption, retrieve, generate; ARGS="--epochs 2").
# The spoken-digit and spoken-caption trainers use every installed synthesiser; the committed checkpoints
# were made with espeak-ng, flite and festival (with its kal and slt voices) installed: `make voices`.
.PHONY: train voices
train: $(VENV)/.app-installed          ## retrain TASK from scratch and rewrite checkpoints/TASK
	@test -n "$(TASK)" || { echo "usage: make train TASK=classify [ARGS=...]"; exit 2; }
	$(BIN)/python -m mmdemo.train $(TASK) $(ARGS)

voices:                                  ## the speech synthesisers the trainers use (Debian/Ubuntu, needs root)
	apt-get install -y espeak-ng flite festival festvox-kallpc16k festvox-us-slt-hts

.PHONY: bench-backends
bench-backends: $(VENV)/.app-installed   ## each pretrained backend's architecture (random weights) -> $(OUT)/backends.md
	$(BIN)/python benchmarks/backends.py --out $(OUT)/backends

.PHONY: space
space: $(VENV)/.app-installed          ## check, then upload to the Hugging Face Space SPACE=user/name (DRY=1: list only)
	@test -n "$(SPACE)" || { echo "usage: make space SPACE=user/name [DRY=1]"; exit 2; }
	HF_HUB_OFFLINE=0 $(BIN)/python scripts/deploy_space.py $(SPACE) $(if $(DRY),--dry-run)
