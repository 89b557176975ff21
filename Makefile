# The two commands (see README):  make run   — install, index corpus/, serve the chat
#                                 make test  — install, then run every test
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 8501
HOST   ?= 127.0.0.1

.PHONY: install run ingest test browser bench eval clean

install: $(VENV)/.installed

# torch==2.13.0 first: it resolves to the local CPU build. Left to sentence-transformers, an unpinned
# torch would pull several GB of CUDA packages.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

ingest: install
	$(BIN)/tutor ingest

run: ingest
	$(BIN)/tutor serve --host $(HOST) --port $(PORT)

# Debian's Chromium for the browser tests (Playwright cannot download its own browser here), and
# Debian's PostgreSQL server for the record tests that run against a real PostgreSQL on 127.0.0.1.
browser:
	@{ command -v chromium >/dev/null 2>&1 && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium chromium-driver postgresql >/dev/null; }

# Two workers (the CI machine has two cores); each test module stays on one worker, so a module's
# server or index is built once, and the slow modules are handed out first (tests/conftest.py).
# TEST_WORKERS=0 runs everything in this process.
TEST_WORKERS ?= 2
test: install browser
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder

# The quality gate on the seed gold set (also run by the tests, with the same thresholds).
eval: install
	$(BIN)/tutor eval run --dataset evals/datasets/seed-gold.jsonl --corpus corpus \
	  --min-faithfulness 0.85 --min-citation-recall 0.85 --min-citation-precision 0.85 --min-recall 0.8 \
	  --min-mrr 0.7 --min-context-precision 0.55 --min-mcq-accuracy 0.75 --min-refusal-accuracy 0.9 \
	  --min-answer-similarity 0.5

bench: install
	$(BIN)/python -m benchmarks

clean:
	rm -rf .data test-artifacts reports
