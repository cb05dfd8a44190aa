# aaad: the two commands are `make run` (set up, start the demo) and `make test`.
# Both are idempotent. Everything runs as root on Debian 12 (apt-get for system packages).

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEMO_DIR ?= var/demo
DEMO_CONF := $(DEMO_DIR)/aaad.toml
AUTH_PORT ?= 1812
ACCT_PORT ?= 1813
WEB_PORT ?= 8080
# `make run` puts a small `aaad` here that runs this checkout's .venv/bin/aaad with the demo config.
BIN_DIR ?= /usr/local/bin
WRAPPER := $(BIN_DIR)/aaad
WRAPPER_MARK := written by make run in

# RUN_PKGS covers what the demo's printed examples use too (radtest/radclient, curl and jq: scripts/api_demo.sh).
# Pango, HarfBuzz-subset and a font: what WeasyPrint needs to render invoices as PDF.
RUN_PKGS := python3-venv python3-dev gcc pkg-config librrd-dev rrdtool rrdcached freeradius-utils curl jq \
    libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core fonts-dejavu
# chromium and chromium-driver: the browser tests (tests/browser; Selenium drives /usr/bin/chromium through
# /usr/bin/chromedriver, never a downloaded browser or driver).
TEST_PKGS := $(RUN_PKGS) postgresql poppler-utils zbar-tools freeradius chromium chromium-driver

.PHONY: pyc run stop test bench bench-compare radblast sys-run sys-test venv venv-test demo-config wrapper clean help

help:
	@echo "make run    install everything and start the demo daemon (SQLite, demo data)"
	@echo "make stop   stop the demo daemon"
	@echo "make test   install what the tests need, run ruff, mypy and the whole suite"
	@echo "make bench  run the benchmarks (see bench/README.md)"
	@echo "make bench-compare  aaad side by side with FreeRADIUS 3.2 (ARGS=\"--rounds 2 --duration 5\")"
	@echo "make radblast  build build/radblast, the C RADIUS load generator and null server (bench/radblast.c)"

# -- system packages (only what is missing; service start-up blocked while installing) --
define apt_install
	@missing=""; for p in $(1); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; rc=$$?; \
	  rm -f /usr/sbin/policy-rc.d; \
	  case " $$missing " in *" freeradius "*) systemctl disable freeradius >/dev/null 2>&1 || true;; esac; \
	  exit $$rc; \
	fi
endef

sys-run:
	$(call apt_install,$(RUN_PKGS))

sys-test:
	$(call apt_install,$(TEST_PKGS))

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip wheel

# setup.py builds the optional C extension aaad/radius/_speedups.c in place: a change to it reinstalls.
$(VENV)/.installed: $(VENV)/bin/activate setup.cfg pyproject.toml setup.py aaad/radius/_speedups.c
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[test]'
	touch $@

# Bytecode of this checkout's packages, written ahead (compileall writes it even under
# PYTHONDONTWRITEBYTECODE=1, and only for files that changed): every `aaad` command and every
# daemon the tests start would otherwise compile them again, about 0.4 s a process.
PKG_DIRS := aaad accounting enforcement billing web tests bench
pyc: $(VENV)/.installed
	@$(PY) -m compileall -q -j0 $(PKG_DIRS) > /dev/null

venv: sys-run $(VENV)/.installed pyc
venv-test: sys-test $(VENV)/.installed-test pyc

$(DEMO_CONF):
	mkdir -p $(DEMO_DIR)
	printf '%s\n' \
	  '# Demo configuration written by `make run`; see conf/aaad.example.toml for every key.' \
	  '[server]' 'data_dir = "$(abspath $(DEMO_DIR))/data"' 'ready_file = "$(abspath $(DEMO_DIR))/ready.json"' \
	  '[web]' 'address = "127.0.0.1"' 'port = $(WEB_PORT)' \
	  '[radius]' 'auth_port = $(AUTH_PORT)' \
	  '[accounting]' 'port = $(ACCT_PORT)' > $@

# $(WRAPPER): exec this checkout's aaad with AAAD_CONFIG defaulting to the demo config (-c still wins).
# Rewritten only when its content changes; someone else's `aaad` there is left alone.
wrapper: venv $(DEMO_CONF)
	@new='#!/bin/sh'$$'\n''# aaad $(WRAPPER_MARK) $(CURDIR): the demo config unless -c/--config or AAAD_CONFIG says otherwise.'$$'\n''AAAD_CONFIG="$${AAAD_CONFIG:-$(abspath $(DEMO_CONF))}" exec "$(abspath $(VENV))/bin/aaad" "$$@"'; \
	if [ -e $(WRAPPER) ] && ! grep -qs '$(WRAPPER_MARK)' $(WRAPPER); then \
	  echo "$(WRAPPER) exists and is not ours: left alone (use $(VENV)/bin/aaad -c $(DEMO_CONF))"; \
	elif [ "$$(cat $(WRAPPER) 2>/dev/null)" != "$$new" ]; then \
	  printf '%s\n' "$$new" > $(WRAPPER).tmp && chmod 755 $(WRAPPER).tmp && mv $(WRAPPER).tmp $(WRAPPER) && \
	  echo "installed $(WRAPPER) (runs $(abspath $(VENV))/bin/aaad with AAAD_CONFIG=$(abspath $(DEMO_CONF)))"; \
	fi

run: venv $(DEMO_CONF) wrapper
	@$(VENV)/bin/aaad -c $(DEMO_CONF) db upgrade
	@$(VENV)/bin/aaad -c $(DEMO_CONF) demo
	@bash scripts/start-demo.sh $(VENV)/bin/aaad $(DEMO_CONF) $(DEMO_DIR)

stop:
	@if [ -f $(DEMO_DIR)/aaad.pid ] && kill -0 $$(cat $(DEMO_DIR)/aaad.pid) 2>/dev/null; then \
	  kill $$(cat $(DEMO_DIR)/aaad.pid); echo "aaad stopped"; else echo "aaad is not running"; fi; \
	rm -f $(DEMO_DIR)/aaad.pid

# Lint and type-check first (configured in pyproject.toml), then the suite; any failure fails.
# The suite runs in TEST_JOBS pytest-xdist workers, each test file in one worker (its module fixtures
# shared); TEST_JOBS=0 runs it in this process.  Default: one worker per CPU, at least 2 (much of the
# suite waits on daemons, browsers and subprocesses).  Tests marked `alone` (a throughput compared with
# one measured in the same run) run after that, one at a time.
# pytest keeps its rewritten test modules as bytecode only where bytecode may be written: under
# PYTHONDONTWRITEBYTECODE=1 every worker rewrote all 500 test modules again (about 15 s of CPU each).
TEST_ENV := env -u PYTHONDONTWRITEBYTECODE
TEST_JOBS ?= $(shell n=$$(nproc); [ $$n -lt 2 ] && n=2; echo $$n)
test: venv-test
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(TEST_ENV) $(PY) -m pytest -n $(TEST_JOBS) --dist loadfile -m "not alone" --durations=15
	$(TEST_ENV) $(PY) -m pytest -m alone

# The C load generator (bench/radblast.c: libc only). bench/radblast.py's ensure_built() uses the same flags.
RADBLAST_CFLAGS := -std=c11 -O2 -Wall -Wextra
radblast: build/radblast

build/radblast: bench/radblast.c
	@mkdir -p build
	gcc $(RADBLAST_CFLAGS) -o $@ $<

bench: venv-test radblast
	$(PY) bench/bench_codec.py 3
	$(PY) bench/bench_mschap.py
	bash bench/run_auth_bench.sh
	$(PY) bench/bench_acct.py --logins 100000 --inflight 256
	$(PY) bench/bench_acct.py --only server --postgres --logins 100000 --inflight 256

# aaad and FreeRADIUS (installed from Debian by sys-test, its service not started) side by side in one
# run, pinned to one core each in turn; the table on stdout. Options: ARGS="--rounds 2 --duration 5 ...".
bench-compare: venv-test radblast
	$(PY) bench/bench_compare.py $(ARGS)

clean:
	@if grep -qs '$(WRAPPER_MARK) $(CURDIR):' $(WRAPPER); then rm -f $(WRAPPER); echo "removed $(WRAPPER)"; fi
	rm -rf $(VENV) var build *.egg-info aaad/radius/_speedups.*.so
