# One-word tooling: `make test`, `make demo`, `make bench`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: test demo bench browser install nopyarrow

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test,browser]'

# Debian's Chromium for the browser test (nothing downloads a browser of its own).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium; }

test: install browser nopyarrow
	IMGFRAME_EXPECT_PYARROW=1 $(BIN)/python -m pytest -q
	@echo "== the interop and frame tests again, without pyarrow (a core install: Python string storage)"
	IMGFRAME_EXPECT_PYARROW=0 $(NOPA)/bin/python -m pytest -q -p no:cacheprovider tests/test_interop.py tests/test_frame.py tests/test_golden.py

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
