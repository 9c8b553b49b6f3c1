# The two set-up commands (README): `make run` and `make test`.
# Both create the Python 3.10 environment on first use (scripts/bootstrap.sh).
PYTHON := .venv/bin/python

.PHONY: run test shell train nlu-report validate bench setup test-setup

setup:
	@scripts/bootstrap.sh

## Start the assistant, staff console and demo portal on embedded defaults (SQLite).
run: setup
	$(PYTHON) -m bot run

## Everything CI runs: data validation, unit, conversation, browser and production-profile tests.
test: setup test-setup
	$(PYTHON) -m bot validate
	$(PYTHON) -m pytest

## Terminal chat with the assistant (like `rasa shell`).
shell: setup
	$(PYTHON) -m bot shell

train: setup
	$(PYTHON) -m bot train

## NLU cross-validation report into results/nlu-cv/ (intent_report.json, confusion matrix).
nlu-report: setup
	$(PYTHON) -m bot nlu-report

validate: setup
	$(PYTHON) -m bot validate

bench: setup test-setup
	$(PYTHON) bench/bench_reply_latency.py
	$(PYTHON) bench/bench_platform.py

test-setup:
	@scripts/test-setup.sh
