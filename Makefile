# Two entry points: `make run` serves on SQLite, `make test` runs the whole suite.
# Both build .venv from this project's own files, so a fresh machine needs nothing else.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test bench install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

run: $(STAMP)
	$(BIN)/loomwork serve

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The performance budget (issue 8), on SQLite and on PostgreSQL when one answers: writes bench/RESULTS.md.
bench: $(STAMP)
	cd bench && ../$(BIN)/python run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .loomwork .pytest_cache
