# SID Lens: `make app` (set up, prepare the embedded default, start the app) and `make test`.
# Both are idempotent: the virtual environment is rebuilt only when a requirements file changes,
# and pipeline steps reuse what they already built.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8501

.PHONY: setup app test test-fast test-isa pipeline browser clean-venv

$(STAMP): requirements.txt requirements-nodeps.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements.txt
	$(VENV)/bin/pip install -q --disable-pip-version-check --no-deps -r requirements-nodeps.txt
	touch $@

setup: $(STAMP)

# Debian's chromium for the browser tests (Playwright drives it; no browser download), then a
# headless smoke run so a broken install fails here rather than in the middle of the tests.
browser:
	@command -v chromium >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }
	@chromium --headless --no-sandbox --disable-gpu --no-first-run --dump-dom about:blank 2>/dev/null \
	  | grep -q "<body>" || { echo "chromium is installed but cannot render a page headless" >&2; exit 1; }

pipeline: setup
	$(PY) -m core data prepare --dataset ml-100k
	$(PY) -m core sids build --dataset ml-100k --if-missing
	$(PY) -m core data stats --dataset ml-100k --json
	$(PY) -m core sids stats --dataset ml-100k --json

app: pipeline
	$(PY) -m streamlit run app/main.py --server.address 127.0.0.1 --server.port $(PORT) --server.headless true

test: setup browser
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

# The edit-test loop: lint, then every test that neither trains a model, loads the real LM, builds
# the real SIDs nor drives the browser (markers set in tests/conftest.py), on two pytest-xdist workers.
test-fast: setup
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -m "not slow and not browser" -n 2 --dist loadfile --durations=5

# The tests that train or decode with a model, on the oldest kernels torch and oneDNN have (SSE4):
# a test whose assertion depends on the CPU's instruction set (AVX2, AVX-512, AMX; fp32 or bf16)
# fails here on any machine, before it lands.
ISA_ENV := ATEN_CPU_CAPABILITY=default MKL_ENABLE_INSTRUCTIONS=SSE4_2 ONEDNN_MAX_CPU_ISA=SSE41
test-isa: setup
	$(ISA_ENV) $(PY) -m pytest -q tests/train tests/decode tests/eval tests/llm

clean-venv:
	rm -rf $(VENV)
