# Two set-up commands: `make demo` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME := $(CURDIR)
export BINCLF_STATE ?= $(CURDIR)/.state
# LightGBM's OpenMP threads otherwise spin while they wait and lose to anything sharing the cores.
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: install demo test lint ui bench season-test clean

# uv installs the same pinned set several times faster than pip; pip is the fallback.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv || true
	if $(BIN)/python -m uv --version >/dev/null 2>&1; then \
		$(BIN)/python -m uv pip install --quiet --python $(BIN)/python -e '.[dev,cluster]'; \
	else \
		$(BIN)/python -m pip install --quiet --upgrade pip && \
		$(BIN)/python -m pip install --quiet -e '.[dev,cluster]'; \
	fi
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	mkdir -p $(BINCLF_STATE)
	$(BIN)/python -m pipelines.demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

season-test: $(STAMP)
	$(BIN)/python -m pytest -m season $(PYTEST_ARGS)

ui: $(STAMP)
	mkdir -p $(BINCLF_STATE)
	$(BIN)/dagster dev -h 127.0.0.1 -p 3000

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

clean:
	rm -rf .state
