# talos-conformance: everything a fresh machine needs is installed from here.
#   make conformance   build (provision) the embedded cluster, verify it, report
#   make test          the project's own checks: lint, types, layers, tests
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
RESULTS := reports/allure-results
PYTEST_FLAGS ?=

# Talos's own config code (pkg/machinery), wrapped by gotools/talos-machinery, decides what a
# machine config means (patching, validation).  Built once per machine into a cache outside the
# repo, keyed by the machinery version and a hash of our source (provisioning/config/machinery.py
# computes the same path).  Needs Go and the Go module proxy.
MACHINERY_SRC := gotools/talos-machinery
MACHINERY_VERSION := $(shell sed -n 's|^[[:space:]]*github.com/siderolabs/talos/pkg/machinery \(v[^ ]*\).*|\1|p' $(MACHINERY_SRC)/go.mod)
MACHINERY_HASH := $(shell cd $(MACHINERY_SRC) && cat go.mod go.sum $$(ls *.go | LC_ALL=C sort) | sha256sum | cut -c1-16)
GO_CACHE := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/talos-conformance/go
MACHINERY := $(GO_CACHE)/talos-machinery-$(MACHINERY_VERSION)-$(MACHINERY_HASH)/talos-machinery

.PHONY: venv machinery lint test conformance report report-tools browser clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade 'pip>=25.1'
	$(BIN)/python -m pip install --quiet --editable . --group dev
	rm -f $(VENV)/.installed-*
	touch $@

venv: $(STAMP) machinery

machinery: $(MACHINERY)

$(MACHINERY): $(MACHINERY_SRC)/go.mod $(MACHINERY_SRC)/go.sum $(wildcard $(MACHINERY_SRC)/*.go)
	@command -v go >/dev/null 2>&1 || { echo "talos-machinery needs Go (https://go.dev/dl/) on PATH" >&2; exit 1; }
	@echo "building talos-machinery $(MACHINERY_VERSION) (first time, a few minutes)..."
	@mkdir -p $(@D)
	@cd $(MACHINERY_SRC) && go build -trimpath -o $@.tmp . && mv $@.tmp $@

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/mypy tests --explicit-package-bases
	$(BIN)/lint-imports

# -n 2: both cores (tests/conftest.py says what may run apart); --durations=10: CI prints the
# ten slowest tests (where the time goes; no test asserts it).  PYTEST_FLAGS="-n 0" runs serially.
test: lint report-tools browser
	$(BIN)/pytest tests -n 2 --durations=10 $(PYTEST_FLAGS)

conformance: venv
	$(BIN)/python -m provisioning validate --cluster cluster
	@# The embedded site ships two storage SSDs with old LVM/Ceph signatures (article
	@# lesson 1): wiping them is part of building it. Never pass this flag blindly to --live.
	$(BIN)/pytest --provision --allow-destructive --alluredir $(RESULTS) --clean-alluredir $(PYTEST_FLAGS)
	$(MAKE) report

# The pinned Allure 3 CLI (reports/package-lock.json), reinstalled only when the lockfile changes.
report-tools:
	test reports/node_modules/.package-lock.json -nt reports/package-lock.json \
		|| (cd reports && npm ci --no-audit --no-fund)

# Headless Chromium for tests/reports/test_html_report.py: Debian's package, installed only
# when missing (CI runs as root on Debian; elsewhere install it yourself).
browser:
	command -v chromium >/dev/null 2>&1 \
		|| (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium)

report: report-tools
	@# allurerc.json: output reports/html, history carried in reports/history/history.jsonl
	mkdir -p reports/history
	cd reports && node_modules/.bin/allure generate --config allurerc.json allure-results
	@echo "report: reports/html/index.html (summary: reports/summary.md)"

clean:
	rm -rf $(VENV) .sim rendered reports/allure-results reports/html .mypy_cache .ruff_cache .pytest_cache
