# Two commands work on a fresh machine with only python3 and make:
#   make run    scan the demo data on the embedded SQLite store and open the review dashboard
#   make test   lint, type-check and run the whole test suite
SHELL := /bin/bash
UV_VERSION ?= 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
export MEDSPA_SCAN_HOME ?= $(CURDIR)/.demo-home

.PHONY: setup run demo test lint typecheck pytest bench score train eval clean

$(UV):
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install -q "uv==$(UV_VERSION)"

.venv/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen
	touch $@

setup: .venv/.synced

demo: setup
	.venv/bin/python -m scanner.demo

run: setup
	.venv/bin/python -m scanner.demo

# Fresh demo data: deletes only ./.demo-home (never $$MEDSPA_SCAN_HOME elsewhere); `make run` seeds it again.
demo-reset:
	rm -rf "$(CURDIR)/.demo-home"
	@echo "Demo data removed; 'make run' seeds it again."

lint: setup
	.venv/bin/ruff check scanner tests bench evaluation $(wildcard dashboard examples)
	.venv/bin/mypy scanner

test: lint
	scripts/test-system-deps.sh
	.venv/bin/pytest -n 2 tests

bench: setup
	.venv/bin/python bench/run_all.py

train: setup
	.venv/bin/python -m evaluation.train --out models/learned/weights.npz

eval: setup
	.venv/bin/python -m evaluation.loso $(if $(EVAL_SETS),--sets $(EVAL_SETS))

score: setup
	python3 ../shared/tools/score_corpus.py --show-misses

clean:
	rm -rf .venv $(TOOLS) .demo-home
