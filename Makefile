# `make run` starts the mock; `make test` runs every test. Both set themselves up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
LINTER := node_modules/.bin/redocly

.PHONY: run test lint chromium contract bench clean

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

run: $(INSTALLED)
	$(BIN)/leads-mock $(ARGS)

lint: $(INSTALLED) $(LINTER)
	$(LINTER) lint openapi.yaml

test: $(INSTALLED) $(LINTER) chromium
	$(BIN)/pytest
	$(BIN)/leads-contract --junit-xml reports/contract-mock.xml

contract: $(INSTALLED)
	$(BIN)/leads-contract $(ARGS)

bench: $(INSTALLED)
	$(BIN)/python benchmarks/mock_speed.py

clean:
	rm -rf $(VENV) node_modules reports
