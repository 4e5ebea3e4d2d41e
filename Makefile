# The two set-up commands of the README: `make run` and `make test`.
# Both create .venv and install what they need on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
MODELS := $(VENV)/.installed-diffusion

.PHONY: run test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

# The tests also run the in-process diffusion renderer. torch is pinned to the CPU build
# this machine has: an unpinned torch would pull gigabytes of GPU packages.
$(MODELS): $(STAMP)
	$(BIN)/pip install -q -e '.[test,diffusion]' torch==2.13.0
	touch $(MODELS)

run: $(STAMP)
	$(BIN)/fallthrough serve

# Debian packages the tests start: headless Chromium for the dashboard, Redis for the fleet,
# rclone and s3cmd as stock clients of the S3 API.
DEBIAN := $(VENV)/.installed-debian
$(DEBIAN): $(STAMP)
	{ command -v chromium && command -v redis-server && command -v rclone && command -v s3cmd; } >/dev/null || \
	  { apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium redis-server rclone s3cmd; }
	touch $(DEBIAN)

test: $(MODELS) $(DEBIAN)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/edge.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/read.py
	$(BIN)/python bench/dedup.py
	$(BIN)/python bench/images.py
	$(BIN)/python bench/avatars.py
	$(BIN)/python bench/fleet.py
	$(BIN)/python bench/fleet_soak.py

clean:
	rm -rf $(VENV) .demo-store .bench
