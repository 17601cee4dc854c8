# One-word tooling: `make test` (everything, as CI runs it), `make check` (the fast loop),
# `make demo`, `make bench`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: test check demo bench browser install nopyarrow

$(BIN)/python:
	@$(PY) -c 'import ensurepip, venv' 2>/dev/null || { echo "make: $(PY) has no venv" \
	  "module (Debian/Ubuntu: apt-get install python3-venv)"; exit 1; }
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# reinstalled when the project's metadata changes (the code itself is an editable install)
install: $(VENV)/.installed
$(VENV)/.installed: $(BIN)/python pyproject.toml setup.py
	$(BIN)/python -m pip install -q -e '.[test,browser]'
	@touch $@

# Debian's Chromium for the browser tests (nothing downloads a browser of its own), where
# apt-get and root or sudo exist. Elsewhere pytest skips the browser tests with one line
# saying why (IMGFRAME_CHROMIUM=/path/to/chromium points them at a browser), except with
# CI=true, where a missing browser fails the run.
browser:
	@if [ -n "$$IMGFRAME_CHROMIUM" ] || command -v chromium >/dev/null 2>&1; then :; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
	  echo "make: no chromium and no apt-get to install it: the browser tests will be" \
	       "skipped (set IMGFRAME_CHROMIUM=/path/to/chromium to run them)"; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q chromium; \
	elif command -v sudo >/dev/null 2>&1; then \
	  sudo apt-get update -q && sudo apt-get install -y -q chromium; \
	else \
	  echo "make: no chromium, and neither root nor sudo to install it: the browser tests" \
	       "will be skipped (set IMGFRAME_CHROMIUM=/path/to/chromium to run them)"; \
	fi

# Everything: the tests and imgframe's doctests (pyproject's testpaths), slow and browser
# tests included; CI runs this (.ci/run).
test: install browser nopyarrow
	IMGFRAME_EXPECT_PYARROW=1 $(BIN)/python -m pytest -q
	@echo "== the interop, frame, golden and usage tests again, without pyarrow (a core install: Python string storage)"
	IMGFRAME_EXPECT_PYARROW=0 $(NOPA)/bin/python -m pytest -q -p no:cacheprovider tests/test_interop.py tests/test_frame.py tests/test_golden.py \
	  tests/test_usage.py tests/test_usage_columns.py

# The fast loop: everything but the slow and the browser tests.
check: install
	$(BIN)/python -m pytest -q -m "not slow and not browser"

# A second environment without pyarrow, as `pip install imgframe` gives.
NOPA := .venv-nopyarrow
nopyarrow:
	test -x $(NOPA)/bin/python || $(PY) -m venv $(NOPA)
	$(NOPA)/bin/python -m pip install -q -e '.[test-core]'
	@! $(NOPA)/bin/python -c 'import pyarrow' 2>/dev/null || { echo "pyarrow leaked into $(NOPA)"; exit 1; }

demo: $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[demo]'
	$(BIN)/imgframe demo

bench: install
	$(BIN)/python bench/run_all.py
