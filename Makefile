# `make run` starts the mock; `make test` runs every test. Both set themselves up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
LINTER := node_modules/.bin/redocly
# Twice the cores: most tests spend half their time waiting on a subprocess or a socket.
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null) && echo $$((n * 2)) || echo auto)

.PHONY: run test lint chromium postgresql wrk contract bench clean

$(INSTALLED): pyproject.toml setup.py constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	touch $@

$(LINTER): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The docs-page test drives Debian's Chromium; install it when the machine lacks it.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Chromium for the docs-page test..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }

# The PostgreSQL tests start a throwaway cluster of Debian's PostgreSQL; install it when missing.
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "Installing PostgreSQL for the database tests..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

# The speed benchmark drives the servers with wrk.
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }

run: $(INSTALLED)
	$(BIN)/leads-mock $(ARGS)

lint: $(INSTALLED) $(LINTER)
	$(LINTER) lint openapi.yaml

# pytest spreads test files over TEST_WORKERS processes (a file's module fixtures are built once), in
# the order tests/conftest.py gives them (the longest first); the contract run against the mock goes
# alongside on one worker (its verdicts do not depend on the count; tests run it in parallel), its
# report printed once pytest is done.
# Python caches bytecode here even where PYTHONDONTWRITEBYTECODE is set: each of the run's hundred-odd Python
# processes would otherwise compile the project's modules again, and each pytest worker rewrite the test modules' asserts.
test: export PYTHONDONTWRITEBYTECODE =
test: $(INSTALLED) $(LINTER) chromium postgresql
	@mkdir -p reports
	@$(BIN)/leads-contract --workers 1 --junit-xml reports/contract-mock.xml > reports/contract-mock.log 2>&1 & contract=$$!; \
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder; tests=$$?; \
	wait $$contract; contract_status=$$?; \
	echo "--- leads-contract against the mock (exit $$contract_status; JUnit: reports/contract-mock.xml)"; \
	cat reports/contract-mock.log; \
	[ $$tests -eq 0 ] && [ $$contract_status -eq 0 ]

contract: $(INSTALLED)
	$(BIN)/leads-contract $(ARGS)

bench: $(INSTALLED) postgresql wrk
	$(BIN)/python benchmarks/mock_speed.py

clean:
	rm -rf $(VENV) node_modules reports
