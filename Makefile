# `make run`: set up .venv and train + evaluate a small IWAE on the embedded data (CPU, ~2 min).
# `make test`: set up .venv, type-check src/ (mypy) and run the test suite.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# CPU-only machine: the CPU build torch 2.13.0+cpu (a local wheel where pip's find-links has one,
# else PyTorch's CPU index); with an NVIDIA GPU, torch==2.13.0 from PyPI is the CUDA build.
HAS_GPU := $(shell command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && echo 1)
TORCH_VERSION ?= 2.13.0
# Full data sets, when present beside the checkout (CI: ../shared/data).
export VAELAB_DATA ?= $(firstword $(wildcard ../shared/data))
RUN_DIR ?= runs/default

.PHONY: setup browser run test lint docs bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	@if [ -n "$(HAS_GPU)" ]; then echo "GPU found: installing the CUDA build of torch $(TORCH_VERSION)"; \
	  $(PY) -m pip install -q "torch==$(TORCH_VERSION)"; \
	else echo "No GPU: installing the CPU build of torch $(TORCH_VERSION)"; \
	  $(PY) -m pip install -q "torch==$(TORCH_VERSION)+cpu" 2>/dev/null || \
	  $(PY) -m pip install -q "torch==$(TORCH_VERSION)+cpu" \
	    --index-url https://download.pytorch.org/whl/cpu --extra-index-url https://pypi.org/simple; fi
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

setup: $(VENV)/.installed

run: setup
	$(VENV)/bin/vaelab train --model vae --objective iwae --k 5 --layers 1 --dataset embedded --epochs 100 --eval-every 10 \
	  --batch-size 100 --out $(RUN_DIR) --overwrite
	$(VENV)/bin/vaelab eval $(RUN_DIR) --k 1 5 50 5000 --split test
	$(VENV)/bin/vaelab sample $(RUN_DIR)

# The report's browser test drives Debian's chromium, headless; installed here when missing and
# the machine allows it (root and apt-get), else that one test is skipped.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
	  >/dev/null; } || echo "chromium is not installed: the browser test will be skipped"

test: setup browser
	$(PY) -m mypy
	$(PY) -m pytest -q

docs: setup
	$(PY) -m sphinx -W -b html docs docs/_build/html

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks experiments

clean:
	rm -rf $(VENV) runs build *.egg-info src/*.egg-info
