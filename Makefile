# The two commands of README.md. Everything they need is installed from this repository's files.
PY ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
# tuf-js, the second TUF client of the tests, pinned by its lock file (npm ci writes this file last)
TUFJS := tests/support/tufjs/node_modules/.package-lock.json
# tuf-on-ci-sign, in its own virtualenv (pyproject.toml's `tuf-on-ci` extra says why)
TUFONCI := .venv-tuf-on-ci/.installed

.PHONY: demo test rehearse deps venv bench clean tuf-on-ci

demo: $(STAMP)  # a previous demo/ is reopened, never thrown away (remove it to start afresh)
	$(VENV)/bin/python -m ceremony.tui.demo demo --keyholders 5 --threshold 3

test: $(STAMP)
	$(VENV)/bin/ruff check ceremony hsm tests bench
	$(VENV)/bin/mypy ceremony hsm
	$(VENV)/bin/python -m pytest -q -n 2 --durations=20

bench: $(STAMP)
	$(VENV)/bin/python bench/run.py

deps:
	softhsm-setup/install.sh

$(STAMP): pyproject.toml softhsm-setup/debian-packages.txt $(TUFJS) $(TUFONCI)
	softhsm-setup/install.sh
	test -x $(VENV)/bin/python || $(PY) -m venv $(VENV)
	$(VENV)/bin/pip install -q -U pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $(STAMP)

$(TUFJS): tests/support/tufjs/package-lock.json tests/support/tufjs/package.json softhsm-setup/debian-packages.txt
	softhsm-setup/install.sh
	cd tests/support/tufjs && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $(TUFJS)

$(TUFONCI): pyproject.toml
	test -x .venv-tuf-on-ci/bin/python || $(PY) -m venv .venv-tuf-on-ci
	.venv-tuf-on-ci/bin/pip install -q 'tuf-on-ci-sign==0.21.0'
	touch $(TUFONCI)

tuf-on-ci: $(TUFONCI)

venv: $(STAMP)

clean:
	rm -rf $(VENV) .venv-tuf-on-ci demo tests/support/tufjs/node_modules
