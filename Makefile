# The two commands a new user needs: `make run` and `make test`. Both set up what they need first.
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTHON ?= python3
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: setup services run test check pytest clean bench-relay

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup
	PYTHON=$(PYTHON) VENV=$(VENV) bash scripts/setup
	touch $@

services:
	bash scripts/setup-services

run: setup
	$(BIN)/tokenwire serve --host $(HOST) --port $(PORT)

test: setup services check pytest

check: setup
	bash scripts/check

pytest: setup services
	$(BIN)/python -m pytest -q

# Not part of `make test`: about 15 minutes on 2 cores (ARGS=--quick: about 5); results and plots
# in docs/benchmarks.md. The contenders' venvs go to bench/.venvs/ on first use.
bench-relay: setup
	$(BIN)/python -m bench.relay $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
