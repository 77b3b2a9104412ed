# Kinerja: every target runs from the repository root.
#   make install    .venv from requirements.lock (deploy/local/bootstrap.sh)
#   make lock       re-lock requirements.lock from requirements.in + the root's dev group
#   make run        whole dev stack: PostgreSQL, Kafka, Zipkin, five services, console, e-Kinerja simulator
#   make infra      dev stack infrastructure only (PostgreSQL, Kafka, Zipkin, topics)
#   make stop       stop the dev stack
#   make test       everything: test-stack infra, the whole pytest suite, then lint
#   make test-unit  the tests that need no infrastructure
#   make lint       ruff, ruff format --check, mypy, import-linter
# STACK=test selects the test stack for run/infra/stop (ports +1000, state in .local/test).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
VENV := .venv/bin
STACK ?= dev

.PHONY: install lock run infra stop down lint test test-unit

install:
	bash deploy/local/bootstrap.sh

# requirements.lock: everything the workspace and its tests need; requirements-runtime.lock:
# what the service images install (no dev tools: neither the root's dev group nor kinerja-tools
# and what only it needs, such as pytest).
LOCK_FLAGS := --generate-hashes --no-emit-index-url --no-header -p 3.11
lock: install
	$(VENV)/uv pip compile requirements.in --group pyproject.toml:dev $(LOCK_FLAGS) -o requirements.lock
	$(VENV)/uv pip compile requirements.in --excludes <(echo kinerja-tools) $(LOCK_FLAGS) \
	  -o requirements-runtime.lock

run:
	KINERJA_STACK=$(STACK) bash deploy/local/up.sh all

infra:
	KINERJA_STACK=$(STACK) bash deploy/local/up.sh infra

stop down:
	KINERJA_STACK=$(STACK) bash deploy/local/down.sh

lint: install
	$(VENV)/ruff check . && $(VENV)/ruff format --check . && $(VENV)/mypy && $(VENV)/lint-imports

# The test session reads the test stack's ports from .local/test/env (also exported here, so
# values left in the shell by a sourced dev env.sh cannot leak in).
test: install
	bash deploy/local/test-tools.sh
	KINERJA_STACK=test bash deploy/local/up.sh infra
	# The e2e tests alone first, then the tests that wait on processes of their own beside the
	# rest (deploy/local/test-suite.sh says which and why).
	bash deploy/local/test-suite.sh
	$(MAKE) --no-print-directory lint

test-unit: install
	$(VENV)/pytest -q -m 'not infra and not e2e'
