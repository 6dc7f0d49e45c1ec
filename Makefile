# meshlake: `make demo`, `make test`, `make dev`. Each target creates .venv itself when missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export MESHLAKE_HOME ?= $(CURDIR)/.meshlake
PORT ?= 3000
CATALOG_PORT ?= 8765
EVENTS ?= 100000
# STORAGE=s3: tables and landing files on a SeaweedFS started under the home (make demo / make dev)
STORAGE ?= local

.PHONY: install demo test chromium strace lint dev bench lock clean

# `make demo` and `make dev` need the base install only; the development tools (pytest, ruff, mypy, Playwright,
# the test servers' wheels: meshlake[dev]) come with `make install`, which lint, test and bench use.
$(BIN)/meshlake: pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e .
	@touch $@

# Prerequisites are expanded when make reads a rule: name the base install itself, not a variable set later.
$(VENV)/.dev: $(BIN)/meshlake pyproject.toml constraints.txt
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $@

# datacontract-cli validates exported contracts in the tests; it pins typer<0.28, so it gets its own venv.
.venv-tools/bin/datacontract:
	@test -x .venv-tools/bin/python || $(PYTHON) -m venv .venv-tools
	@echo '*' > .venv-tools/.gitignore
	.venv-tools/bin/pip install --quiet --disable-pip-version-check datacontract-cli==1.2.8

install: $(VENV)/.dev

# The Spark Connect engine (MESHLAKE_ENGINE=spark) needs Sail and its client: meshlake[sail].
$(VENV)/.sail: $(BIN)/meshlake pyproject.toml constraints.txt
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[sail]'
	@touch $@

# STORAGE=s3 starts SeaweedFS from its wheel (meshlake[dev]); MESHLAKE_ENGINE=spark starts Sail (meshlake[sail]);
# the local demo needs the base install only.
RUNTIME := $(if $(filter s3,$(STORAGE)),$(VENV)/.dev,$(BIN)/meshlake) $(if $(filter spark,$(MESHLAKE_ENGINE)),$(VENV)/.sail)

demo: $(RUNTIME)
	$(BIN)/meshlake demo --events $(EVENTS) --storage $(STORAGE)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy pipelines domains catalog benchmarks tests
	$(BIN)/lint-imports

# The tests start nats-server and PostgreSQL from wheels (meshlake[dev]); the browser tests drive Debian's Chromium;
# the no-cloud-metadata test traces the S3 clients' connections with Debian's strace.
test: lint .venv-tools/bin/datacontract chromium strace
	$(BIN)/pytest -n 2 --dist loadgroup --durations=15

CHROMIUM ?= $(or $(MESHLAKE_CHROMIUM),/usr/bin/chromium)
chromium:
	@test -x $(CHROMIUM) || [ "$$(id -u)" = 0 ] || { echo "make test needs Chromium at $(CHROMIUM): sudo apt-get install chromium"; exit 1; }
	@test -x $(CHROMIUM) || { echo "apt-get install chromium"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

strace:
	@command -v strace >/dev/null || [ "$$(id -u)" = 0 ] || { echo "make test needs strace: sudo apt-get install strace"; exit 1; }
	@command -v strace >/dev/null || { echo "apt-get install strace"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends strace >/dev/null; }

dev: $(RUNTIME)
	$(BIN)/meshlake dev --port $(PORT) --catalog-port $(CATALOG_PORT) --storage $(STORAGE)

bench: install
	$(BIN)/python -m benchmarks

lock:
	$(BIN)/pip freeze --exclude-editable | grep -v '^meshlake' | sed '1i # Every package of the tested environment, pinned (pip install -c constraints.txt). Regenerate with `make lock`.' > constraints.txt

clean:
	rm -rf $(VENV) .venv-tools .meshlake .mypy_cache .ruff_cache .pytest_cache
