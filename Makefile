# Developer commands. Each target needs only Python 3.11 on the machine:
# the virtualenv is created in .venv and the requirements are installed into
# it again only when requirements*.txt changed since the last install.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.requirements-installed

.PHONY: run test lint install bench states

run: $(STAMP)
	$(BIN)/python manage.py demo

test: $(STAMP)
	scripts/run-tests

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# make states: retake docs/states/, the progress page in each state a sync can be in
# (tests/test_state_matrix.py brings a real run into each one and checks every surface)
states: $(STAMP)
	STATE_SCREENSHOTS=docs/states scripts/run-tests tests/test_state_matrix.py

# make bench [ARGS="--quick api"]: the benchmarks of BENCHMARKS.md
bench: $(STAMP)
	$(BIN)/python -m bench $(ARGS)

install: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The stamp is written only after pip succeeded, so a failed install is
# retried by the next make.
$(STAMP): requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check -q -r requirements-dev.txt
	touch $@
