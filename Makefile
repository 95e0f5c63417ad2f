# The two commands of README.md. Everything they need is installed from this repository's files.
PY ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
# tuf-js, the second TUF client of the tests, pinned by its lock file (npm ci writes this file last)
TUFJS := tests/support/tufjs/node_modules/.package-lock.json

.PHONY: demo test rehearse deps venv bench clean

demo: $(STAMP)  # a previous demo/ is reopened, never thrown away (remove it to start afresh)
	$(VENV)/bin/python -m ceremony.tui.demo demo --keyholders 5 --threshold 3

test: $(STAMP)
	$(VENV)/bin/ruff check ceremony hsm tests bench
	$(VENV)/bin/mypy ceremony hsm
	$(VENV)/bin/python -m pytest -q -n 2

bench: $(STAMP)
	$(VENV)/bin/python bench/run.py

deps:
	softhsm-setup/install.sh

$(STAMP): pyproject.toml softhsm-setup/debian-packages.txt $(TUFJS)
	softhsm-setup/install.sh
	test -x $(VENV)/bin/python || $(PY) -m venv $(VENV)
	$(VENV)/bin/pip install -q -U pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $(STAMP)

$(TUFJS): tests/support/tufjs/package-lock.json tests/support/tufjs/package.json softhsm-setup/debian-packages.txt
	softhsm-setup/install.sh
	cd tests/support/tufjs && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $(TUFJS)

venv: $(STAMP)

clean:
	rm -rf $(VENV) demo tests/support/tufjs/node_modules
