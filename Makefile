# Two commands do all the set-up: `make run` and `make test`. Both start with `make setup`.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PORT ?= 8501
API_PORT ?= 8600
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup run test lint bench bench-1m bench-pg demo clean screenshots

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -r requirements.txt -r requirements-dev.txt
	$(PIP) install -q --no-deps -e .
	touch $@

run: setup
	$(VENV)/bin/knownfix demo
	$(VENV)/bin/knownfix serve --port $(PORT) --api-port $(API_PORT)

# Headless Chromium and CJK / emoji fonts for tests/browser, where the machine lets us
# install system packages (root with apt-get). Tried once per venv (stamp file); if it
# fails, the browser tests skip and say why.
$(VENV)/.browser: | $(VENV)/.installed
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			chromium fonts-noto-cjk fonts-noto-color-emoji) \
		|| echo "could not install chromium: the browser tests will skip"; \
	else echo "no /usr/bin/chromium and no root apt-get: the browser tests will skip"; fi
	touch $@

# Dovecot (Debian's dovecot-imapd) for the mail intake test against a real IMAP server:
# tests/service/test_mail_imap.py starts its own instance on a free loopback port with a
# temporary configuration.  (On a machine that runs services, installing the package also
# starts its system service; containers such as CI's refuse that.)  Tried once per venv;
# without Dovecot that test skips and says why.
$(VENV)/.mailserver: | $(VENV)/.installed
	@if [ -x /usr/sbin/dovecot ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			dovecot-imapd) \
		|| echo "could not install dovecot-imapd: the IMAP intake test will skip"; \
	else echo "no /usr/sbin/dovecot and no root apt-get: the IMAP intake test will skip"; fi
	touch $@

# Debian's PostgreSQL server for the PostgreSQL store's tests: tests/postgres.py starts a
# cluster of its own (initdb + pg_ctl) in a temporary folder, whatever else the machine
# runs.  postgresql-15 as on Debian 12; where the distribution has another version, its
# default `postgresql` (tests/postgres.py takes any /usr/lib/postgresql/*/bin).  On a
# machine that runs services, installing also starts the system's own cluster; our tests
# do not use it.  Tried once per venv; without the server the PostgreSQL tests skip and
# say why.
$(VENV)/.pgserver: | $(VENV)/.installed
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		(apt-get update -qq && (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			postgresql-15 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql)) \
		|| echo "could not install postgresql-15: the PostgreSQL tests will skip"; \
	else echo "no /usr/lib/postgresql/*/bin/initdb and no root apt-get: the PostgreSQL tests will skip"; fi
	touch $@

# Test modules run in parallel, one module per worker at a time (--dist loadfile keeps a
# module's shared fixtures in one process): about half the time on 2 cores.
test: setup $(VENV)/.browser $(VENV)/.mailserver $(VENV)/.pgserver
	$(PY) -m pytest -n auto --dist loadfile --durations=15

# Refresh docs/screenshots/ (every page, zh and en) from the real app in headless Chromium.
screenshots: setup $(VENV)/.browser
	SCREENSHOT_DIR=docs/screenshots $(PY) -m pytest tests/browser/test_screenshots.py

lint: setup
	$(VENV)/bin/ruff check .

# 10k and 100k documents through the real pipeline (about 20-30 min on 2 idle cores);
# writes bench/results/scale-*.json, docs/benchmarks.md and docs/bench-*.png
bench: setup
	$(PY) bench/bench_scale.py --sizes 10000,100000
	$(PY) bench/report_scale.py

# the 1M point: embeddings computed once and cached (bench/vector_cache.py; hours the
# first time), then the pipeline at 1M documents, and at 100k with the same cache to check
# the 1M estimates against the real model's 100k figures; then the 1M import alone with
# the real model (an hour); the report is rewritten with it
bench-1m: setup
	$(PY) bench/vector_cache.py --n 1000800
	$(PY) bench/bench_scale.py --sizes 1000000 --cached-vectors --nlist-study
	$(PY) bench/bench_scale.py --sizes 100000 --cached-vectors --out-dir bench/results/cache-check
	$(PY) bench/bench_scale.py --sizes 1000000 --import-only --out-dir bench/results/real-model
	$(PY) bench/report_scale.py

# PostgreSQL next to SQLite in one run (issue 14): import rows/s, triage and search
# p50 / p95 at 100k documents, and API throughput with one and with two app servers
bench-pg: setup $(VENV)/.pgserver
	$(PY) bench/bench_pg.py

clean:
	rm -rf $(VENV) data
