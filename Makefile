# Two commands set everything up: `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP_INSTALL := $(PY) -m pip install -q -c constraints.txt
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install install-flower browser run train lint test flower-hosts bench bench-lab clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PIP_INSTALL) -e '.[dev]'
	@touch $@

# Flower (optional extra): what the tests of the Flower runtimes need; `make run` does without.
install-flower: $(VENV)/.installed-flower

$(VENV)/.installed-flower: $(VENV)/.installed
	$(PIP_INSTALL) -e '.[dev,flower]'
	@touch $@

# Browser tests use Debian's chromium (never `playwright install`, which downloads a browser).
browser:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium; }

# `make run PORT=8010 HOST=0.0.0.0` overrides where it listens (default 127.0.0.1:8000).
run: install
	$(VENV)/bin/tycoon serve $(if $(PORT),--port $(PORT)) $(if $(HOST),--host $(HOST))

train: install
	$(VENV)/bin/tycoon train --seed 0 --out artifacts

# Lint, format and types first: CI enforces them. Strict typing on the engine and the game rules.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy --strict fl_engine app/game
	$(VENV)/bin/mypy app bench

# Two stages: the main suite, then the tests that start Flower runtimes (marker `flower_slow`,
# tests/conftest.py; ~6.5 min on 2 cores, over the 5 min the Flower tests may add to the main suite).
test: install install-flower browser lint
	$(PY) -m pytest -q -m "not flower_slow"
	$(PY) -m pytest -q -m flower_slow

# Flower across hosts: SuperLink and SuperNodes in network namespaces (10.231.0.0/24, made and
# removed by the test), TLS and node authentication, 3 rounds checked against the in-process run.
# Needs root and iproute2 (`ip netns`); skipped with the reason otherwise.
flower-hosts: install-flower
	$(SUDO) $(PY) -m pytest -q -rs tests/test_flower_hosts.py

# Every table of the README (to runs/bench/; `python -m bench.X --publish` writes bench/results/).
bench: install
	$(PY) -m bench.run
	$(MAKE) bench-lab

# The Federation Lab's tables: robustness, non-IID, stragglers; privacy, compression, secure
# aggregation's cost; 8,000 nodes' speed, memory and cancel.
bench-lab: install
	$(PY) -m bench.lab
	$(PY) -m bench.lab_scale
	$(PY) -m bench.privacy
	$(PY) -m bench.compression
	$(PY) -m bench.secagg

clean:
	rm -rf $(VENV) artifacts .pytest_cache
