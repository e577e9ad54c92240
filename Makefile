# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# Each creates .venv, installs the pinned lock (requirements.lock) with uv, then runs.
# Bytecode is compiled at install (as pip does; uv does not by default): with
# PYTHONDONTWRITEBYTECODE set, every command would otherwise compile its imports anew.
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
	$(BIN)/uv pip sync --quiet --compile-bytecode --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

# The main job: simulate a platform, train and promote a model, load the entity store,
# package the champion and serve it (Ctrl-C stops the service). The simulated history
# ends at the end of today (UTC), so the live application scored now has a full day of
# platform signups before it, as it would in production.
DEMO_ENV := RISKSCORE_HOME=$(DEMO)/var BENTOML_HOME=$(CURDIR)/$(DEMO)/bentoml \
	RISKSCORE_API_KEYS='{"demo": "demo-key"}'
demo: $(STAMP)
	$(BIN)/riskscore simulate --accounts 20000 --days 365 --seed 7 --fraud-rate 0.03 \
		--start $$(date -u -d '364 days ago' +%F) --out $(DEMO)/data
	$(BIN)/riskscore summary $(DEMO)/data
	$(DEMO_ENV) $(BIN)/riskscore train --data $(DEMO)/data
	$(DEMO_ENV) $(BIN)/riskscore promote
	rm -f $(DEMO)/var/riskscore.db
	$(DEMO_ENV) $(BIN)/riskscore load --data $(DEMO)/data
	$(DEMO_ENV) $(BIN)/riskscore export-model --models-dir models
	$(BIN)/riskscore example-application > $(DEMO)/application.json
	@echo
	@echo "Score a sample application (in another terminal, once the service is up):"
	@echo "  curl -s -X POST http://127.0.0.1:3000/score_application \\"
	@echo "    -H 'Authorization: Bearer demo-key' -H 'Content-Type: application/json' \\"
	@echo "    -d @$(DEMO)/application.json"
	@echo
	$(DEMO_ENV) $(BIN)/riskscore serve --port 3000

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
