# perfdata: the two set-up commands are `make demo` and `make test`.
# Both create .venv/ and install the pinned dependencies first.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# checkov's pins conflict with the Dagster family's, so it lives in a virtualenv of its own.
LINT_VENV ?= .venv-lint
LINT_INSTALLED := $(LINT_VENV)/.installed
PYTEST_ARGS ?=
# make ui PORT=3001 HOST=0.0.0.0: where the Dagster UI listens
PORT ?= 3000
HOST ?= 127.0.0.1

.PHONY: install demo test test-fast soak bench ui up image image-test screenshots openapi lock lock-lint clean

install: $(INSTALLED) $(LINT_INSTALLED)

$(INSTALLED): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "perfdata needs Python 3.11 or newer: make PYTHON=python3.11 ...")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,k8s,ecs]'
	touch $@

# checkov (test_ecs.py runs it on the Dockerfile, deploy/helm and deploy/ecs/terraform).
$(LINT_INSTALLED): deploy/lint-constraints.txt
	test -x $(LINT_VENV)/bin/python || $(PYTHON) -m venv $(LINT_VENV)
	$(LINT_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LINT_VENV)/bin/python -m pip install --quiet -c deploy/lint-constraints.txt checkov
	touch $@

## make demo: seed a synthetic LPA database (embedded SQLite), materialise every asset, print the KPIs
demo: install
	$(BIN)/perfdata demo

## make test: the whole test suite, on SQLite and on the PostgreSQL at 127.0.0.1:5432
test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## make test-fast: all but the deployment tests (real Dagster processes and a fresh image virtualenv, ~5 min)
test-fast: install
	$(BIN)/python -m pytest -m "not deployment" $(PYTEST_ARGS)

## make soak: the long reliability tests (faults, load, property-based HTTP input), PostgreSQL required
soak: install
	$(BIN)/python -m pytest -m soak $(PYTEST_ARGS)

## make bench: five years of production-sized history on the local PostgreSQL; writes bench/RESULTS.md
bench: install
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test,k8s,ecs,bench]" && $(BIN)/python -m bench

## make ui [PORT=3000] [HOST=127.0.0.1]: the Dagster UI on the demo's instance and database (http://HOST:PORT)
ui: install
	@# The instance perfdata's CLI writes (perfdata_assets/instance.py), also before the first `make demo`.
	env -u DAGSTER_HOME PERFDATA_HOME=$(CURDIR)/.perfdata $(BIN)/python -c 'from perfdata_assets.instance import ensure_dagster_home; ensure_dagster_home()'
	DAGSTER_HOME=$(CURDIR)/.perfdata/dagster_home $(BIN)/dagster dev -m perfdata_assets.definitions -h '$(HOST)' -p '$(PORT)'

## make up: Dagster webserver + daemon on this machine, on the production instance config (PostgreSQL; docs/deployment.md)
up: install
	deploy/up.sh

## make image: build the production image (needs a Docker engine)
image:
	docker build -t perfdata:$$(git rev-parse --short HEAD) .

## make image-test: only the image test (the Dockerfile's steps in a fresh virtualenv)
image-test: install
	$(BIN)/python -m pytest -m image $(PYTEST_ARGS)

## make screenshots: docs/dashboard-*.png from the demo's figures (after `make demo`; needs chromium)
screenshots: install
	$(BIN)/python -m perfdata_assets_tests.web.dashboard.screenshot

## make openapi: regenerate the committed OpenAPI document after changing the API
openapi: install
	$(BIN)/python -m perfdata_assets.web.api

## make lock: regenerate constraints.txt from the current .venv after a dependency change
lock: install
	{ echo '# Every install is the same: `make lock` regenerates this from a working .venv.'; \
	  $(BIN)/python -m pip freeze --exclude-editable | grep -v '^perfdata'; } > constraints.txt

## make lock-lint: regenerate deploy/lint-constraints.txt (checkov's own virtualenv)
lock-lint: $(LINT_INSTALLED)
	{ sed -n '1,2p' deploy/lint-constraints.txt; $(LINT_VENV)/bin/python -m pip freeze; } > deploy/lint-constraints.txt.new \
	  && mv deploy/lint-constraints.txt.new deploy/lint-constraints.txt

clean:
	rm -rf .perfdata .pytest_cache
