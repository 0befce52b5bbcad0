# BrokerCare — the two commands a new machine needs are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_CUSTOMERS ?= 20000
DEMO_SEED ?= 42
DEMO_PORT ?= 8000
# The demo keeps the service desk open whenever it is tried (0: its real hours, trading days 08:30-20:00).
DESK_ALWAYS_OPEN ?= 1
DATA_DIR ?= ./data

.PHONY: demo test bench lint install serve db clean-demo browser-deps encoder encoder-corpora
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(STAMP): pyproject.toml
	@echo "Installing BrokerCare and its dependencies into $(VENV) (first time: about 2 minutes)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Run the platform with a realistic demo brokerage on SQLite: http://127.0.0.1:8000
demo: $(STAMP)
	@echo "Bringing the database in $(DATA_DIR) up to date"
	BROKERCARE_DATA_DIR=$(DATA_DIR) $(BIN)/brokercare db upgrade
	@if [ ! -f $(DATA_DIR)/.demo-generated ]; then \
	  BROKERCARE_DATA_DIR=$(DATA_DIR) $(BIN)/brokercare generate --customers $(DEMO_CUSTOMERS) --seed $(DEMO_SEED) && \
	  touch $(DATA_DIR)/.demo-generated; \
	else echo "Demo brokerage already in $(DATA_DIR) (delete $(DATA_DIR) to start over)"; fi
	BROKERCARE_DATA_DIR=$(DATA_DIR) BROKERCARE_DESK_ALWAYS_OPEN=$(DESK_ALWAYS_OPEN) $(BIN)/brokercare serve --host 127.0.0.1 --port $(DEMO_PORT)

## Browser tests drive Debian's Chromium (Playwright cannot download its own here) and need a
## CJK font, or every Chinese character renders as a box.
browser-deps:
	@if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qiE 'wqy|Noto Sans CJK'; then \
	  echo "Installing Debian's chromium and fonts-wqy-microhei for the browser tests"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q chromium fonts-wqy-microhei; \
	fi

## Run the whole test suite (SQLite and PostgreSQL paths, Redis, browser)
test: $(STAMP) browser-deps
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n 2 --dist loadfile -q

## Run every benchmark in bench/ and print its figures and ratios
bench: $(STAMP)
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

## The assistant's sentence encoder. Corpora: ATEC and LCQMC from ../shared/data/nlp_pairs, the rest
## extracted from pinned public repository snapshots (training/encoder/README.md). Training is
## seeded, one thread, niced (the machine is shared), and writes src/brokercare/assistant/data/encoder/.
encoder-corpora: $(STAMP)
	PYTHONPATH=. $(BIN)/python -m training.encoder.corpora

encoder: $(STAMP) encoder-corpora
	$(BIN)/python -c "import torch, onnx" 2>/dev/null || $(BIN)/python -m pip install --quiet -e '.[train]'
	PYTHONPATH=. nice -n 10 $(BIN)/python -m training.encoder.train
	mkdir -p bench/out && $(BIN)/python bench/bench_encoder.py --json bench/out/encoder.json
