# Two entry points: `make run` serves on SQLite (PORT=, HOST= to choose where), `make test` runs the whole suite.
# Both build .venv from this project's own files, so a fresh machine needs nothing else.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The client package (clients/python) is installed beside the server: the server re-exports it as loomwork.client.
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml clients/python/pyproject.toml | cksum | cut -d' ' -f1)
# The browser tests (tests/web) drive Debian's chromium: Playwright's own browser download is not reachable.
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo -n)
# The TypeScript client (clients/typescript) is built and tested with Node (20 or newer) and its own lock file.
NODE := /usr/bin/node
TS_CLIENT := clients/typescript
TS_DEPS := $(TS_CLIENT)/node_modules/.installed

.PHONY: run test lint fuzz bench bench-peers install clean screenshots vendor mutate

$(STAMP): pyproject.toml clients/python/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e clients/python -e '.[test,lint]'
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

# `make run PORT=8731 HOST=0.0.0.0` when 8000 is taken (or set LOOMWORK_PORT / LOOMWORK_HOST).
run: $(STAMP)
	$(BIN)/loomwork serve $(if $(HOST),--host '$(HOST)') $(if $(PORT),--port '$(PORT)')

# Parallel test processes: most tests wait on servers, browsers and databases, so more than the cores pay.
TEST_WORKERS ?= 4

test: $(STAMP) $(CHROMIUM) $(TS_DEPS)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

# The style (ruff), the types (mypy --strict) and the layers (import-linter's contracts, ARCHITECTURE.md).
lint: $(STAMP)
	$(BIN)/ruff check src tests bench clients/python
	$(BIN)/ruff format --check src tests bench clients/python
	$(BIN)/mypy
	$(BIN)/lint-imports

# Nightly-sized contract fuzzing: every operation with the coverage phase and 100 examples, then 200 stateful
# scenarios along the OpenAPI links; on both databases when LOOMWORK_TEST_POSTGRES_URL is set. Takes hours.
fuzz: $(STAMP)
	LOOMWORK_FUZZ=1 $(BIN)/python -m pytest tests/contract -p no:randomly $(PYTEST_ARGS)

# Mutation testing (issue 29): mutmut changes the modules that hold the invariants (drafts, proposals, revisions,
# resolve, identity, events, backup) one small thing at a time and runs their tests on SQLite; writes
# bench/MUTATION.md. Not part of `make test`, and hours long in full: narrow it with
# MUTATE_MODULES="engine/resolve.py identity/sessions.py" (paths under src/loomwork/), MUTATE_ARGS="--tests ...".
MUTATE_MODULES ?=
mutate: $(STAMP)
	$(BIN)/mutmut --version >/dev/null 2>&1 || $(BIN)/python -m pip install --quiet -e '.[test,lint,mutate]'
	$(BIN)/python bench/mutate.py $(MUTATE_MODULES) $(MUTATE_ARGS)

# Only when missing; no prompt and no stdin. If it cannot be installed the browser tests fail and say why.
$(CHROMIUM):
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium </dev/null \
	  || { $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update </dev/null \
	       && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium </dev/null; } \
	  || echo "Could not install chromium (needs root or passwordless sudo): the browser tests will fail."

# Only when missing, like chromium: Debian's node and npm.
$(NODE):
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm </dev/null \
	  || { $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update </dev/null \
	       && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm </dev/null; } \
	  || echo "Could not install node (needs root or passwordless sudo): the TypeScript client's tests will fail."

# The TypeScript client's build tools (typescript, @types/node), exactly as package-lock.json pins them.
$(TS_DEPS): $(TS_CLIENT)/package-lock.json | $(NODE)
	cd $(TS_CLIENT) && npm ci --no-audit --no-fund
	touch $@

# The performance budget (issue 8), on SQLite and on PostgreSQL when one answers: writes bench/RESULTS.md.
bench: $(STAMP)
	cd bench && ../$(BIN)/python run.py $(BENCH_ARGS)

# A PNG of every page, with seed-demo's data, in docs/screenshots/ (the README shows two of them).
screenshots: $(STAMP) $(CHROMIUM)
	PYTHONPATH=tests $(BIN)/python tests/web/screenshots.py

# Loomwork beside Arize Phoenix (issue 19): Phoenix goes into a venv of its own under bench/ (gitignored), never
# into the project's dependencies; writes bench/PEERS.md. PEERS_ARGS="--sizes 1000,5000 --postgres" and so on.
PEERS := bench/.peers
PHOENIX_VERSION ?= 20.26.1
$(PEERS)/bin/phoenix:
	$(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/python -m pip install --quiet arize-phoenix==$(PHOENIX_VERSION)

bench-peers: $(STAMP) $(PEERS)/bin/phoenix
	$(BIN)/python bench/peers.py $(PEERS_ARGS)

clean:
	rm -rf $(VENV) .loomwork .pytest_cache $(TS_CLIENT)/node_modules $(TS_CLIENT)/dist

# The pages' browser libraries (jsdiff for word diffs), pinned in tools/vendor/package-lock.json and copied into
# src/loomwork/web/static/vendor/ (committed, so installing needs no npm); run after changing a version there.
vendor:
	tools/vendor/copy.sh
