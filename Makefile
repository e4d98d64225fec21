# kazft — one command from a fresh clone to a tested install: `make test`.
# Checking (`make check`) is kept apart from fixing (`make fix`).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.kazft-installed
PIP := $(BIN)/python -m pip -q --disable-pip-version-check
RECIPE ?= legal
SRC := kazft tests benchmarks

.PHONY: help setup setup-test test check fix demo train doctor bench clean

help:
	@echo "make setup           create .venv with the pinned dependencies (idempotent)"
	@echo "make test            setup, then the test suite (the CI command)"
	@echo "make check           ruff, format check, mypy and the tests"
	@echo "make fix             apply ruff fixes and formatting"
	@echo "make demo            train recipes/demo.yaml on the embedded tiny model, then answer"
	@echo "make train RECIPE=legal   train recipes/\$$RECIPE.yaml"
	@echo "make bench [BENCH_ARGS=--quick|--long]   kazft vs mlx-lm speed and memory (benchmarks/)"
	@echo "make serve RECIPE=legal [ARGS=...]   the recipe's adapter behind an OpenAI API on 127.0.0.1:8080"

# Re-run only when the dependency list or the pins change.
$(STAMP): pyproject.toml requirements/constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "kazft needs Python >= 3.10; set PYTHON=python3.12 (for example)")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade "pip>=24"
	$(PIP) install -c requirements/constraints.txt -e ".[dev]"
	@touch $@

setup: $(STAMP)

# The test suite also needs the interop group (CPU torch + peft) for the PEFT
# export tests; users who only train and generate never install it.
INTEROP_STAMP := $(VENV)/.kazft-interop-installed
$(INTEROP_STAMP): $(STAMP)
	$(PIP) install -c requirements/constraints.txt -e ".[dev,interop]"
	@touch $@

setup-test: $(INTEROP_STAMP)

# OCR tests run Tesseract with its Kazakh and Russian data on pages rendered in
# DejaVu (tests/text/test_extract_ocr.py). Installed here when missing and
# running as root on Debian/Ubuntu (CI); with CI=true they fail, never skip.
OCR_PACKAGES := tesseract-ocr tesseract-ocr-kaz tesseract-ocr-rus fonts-dejavu-core
.PHONY: ocr-deps
ocr-deps:
	@langs="$$(tesseract --list-langs 2>&1 || true)"; \
	if ! { echo "$$langs" | grep -qx kaz && echo "$$langs" | grep -qx rus && \
	       test -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf; }; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(OCR_PACKAGES); \
	  elif command -v apt-get >/dev/null || ! command -v tesseract >/dev/null; then \
	    echo "OCR tests need Tesseract with kaz and rus data: kazft doctor prints the install line"; \
	  fi; \
	fi
test: ocr-deps
check: ocr-deps

test: setup-test
	$(BIN)/python -m pytest -q

# The web chat's browser tests drive Debian's chromium and chromium-driver
# (tests/serve/browser.py). Installed here when missing and running as root on
# Debian/Ubuntu (CI); with CI=true the tests fail, never skip, without them.
.PHONY: browser-deps
browser-deps:
	@if ! command -v chromedriver >/dev/null || ! { command -v chromium >/dev/null || command -v chromium-browser >/dev/null; }; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium chromium-driver fonts-dejavu-core; \
	  else \
	    echo "browser tests need chromium and chromium-driver: sudo apt-get install chromium chromium-driver"; \
	  fi; \
	fi
test: browser-deps
check: browser-deps

check: setup-test
	$(BIN)/ruff check $(SRC)
	$(BIN)/ruff format --check $(SRC)
	$(BIN)/mypy kazft
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

fix: setup
	$(BIN)/ruff check --fix $(SRC)
	$(BIN)/ruff format $(SRC)

doctor: setup
	$(BIN)/kazft doctor

# The main job: `make train RECIPE=legal` trains recipes/legal.yaml; pass more
# options in ARGS, e.g. ARGS="--resume latest" or ARGS="--set train.iters=2000".
ARGS ?=
train: setup
	$(BIN)/kazft train $(RECIPE) $(ARGS)

# Serve the recipe's newest adapter behind the OpenAI-compatible API (docs/serve.md);
# more adapters or a network address through ARGS, e.g.
# ARGS="--adapter labour=runs/labour --host 0.0.0.0 --api-key $$KEY".
.PHONY: serve
serve: setup
	$(BIN)/kazft serve --recipe $(RECIPE) $(ARGS)

# Train recipes/demo.yaml on the embedded tiny Gemma 3 (offline, about a minute),
# then answer a training question with the adapter just written.
DEMO_QUESTION ?= Талап қоюдың жалпы ескіру мерзімі қанша?
demo: setup
	HF_HUB_OFFLINE=1 $(BIN)/kazft train recipes/demo.yaml --overwrite
	HF_HUB_OFFLINE=1 $(BIN)/kazft generate --recipe recipes/demo.yaml --max-tokens 80 "$(DEMO_QUESTION)"

# kazft against mlx-lm (speed and memory), side by side: benchmarks/README.md.
# `make bench BENCH_ARGS=--quick` (or `make bench-quick`): tiny and mid-size models only.
# `make bench BENCH_ARGS=--long` (CPU machines): the 4B shapes at 512 and 2048 tokens.
BENCH_ARGS ?=
.PHONY: bench bench-quick
bench: setup
	HF_HUB_OFFLINE=1 $(BIN)/python -m benchmarks.run $(BENCH_ARGS)
	HF_HUB_OFFLINE=1 $(BIN)/python -m benchmarks.cases.distributed
bench-quick: setup
	HF_HUB_OFFLINE=1 $(BIN)/python -m benchmarks.run --quick $(BENCH_ARGS)
# Data-parallel training, 1 and 2 local ranks, kazft and mlx_lm.lora (docs/distributed.md).
.PHONY: bench-distributed
bench-distributed: setup
	HF_HUB_OFFLINE=1 $(BIN)/python -m benchmarks.cases.distributed $(DIST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
