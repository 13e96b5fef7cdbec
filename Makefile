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
	mkdir -p $(DEMO_DIR)
	KADOU_DATABASE_URL=sqlite:///$(DEMO_DIR)/kadou.db $(KADOU) db upgrade
	KADOU_DATABASE_URL=sqlite:///$(DEMO_DIR)/kadou.db $(KADOU) sample --month 2026-10 \
		--out $(DEMO_DIR)/sample-2026-10.jsonl --register-windows
	KADOU_DATABASE_URL=sqlite:///$(DEMO_DIR)/kadou.db $(KADOU) import $(DEMO_DIR)/sample-2026-10.jsonl
	KADOU_DATABASE_URL=sqlite:///$(DEMO_DIR)/kadou.db $(KADOU) report --month 2026-10

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test:
	scripts/bootstrap --test
	$(MAKE) lint
	$(VENV)/bin/pytest -q -p no:cacheprovider

bench: install
	$(PY) bench/import_and_report.py
