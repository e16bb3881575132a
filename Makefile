# TORCH_SPEC can be overridden for a GPU build, e.g. make test TORCH_SPEC="torch==2.13.0 --index-url ..."
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q $(TORCH_SPEC)
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

setup: $(VENV)/.installed

demo: $(VENV)/.installed
	$(VENV)/bin/probmodels demo --out report

test: $(VENV)/.installed
	$(VENV)/bin/python -m pytest -q

# the docs site into site/ (mkdocs.yml); the build runs the gallery scripts (examples/gallery/*.py)
$(VENV)/.docs-installed: $(VENV)/.installed pyproject.toml
	$(VENV)/bin/pip install -q -e '.[docs]'
	touch $@

docs: $(VENV)/.docs-installed
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict -d site

# Second leg: probmodels.export under ArviZ >= 1.0, which needs Python >= 3.12.
# The venv holds no torch and no probmodels install (PYTHONPATH points at the
# checkout), so the leg also proves the export path is torch-free. A python3.12
# on PATH may be a pyenv shim that cannot run, so each candidate is tried.
VENV_ARVIZ1 ?= .venv-arviz1
ARVIZ1_SPEC ?= numpy pandas xarray "arviz>=1.0" h5netcdf h5py pytest
PY312 ?= $(shell for p in $$(command -v python3.12 2>/dev/null) \
	$$(ls -d $$HOME/.pyenv/versions/3.1[2-9]*/bin/python 2>/dev/null | sort -rV); do \
	"$$p" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1 \
	&& { echo "$$p"; break; }; done)

$(VENV_ARVIZ1)/.installed: Makefile
	$(PY312) -c 'import sys; sys.exit(sys.version_info < (3, 12) and "PY312 must be Python >= 3.12, got " + sys.version)'
	$(PY312) -m venv $(VENV_ARVIZ1)
	$(VENV_ARVIZ1)/bin/pip install -q --upgrade pip
	$(VENV_ARVIZ1)/bin/pip install -q $(ARVIZ1_SPEC)
	touch $@

test-arviz1:
	@py='$(PY312)'; \
	if [ -z "$$py" ]; then \
		echo "SKIPPED test-arviz1: no Python >= 3.12 found (python3.12 on PATH or ~/.pyenv/versions/3.1[2-9]*); set PY312=/path/to/python3.12"; \
		exit 0; \
	fi; \
	echo "test-arviz1: $$py"; \
	$(MAKE) --no-print-directory PY312="$$py" $(VENV_ARVIZ1)/.installed && \
	PYTHONPATH="$(CURDIR)" $(VENV_ARVIZ1)/bin/python -m pytest -q -p no:cacheprovider tests/test_export.py

# Lint and type check of probmodels/ (configuration in pyproject.toml); CI runs it
$(VENV)/.lint-installed: $(VENV)/.installed
	$(VENV)/bin/pip install -q -e '.[lint]'
	touch $@

lint: $(VENV)/.lint-installed
	$(VENV)/bin/ruff check probmodels
	$(VENV)/bin/ruff format --check probmodels
	$(VENV)/bin/mypy

.PHONY: setup demo test docs test-arviz1 lint
