# The two commands of the README: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
DATA_DIR := $(or $(DATA_DIR),$(FEATURE_PLATFORM_HOME),$(CURDIR)/.feature_platform)
export FEATURE_PLATFORM_HOME := $(DATA_DIR)
export DAGSTER_HOME ?= $(DATA_DIR)/dagster_home
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export SPARK_LOCAL_IP ?= 127.0.0.1

.PHONY: install demo dev test lint bench clean .env

# Every extra (the SDK alone needs none of them) and the test tools.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[all,test]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

# Dagster's CLIs (dagster, dg) read .env from the working directory: the README's
# `dagster asset materialize ...` then records its runs in the instance `make dev` shows.
# Rewritten by every make command, so it follows DATA_DIR / DAGSTER_HOME; the folder is made
# too, since Dagster refuses a DAGSTER_HOME that does not exist.
.env:
	mkdir -p $(DAGSTER_HOME)
	printf 'DAGSTER_HOME=%s\n' "$(DAGSTER_HOME)" > $@

install: $(STAMP) .env

demo: install
	$(PY) -m feature_platform demo

# STREAM=0 leaves the stream processor out; it reports to the same DAGSTER_HOME.
STREAM ?= 1
dev: install
	printf 'telemetry:\n  enabled: false\n' > $(DAGSTER_HOME)/dagster.yaml
	if [ "$(STREAM)" = 1 ]; then $(PY) -m feature_platform stream & trap "kill $$! 2>/dev/null" EXIT INT TERM; fi; \
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/dg dev -h 127.0.0.1 -p 3000

test: install
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check feature_platform feature_platform_tests benchmarks
	$(VENV)/bin/mypy

bench: install
	$(PY) benchmarks/pit_join.py --size S
	$(PY) benchmarks/materialize.py
	$(PY) benchmarks/online_read.py
	$(PY) benchmarks/streaming.py

clean:
	rm -rf $(DATA_DIR) .env dbt_transforms/target dbt_transforms/logs
