# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: venv venv-clickhouse demo test lint bench clean

venv: $(STAMP)

# The ClickHouse store's extra (chDB is large): the tests that need it skip without it, fail under CI.
venv-clickhouse: venv
	$(PY) -m pip install -q -e ".[dev,postgres,clickhouse,chdb]"

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev,postgres,k8s]"
	rm -f $(VENV)/.installed-* && touch $@

demo: venv
	$(PY) -m examples.demo

lint: venv
	$(VENV)/bin/ruff check otel_agent tests bench examples
	$(VENV)/bin/mypy otel_agent

test: venv lint
	$(PY) -m pytest -q tests

bench: venv
	$(PY) -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache otel-agent-data
