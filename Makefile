# The two set-up commands of the README. Each creates .venv and installs on first use.
PYTHON ?= python3
VENV := .venv
STAMP_RUN := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test

.PHONY: run test login

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(VENV)/bin/python
	$(VENV)/bin/pip install --quiet -e .
	touch $@

$(STAMP_TEST): pyproject.toml | $(VENV)/bin/python
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $@ $(STAMP_RUN)

run: $(STAMP_RUN)
	$(VENV)/bin/dozor run $(ARGS)

test: $(STAMP_TEST)
	$(VENV)/bin/python -m pytest $(ARGS)

login: $(STAMP_RUN)
	$(VENV)/bin/dozor login $(ARGS)
