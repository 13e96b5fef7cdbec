# The two commands of the README's quick start:
#   make demo   installs Kadou and runs the demo on SQLite
#   make test   installs everything the tests need and runs the whole suite
VENV ?= .venv
PY := $(VENV)/bin/python
KADOU := $(VENV)/bin/kadou
DEMO_DIR ?= var/demo

.PHONY: demo test lint install bench

install:
	scripts/bootstrap

demo: install
	$(KADOU) demo --dir $(DEMO_DIR)

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test:
	scripts/bootstrap --test
	$(MAKE) lint
	$(VENV)/bin/pytest -q -p no:cacheprovider

bench:
	scripts/bootstrap --bench
	$(PY) bench/import_and_report.py
