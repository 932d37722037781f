# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
# pytest-xdist workers. Most tests wait on servers and subprocesses, so more workers than cores pays;
# each worker starts its own PostgreSQL and picks free ports (tests/conftest.py, tests/services.py).
TEST_WORKERS ?= 4

.PHONY: venv venv-k8s demo test lint bench clean

venv: $(STAMP)

# Offline Kubernetes schemas for the Helm chart's test (~110 MB): skipped without them, failed under CI.
venv-k8s: venv
	$(PY) -m pip install -q -e ".[dev,postgres,foreign,k8s]"

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev,postgres,foreign]"
	rm -f $(VENV)/.installed-* && touch $@

demo: venv
	$(PY) -m examples.demo

lint: venv
	$(VENV)/bin/ruff check otel_agent tests bench examples
	$(VENV)/bin/mypy otel_agent

# --dist loadfile: a test file's module-scoped servers (API, Collector, Prometheus) start once, on one worker.
test: venv lint
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile tests

bench: venv
	$(PY) -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache otel-agent-data
