# vodflow: two commands for a fresh machine.
#   make demo   install everything, start the local stack, run the demo round trip
#   make test   install everything, start the stack, run the tests, stop what it started
SHELL := /bin/bash
PY_SYS ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
VODFLOW := $(VENV)/bin/vodflow
# PROFILE=cluster: the scale-out rehearsal (vodflow/stack/cluster.env) in its own home, beside the default stack
PROFILE ?= embedded
ifeq ($(PROFILE),cluster)
export VODFLOW_PROFILE := cluster
export VODFLOW_HOME := $(CURDIR)/.vodflow-cluster
else ifneq ($(PROFILE),embedded)
$(error PROFILE=$(PROFILE): choose embedded (default) or cluster)
endif
export VODFLOW_HOME ?= $(CURDIR)/.vodflow
JARS   := $(VODFLOW_HOME)/jars
PYTEST_ARGS ?=

.PHONY: help demo test install system-deps jars jars-s3a seaweedfs web cli-link up down status clean

help:
	@echo "make demo    - install, start the local stack and run the demo"
	@echo "make test    - install, start the stack, run the test suite, stop the stack"
	@echo "make up|down|status - manage the local stack"
	@echo "PROFILE=cluster (e.g. make demo PROFILE=cluster) - the same on the cluster profile (README)"

# ---------------------------------------------------------------- install
system-deps:
	@bash scripts/system-deps.sh

$(VENV)/.installed: setup.cfg constraints.txt pyproject.toml
	@test -x $(PY) || $(PY_SYS) -m venv $(VENV)
	$(PIP) install -q --upgrade pip wheel "setuptools>=68"
	$(PIP) install -q -c constraints.txt -e ".[test]"
	@touch $@

# the cluster profile also needs the lake's pieces: the S3A jars with vodflow's LogStore and SeaweedFS's weed
install: system-deps $(VENV)/.installed jars web cli-link $(if $(filter cluster,$(PROFILE)),jars-s3a seaweedfs)

# `vodflow` on PATH (a link to .venv/bin/vodflow) so the README's commands run as written; see the script.
cli-link: $(VENV)/.installed
	@bash scripts/link-cli.sh

$(JARS)/.done-%: maven/%/pom.xml
	@mkdir -p $(JARS)/$*
	cd maven/$* && mvn -q -B dependency:copy-dependencies -Djars.dir=$(JARS)/$*
	@touch $@

# maven/s3a: Hadoop S3A and vodflow's conditional-put Delta LogStore for an s3a:// lake (the cluster profile's,
# bench/delta_s3_writers.py; docs/reliability.md). It compiles a class of its own: package, not only copy.
jars-s3a: $(JARS)/.done-s3a
$(JARS)/.done-s3a: maven/s3a/pom.xml $(wildcard maven/s3a/src/main/java/io/vodflow/storage/*.java)
	@mkdir -p $(JARS)/s3a
	cd maven/s3a && mvn -q -B package -Djars.dir=$(JARS)/s3a
	@touch $@

# SeaweedFS's `weed` (Apache-2.0, from the Go module proxy, pinned): an S3 server whose put-if-absent
# (If-None-Match: *) is atomic - racing conditional puts of one key are serialised on a per-object lock - which
# S3Proxy 3.0.0 and moto are not (docs/reliability.md). The cluster profile's lake store (`lake-s3`: the s3a lake
# with S3ConditionalLogStore); a Go build of ~1,700 packages (`make install PROFILE=cluster`, not `make test`).
# Built from go/seaweedfs/ (go.mod + go.sum pin every module): `go install weed@version` refuses seaweedfs's
# go.mod (it has replace directives).
WEED := $(VODFLOW_HOME)/bin/weed
seaweedfs: $(WEED)
$(WEED): go/seaweedfs/go.mod go/seaweedfs/go.sum
	@command -v go >/dev/null || { echo "error: go not found: install Go 1.26.6 or newer (Debian's golang-go is older), then rerun make seaweedfs" >&2; exit 1; }
	@mkdir -p $(dir $(WEED))
	cd go/seaweedfs && go build -p 1 -ldflags="-s -w" -o $(WEED) github.com/seaweedfs/seaweedfs/weed

jars: $(JARS)/.done-kafka $(JARS)/.done-s3proxy $(JARS)/.done-spark

# The web player (web/: shaka-player, hls.js, esbuild from npm) bundled into vodflow/web/static/,
# which the API serves; rebuilt only when web/'s sources or lock file change. Not committed.
WEB_OUT := vodflow/web/static/build-info.json
WEB_SRC := web/package.json web/package-lock.json web/build.mjs $(wildcard web/src/*)

web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	@command -v npm >/dev/null || { echo "error: npm not found: install Node.js 18+ and npm (Debian: apt-get install nodejs npm), then rerun make web" >&2; exit 1; }
	cd web && npm ci --no-audit --no-fund

$(WEB_OUT): web/node_modules/.package-lock.json $(WEB_SRC)
	cd web && npm run build

web: $(WEB_OUT)

# ---------------------------------------------------------------- stack
up: install
	$(VODFLOW) up

down:
	@test -x $(VODFLOW) && $(VODFLOW) down || true

status:
	$(VODFLOW) status

demo: install
	$(VODFLOW) up
	$(VODFLOW) demo
	@echo
	@echo "The stack keeps running: open the UIs above; stop it with 'make down'."

# `make test` starts the stack only if it was not already running, and stops only what it started.
test: install
	@was_up=0; $(VODFLOW) status >/dev/null 2>&1 && was_up=1; \
	$(VODFLOW) up || exit 1; \
	$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$was_up = 0 ]; then $(VODFLOW) down; fi; \
	exit $$rc

clean: down
	rm -rf $(VODFLOW_HOME) $(VENV) maven/*/target
