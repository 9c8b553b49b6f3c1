# The two set-up commands (README): `make run` and `make test`.
# Both create the Python 3.10 environment on first use (scripts/bootstrap.sh): `make run` from
# requirements.lock, the test and development targets from requirements-dev.lock (installed
# by uv, itself from requirements-bootstrap.lock).
PYTHON := .venv/bin/python
# The platform the locks are resolved for (where the assistant and CI run).
LOCK_FLAGS := --quiet --generate-hashes --python-version 3.10 --python-platform x86_64-unknown-linux-gnu \
	--custom-compile-command "make lock" \
	$(if $(filter all,$(UPGRADE)),--upgrade,$(foreach package,$(UPGRADE),--upgrade-package $(package)))

.PHONY: run test test-quality test-scale-out test-fast lint lock shell train nlu-report validate bench setup setup-dev test-setup

setup:
	@scripts/bootstrap.sh

setup-dev:
	@scripts/bootstrap.sh --dev

## Start the assistant, staff console and demo portal on embedded defaults (SQLite).
run: setup
	$(PYTHON) -m bot run

## Everything CI runs: lint and types, data validation, unit, conversation (the held-out set
## against its quality floors included), browser, production-profile and scale-out tests.
test: setup-dev test-setup lint
	$(PYTHON) -m bot validate
	$(PYTHON) -m pytest

## The held-out conversation set alone against its quality floors, with the scores printed
## (results/conversation_quality.json; 1–2 minutes with the model up to date).
test-quality: setup-dev test-setup
	$(PYTHON) -m pytest -m quality -s

## The scale-out test alone (two replicas of every process behind nginx, one Rasa server and
## one gateway killed mid-run; 2.5–5.5 min by load; see BENCHMARKS.md, Scale-out).
test-scale-out: setup-dev test-setup
	$(PYTHON) -m pytest -m scale_out

## The unit tier alone: no trained model, running assistant, browser or server (under a minute).
test-fast: setup-dev
	$(PYTHON) -m pytest -m unit

## Ruff (lint, import order) and mypy (types of bot/ and actions/), configured in pyproject.toml.
lint: setup-dev
	.venv/bin/ruff check .
	.venv/bin/mypy

## Re-resolve the locks after editing requirements.in or requirements-dev.in; existing pins
## are kept unless named: `make lock UPGRADE=sanic` (one package) or `make lock UPGRADE=all`.
lock: setup-dev
	.venv/bin/uv pip compile $(LOCK_FLAGS) requirements.in -o requirements.lock
	.venv/bin/uv pip compile $(LOCK_FLAGS) requirements-dev.in -o requirements-dev.lock
	.venv/bin/uv pip compile $(LOCK_FLAGS) requirements-bootstrap.in -o requirements-bootstrap.lock
	@scripts/bootstrap.sh --dev

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

bench: setup-dev test-setup
	$(PYTHON) bench/bench_reply_latency.py
	$(PYTHON) bench/bench_platform.py

test-setup:
	@scripts/test-setup.sh
