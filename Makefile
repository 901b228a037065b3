# Two commands on a fresh machine: `make demo`, then `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PACKAGES := agilab_core $(sort $(wildcard plugins/*))
STAMP  := $(VENV)/.installed
DEMO_HOME ?= $(or $(AGILAB_HOME),$(HOME)/.agilab)
DEMO_DATA := $(DEMO_HOME)/data/flight

.PHONY: install demo test bench lint clean

$(STAMP): Makefile $(foreach p,$(PACKAGES),$(p)/pyproject.toml)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed (set PYTHON=python3.11)")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $(foreach p,$(PACKAGES),-e $(p) -e '$(p)[test]') -e 'agilab_core[test,cython,notebook]' -e 'plugins/executor-dask[dashboard,test]' ruff mypy
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	@test -d "$(DEMO_DATA)" || $(BIN)/python -m agilab_app_flight.sample "$(DEMO_DATA)" --files 24 --rows 2000 --min-rows 300 --max-rows 8000 --seed 1
	$(BIN)/agilab plugins
	AGILAB_HOME="$(DEMO_HOME)" $(BIN)/agilab run flight --executor pool --workers 2
	@echo "maps page of this run (open it in a browser, or browse every run with: $(BIN)/agilab ui):"
	@AGILAB_HOME="$(DEMO_HOME)" $(BIN)/agilab view maps

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/run.py

lint: $(STAMP)
	$(BIN)/ruff check conftest.py agilab_core plugins tests bench
	$(BIN)/python -m mypy agilab_core/src/agilab_core

clean:
	rm -rf $(VENV) .pytest_cache
