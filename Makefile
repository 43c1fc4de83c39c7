# The two commands a newcomer needs are `make demo` and `make test` (see README.md).
# Every target runs `setup` first; setup is idempotent and quick when nothing is missing.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# mypy and import-linter walk packages on disk; the ``atoll`` namespace spans sibling folders
# (hub/ -> atoll.hub, site-agent/ -> atoll.site_agent), so they read a mirror of symlinks.
TYPECHECK := .build/typecheck

.PHONY: setup test check demo bench typecheck-tree clean

setup:
	@bash setup.sh

typecheck-tree:
	@rm -rf $(TYPECHECK) && mkdir -p $(TYPECHECK)
	@cp -rs "$(CURDIR)/atoll" $(TYPECHECK)/atoll
	@for pair in hub:hub site-agent:site_agent nfv:nfv sync:sync images:images testbed:testbed; do \
	  cp -rs "$(CURDIR)/$${pair%%:*}" "$(TYPECHECK)/atoll/$${pair##*:}"; done
	@find $(TYPECHECK) -name __pycache__ -prune -exec rm -rf {} +

check: setup typecheck-tree
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	MYPYPATH=$(TYPECHECK) $(VENV)/bin/mypy -p atoll
	$(VENV)/bin/mypy tests bench
	cd $(TYPECHECK) && PYTHONPATH=. $(CURDIR)/$(VENV)/bin/lint-imports $(CURDIR)/pyproject.toml

# Three workers (pytest-xdist): most tests wait on I/O, processes or TCG guests, so two cores
# run three of them well. Each test file is one unit of work; the tests holding the one private
# OVS a host may run form one group (tests/conftest.py says how to stay parallel-safe).
PYTEST_WORKERS ?= 3
test: check
	$(VENV)/bin/pytest -p no:cacheprovider -n $(PYTEST_WORKERS) --dist loadgroup --durations=30 $(PYTEST_ARGS)

demo: setup
	$(VENV)/bin/atoll testbed demo

bench: setup
	$(PY) bench/run.py

clean:
	rm -rf .build .venv .mypy_cache .ruff_cache
