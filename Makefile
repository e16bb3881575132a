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
	$(VENV)/bin/python examples/nn_worked_example.py

test: $(VENV)/.installed
	$(VENV)/bin/python -m pytest -q

.PHONY: setup demo test
