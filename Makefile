# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# Each creates .venv, installs the pinned lock (requirements.lock) with uv, then runs.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   ?= demo-output

export BENTOML_DO_NOT_TRACK := true
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := true

.PHONY: install demo test bench lint lock clean

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(BIN)/uv pip sync --quiet --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/riskscore simulate --accounts 20000 --days 365 --seed 7 --out $(DEMO)/data
	$(BIN)/riskscore summary $(DEMO)/data
	RISKSCORE_HOME=$(DEMO)/var $(BIN)/riskscore features --data $(DEMO)/data --out $(DEMO)/features.parquet

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup --durations=15

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run $(BENCH)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

# Re-pin after editing pyproject.toml dependencies.
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --group dev --python-version 3.11 \
		--universal --no-header --no-annotate -o requirements.lock

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache
