# talos-conformance: everything a fresh machine needs is installed from here.
#   make conformance   build (provision) the embedded cluster, verify it, report
#   make test          the project's own checks: lint, types, layers, tests
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
RESULTS := reports/allure-results
PYTEST_FLAGS ?=

.PHONY: venv lint test conformance report clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade 'pip>=25.1'
	$(BIN)/python -m pip install --quiet --editable . --group dev
	rm -f $(VENV)/.installed-*
	touch $@

venv: $(STAMP)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/mypy tests --explicit-package-bases
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest tests $(PYTEST_FLAGS)

conformance: venv
	$(BIN)/python -m provisioning validate --cluster cluster
	$(BIN)/pytest --provision --alluredir $(RESULTS) --clean-alluredir $(PYTEST_FLAGS)
	$(MAKE) report

report:
	@echo "Allure results written to $(RESULTS); the HTML report (Allure 3 CLI) is not built yet"

clean:
	rm -rf $(VENV) .sim rendered reports/allure-results reports/html .mypy_cache .ruff_cache .pytest_cache
