# The two set-up commands of a fresh machine: `make demo` (the main job on SQLite) and
# `make test` (the whole test suite). Both create .venv and install the project into it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test lint bench schemas clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Headless Chromium renders the nightly report page in tests/test_report_page.py, with a CJK
# font for its Chinese labels: Debian's packages when we are root with apt-get (the lists
# fetched only if they lack them), else a note.
BROWSER_PACKAGES := chromium fonts-wqy-microhei
install: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	@if [ -x /usr/bin/chromium ] && [ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium (Debian) for the report-page test"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(BROWSER_PACKAGES) >/dev/null 2>&1 \
		|| { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(BROWSER_PACKAGES) >/dev/null; } \
		|| echo "note: apt-get could not install chromium; tests/test_report_page.py skips its browser test (fails it under CI)"; \
	else \
		echo "note: no chromium, and not root with apt-get; tests/test_report_page.py skips its browser test (fails it under CI)"; \
	fi

# SCALE=1 is the full province (42 regions, 18,000 units, 628,000 projects, ≈ 680,000 payments).
SCALE ?= 1
demo: install
	$(BIN)/python -m ledger.demo --scale $(SCALE)

test: install
	$(BIN)/ruff check ledger tests benchmarks
	$(BIN)/ruff format --check ledger tests benchmarks
	$(BIN)/mypy ledger
	$(BIN)/pytest -n 2 -q tests

bench: install
	$(BIN)/pytest benchmarks --benchmark-only -q

clean:
	rm -rf build $(VENV) ledger/_native/*.c ledger/_native/*.so
