# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install lint format bench clean

# pip's output goes to .venv/install.log; on a failure its last lines are shown.
$(STAMP): pyproject.toml
	@echo "== installing into $(VENV) (log: $(VENV)/install.log)"
	@$(PYTHON) -m venv $(VENV)
	@($(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip \
	  && $(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]') \
	  > $(VENV)/install.log 2>&1 || (tail -30 $(VENV)/install.log; exit 1)
	@touch $(STAMP)

install: $(STAMP)

# `make run PORT=5001` serves on another port. The links Flasky mails point at
# FLASKY_BASE_URL (never at the request's Host), which follows PORT unless set.
PORT ?= 5000
RUN_ENV = FLASKY_CONFIG=$${FLASKY_CONFIG:-development} FLASKY_BASE_URL=$${FLASKY_BASE_URL:-http://127.0.0.1:$(PORT)}

run: $(STAMP)
	@$(BIN)/python -m flasky.portcheck $(PORT)
	$(RUN_ENV) $(BIN)/flasky deploy
	@echo "== serving http://127.0.0.1:$(PORT) (Ctrl-C stops; make run PORT=… for another port)"
	$(RUN_ENV) $(BIN)/hypercorn --config hypercorn.toml --workers 1 --bind 127.0.0.1:$(PORT) flasky.asgi:app

test: $(STAMP)
	$(BIN)/ruff check flasky tests bench
	FLASKY_CONFIG=testing $(BIN)/python -m pytest -m "not resilience" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check flasky tests bench
	$(BIN)/ruff format --check flasky tests bench

format: $(STAMP)
	$(BIN)/ruff format flasky tests bench
	$(BIN)/ruff check --fix flasky tests bench

bench: $(STAMP)
	command -v wrk >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk) \
		|| echo "could not install wrk (apt-get install -y wrk)"
	$(BIN)/python -m bench.run $(BENCH_ARGS)
	$(BIN)/python -m bench.search

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache htmlcov .coverage
