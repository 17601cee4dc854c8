# One-word tooling: `make test`, `make demo`, `make bench`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: test demo bench browser install

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

test: install browser
	$(BIN)/python -m pytest -q

demo: $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[notebook]'
	$(BIN)/imgframe demo

bench: install
	$(BIN)/python bench/run_all.py
