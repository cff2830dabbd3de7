# Two commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check -q
# `make demo` runs the demo jobs, then opens the quickstart notebook in JupyterLab;
# `make demo DEMO_ARGS=--headless` only prints (no browser, no server).
DEMO_ARGS ?=

.PHONY: demo lab test lint typecheck pytest bench clean slurm-up llm-up llm-down test-llm

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall when pyproject.toml changes.
$(VENV)/.installed-demo: pyproject.toml | $(BIN)/python
	@echo "Installing adaptive_llm with JupyterLab into $(VENV) (a few minutes the first time) ..."
	$(PIP) install -e ".[jupyter]"
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(PIP) install -e ".[jupyter,test]"
	touch $@ $(VENV)/.installed-demo

demo: $(VENV)/.installed-demo
	$(BIN)/adaptive-llm demo $(DEMO_ARGS)

lab: $(VENV)/.installed-demo
	$(BIN)/jupyter lab notebooks/quickstart.ipynb

lint: $(VENV)/.installed-test
	$(BIN)/ruff check adaptive_llm tests bench
	$(BIN)/ruff format --check adaptive_llm tests bench
	$(BIN)/lint-imports

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy adaptive_llm

pytest: $(VENV)/.installed-test
	$(BIN)/pytest

test: lint typecheck pytest

# A real single-node SLURM on this host for the SLURM tests (as root; installs Debian packages).
slurm-up:
	bash .ci/slurm-up

# A real local model server for tests/llm_server (builds llama-server once, then seconds).
llm-up:
	bash .ci/llm-up

llm-down:
	bash .ci/llm-down

# A real Airflow 3 for tests/airflow (its own venv, cached): `eval "$$(make -s airflow-up)"`.
.PHONY: airflow-up airflow-down
airflow-up:
	@bash .ci/airflow-up

airflow-down:
	bash .ci/airflow-down

test-llm: $(VENV)/.installed-test
	$(BIN)/pytest tests/llm_server

bench: $(VENV)/.installed-test
	$(BIN)/python bench/manager_scale.py
	$(BIN)/python bench/eval_corpora.py
	$(BIN)/python bench/huge_log.py
	$(BIN)/python bench/chat_render.py
	$(BIN)/python bench/slurm_poll.py
	$(BIN)/python bench/approval.py
	$(BIN)/python bench/read_file.py
	$(BIN)/python bench/commands.py
	$(BIN)/python bench/search.py
	$(BIN)/python bench/redaction.py
	$(BIN)/python bench/chat_overhead.py

clean:
	rm -rf $(VENV) adaptive-llm-demo .pytest_cache .mypy_cache .ruff_cache
