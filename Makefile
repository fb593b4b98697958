# speedrun — `make replay TASK=1` and `make test` set themselves up (they create .venv).
VENV   ?= .venv
PY     := $(VENV)/bin/python
TASK   ?= 1
TRACK  ?= mini
RUNS   ?= 3
PYTHON ?= python3
# bash with pipefail: a command piped through the filter below still fails the target when it fails.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
# pip warns once per package when the machine's pip configuration names a local index folder
# that does not exist or lacks the package; the warning is about the machine, not the install.
QUIET_PIP := sed -u "/^WARNING: Location '.*' is ignored: it is neither a file nor a directory\.$$/d"

.PHONY: setup test test-slow test-gpu test-slurm slurm-up lint format replay bench clean-runs

setup: $(VENV)/.installed

# Rebuilt when pyproject.toml changes. pip (not uv) so the pinned CPU torch wheel is found.
# Bytecode is written at setup, as pip writes it for an installed package: an editable install leaves
# it to the first import, which a machine with PYTHONDONTWRITEBYTECODE never writes (0.15 s a command).
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip 2>&1 | $(QUIET_PIP)
	$(PY) -m pip install -q -e '.[dev,agent]' 2>&1 | $(QUIET_PIP)
	$(PY) -m compileall -q replay analysis agent
	touch $@

test: setup
	$(PY) -m pytest -q

# ruff: lint and format check (settings in pyproject.toml); `make format` applies the format.
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff format .

# The slow tests (full CPU training runs); CI runs them too.
test-slow: setup
	$(PY) -m pytest -q -m slow

# GPU tests (skipped without CUDA; the smoke test also needs SPEEDRUN_NANOGPT_CHECKOUT).
test-gpu: setup
	$(PY) -m pytest -q -m gpu

# Slurm tests: against the Slurm on PATH (`make slurm-up` starts a one-node one here, as root).
test-slurm: setup
	$(PY) -m pytest -q -m slurm

slurm-up:
	.ci/slurm-up

# The records alone are trusted code: without bubblewrap they run unsandboxed (the report says so).
replay: setup
	$(VENV)/bin/speedrun replay $(TASK) --track $(TRACK) --runs $(RUNS) $$(command -v bwrap >/dev/null || echo --unsandboxed)

bench: setup
	$(PY) bench/overhead.py
	$(PY) bench/chain.py --track $(TRACK)
	$(PY) bench/time_measures.py bench/results/chain-$(TRACK).json
	$(PY) bench/attribution.py

clean-runs:
	rm -rf runs
