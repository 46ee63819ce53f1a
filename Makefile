# `make run`  : set everything up (virtual environment, install with constraints) and run the main job.
# `make test` : set everything up and run the test suite (ruff, the whole suite in .venv with every
#               extra, then the env and agent tests again in .venv-latest, which has no rllib extra
#               and so the newest gymnasium 1.x: ray pins gymnasium 1.2.x in .venv).
VENV ?= .venv
PY := $(VENV)/bin/python
VENV_LATEST ?= .venv-latest
PY_LATEST := $(VENV_LATEST)/bin/python
export OMP_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1

.PHONY: setup run test test-latest lint

$(VENV)/.installed: pyproject.toml constraints.txt Makefile
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e ".[dev,rllib,multi]"
	touch $@

$(VENV_LATEST)/.installed: pyproject.toml constraints.txt Makefile
	test -x $(PY_LATEST) || python3 -m venv $(VENV_LATEST)
	$(PY_LATEST) -m pip install -q --upgrade pip
	$(PY_LATEST) -m pip install -q -c constraints.txt -e ".[dev,multi]"
	touch $@

setup: $(VENV)/.installed

run: setup
	$(PY) train.py

test: setup
	$(PY) -m ruff check .
	$(PY) -m pytest -q
	$(MAKE) test-latest

# The environments and agents under the newest gymnasium 1.x the dependencies allow (no rllib extra).
test-latest: $(VENV_LATEST)/.installed
	$(PY_LATEST) -c "import gymnasium; print('gymnasium', gymnasium.__version__)"
	$(PY_LATEST) -m pytest -q tests/envs tests/agents

lint: setup
	$(PY) -m ruff check .
