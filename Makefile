# The two commands a new user needs: `make run` and `make test`. Both set up what they need first.
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTHON ?= python3
HOST   ?= 127.0.0.1
PORT   ?= 8000
# The web app is rebuilt whenever a source under web/ changes.
WEB_STAMP   := web/.build-stamp
WEB_SOURCES := $(shell find web -path web/node_modules -prune -o -path web/dist -prune -o -type f \( -name '*.ts' -o -name '*.css' -o -name '*.html' -o -name '*.json' -o -name '*.mjs' \) -print)

.PHONY: setup services run test check pytest webtest examples clean bench-relay dist

setup: $(STAMP) $(WEB_STAMP)

$(STAMP): pyproject.toml scripts/setup
	PYTHON=$(PYTHON) VENV=$(VENV) bash scripts/setup
	touch $@ $(WEB_STAMP)  # scripts/setup built the web app too

$(WEB_STAMP): $(STAMP) $(WEB_SOURCES) scripts/build-web
	bash scripts/build-web
	touch $@

services:
	bash scripts/setup-services

run: setup
	$(BIN)/tokenwire serve --host $(HOST) --port $(PORT)

test: setup services check webtest examples pytest

check: setup
	bash scripts/check

webtest: setup
	cd web && node build.mjs --tests && node --test dist/test/

# The React and Vue examples, built with Vite for their browser tests (skipped when up to date).
examples: setup
	bash scripts/build-examples

# Two workers (pytest-xdist): the tests mostly wait on sockets, processes and browsers, and each
# worker starts its own Redis and PostgreSQL; worksteal evens out the long tests.
pytest: setup services examples
	$(BIN)/python -m pytest -q -n 2 --dist worksteal

# Not part of `make test`: about 15 minutes on 2 cores (ARGS=--quick: about 5); results and plots
# in docs/benchmarks.md. The contenders' venvs go to bench/.venvs/ on first use.
bench-relay: setup
	$(BIN)/python -m bench.relay $(ARGS)

# The sdist and the wheel, both with the web app built in (hatch_build.py), into dist/. The wheel is
# built from the sdist, as a user's pip would, so it needs no npm.
dist: setup
	rm -rf dist
	$(BIN)/python -m build --outdir dist .

clean:
	rm -rf dist $(VENV) .pytest_cache .mypy_cache .ruff_cache web/node_modules web/dist $(WEB_STAMP) \
		examples/*/node_modules examples/*/dist

# The recipe pages that need a build (scripts/build-recipes: examples/fetch_event_source), built
# with `make examples`, so before their browser tests.
.PHONY: recipes
examples: recipes
recipes: setup
	bash scripts/build-recipes

# The JS client under Node 20 against a real `tokenwire serve` (web/test-node/, node's test runner).
.PHONY: nodetest
test: nodetest
nodetest: setup
	cd web && node test-node/build.mjs && node --test dist/test-node/
