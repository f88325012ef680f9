# Two commands: `make demo` and `make test`. Each bootstraps .venv from the lock file first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TYPED := crm segments campaigns loyalty flows api  # mypy covers every package
DEMO_CUSTOMERS ?= 10000

.PHONY: setup demo serve test lint typecheck pytest bench notebooks clean

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

# the demo fills the default database (CRM_DATA_DIR/crm.db), so every `crm` command works on it
# afterwards without setting anything
DEMO_DB := var/crm.db
DEMO_ENV := PREFECT_HOME=$(CURDIR)/var/prefect \
  PREFECT_SERVER_ANALYTICS_ENABLED=false PREFECT_LOGGING_LEVEL=WARNING

# the night is run as of 10:30 Moscow time yesterday: its campaigns' messages fall outside the
# quiet hours and are due now, whenever the demo runs
DEMO_AS_OF = $(shell date -u -d yesterday +%Y-%m-%d)T10:30:00+03:00

# .ci/demo.py runs, in one process, what a person would type: crm sample --customers
# $(DEMO_CUSTOMERS) --seed 42 --out var/sample --load, crm import contacts
# var/sample/import_contacts.csv, crm nightly --as-of $(DEMO_AS_OF) --loyalty-lookback-days 1100
# (the first night books the loaded history), crm status, then .ci/demo_deliver.py (an SMTP sink
# and the fake SMS provider, the gateway worker once, where to look). Prefect's temporary
# server starts in the background at once, while the sample is generated (README: the demo, timed).
demo: setup  ## the whole loop on a fresh SQLite database: 10k customers, an import, the nightly job, delivery
	rm -f $(DEMO_DB)
	@mkdir -p var/prefect
	$(DEMO_ENV) $(BIN)/python .ci/demo.py --customers $(DEMO_CUSTOMERS) --as-of $(DEMO_AS_OF)

serve: setup  ## Prefect's server and UI on http://127.0.0.1:4200, the crm-local pool, every deployment, a worker
	$(DEMO_ENV) $(BIN)/crm serve

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy $(TYPED)

# Each run gets its own PostgreSQL (a free port, a fresh data directory) and removes it after, so
# two `make test` on one machine never share or stop each other's server; Prefect's files are
# per session too (tests/conftest.py).
pytest: setup
	@export CRM_PG_PORT=$$($(BIN)/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'); \
	export CRM_PG_DATA=$$(mktemp -d "$${TMPDIR:-/tmp}/crm-pg-XXXXXX"); \
	url=$$(.ci/pg.sh start) || { if [ -n "$$CI" ]; then echo "PostgreSQL could not be started" >&2; exit 1; fi; \
	  echo "PostgreSQL unavailable: running the SQLite half only" >&2; url=""; }; \
	CRM_TEST_POSTGRES_URL="$$url" $(BIN)/pytest -q -n 2 --dist loadfile; rc=$$?; \
	.ci/pg.sh stop; rm -rf "$$CRM_PG_DATA"; exit $$rc

test: lint typecheck pytest  ## lint, type-check and run the suite on SQLite and PostgreSQL

bench: setup  ## the benchmarks; figures go to bench/results/ and the README table
	$(BIN)/python -m bench

# executes every notebook on a freshly prepared sample database (tests/test_notebooks.py) and
# writes each, with its figures embedded, to var/notebooks/NAME.html: no Jupyter needed to read
notebooks: setup  ## run the analyst notebooks and render them to HTML under var/notebooks/
	CRM_NOTEBOOKS_HTML=$(CURDIR)/var/notebooks $(BIN)/pytest -q -p no:xdist tests/test_notebooks.py
	@ls -1 var/notebooks/*.html

clean:
	rm -rf var/ .pytest_cache .mypy_cache .ruff_cache
