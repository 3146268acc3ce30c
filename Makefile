# Set-up and checks. `make demo` and `make test` are the README's Quick start; .ci/run calls `make lint` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
# Model hubs are unreachable here: fail fast instead of waiting on them.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
# pip's cache would keep a second copy of torch's CUDA build (several GB); CI once ran out of disk there.
export PIP_NO_CACHE_DIR := 1

.PHONY: install demo test lint

# torch first, pinned: on our machines pip takes this pair from local disk (a plain `torch`
# would pull several GB, and torch 2.13's CPU wheel breaks PyPI's torchvision).
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(VENV)/bin/pip install --quiet -e ".[offline,dev,onnx]"
	touch $@

install: $(VENV)/.installed

# The main job, offline (about 3.5 min on 2 CPU cores once installed): 250 BBC News articles, the
# bundled example → `advisor auto` (3-minute budget: rule plan, search, ensemble, model, report)
# → `advisor predict` on about 50 other articles the search never saw. DEMO_DIR holds it all.
DEMO_DIR ?= demo
demo: install
	rm -rf $(DEMO_DIR)
	$(VENV)/bin/advisor example bbc $(DEMO_DIR)/data --limit 250 --holdout 50
	$(VENV)/bin/advisor auto $(DEMO_DIR)/data/bbc.csv --out $(DEMO_DIR)/run --budget-minutes 3 --seed 0
	$(VENV)/bin/advisor predict $(DEMO_DIR)/run/model $(DEMO_DIR)/data/heldout.csv

# The whole suite, PostgreSQL and the browser included: .ci/chromium.sh installs Debian's Chromium
# for the report.html test when it is missing, and .ci/with-postgres.sh starts a throwaway server on loopback
# (unless ADVISOR_TEST_POSTGRES_URL is already set) and stops it afterwards, also on failure.
# PYTEST_ARGS narrows the run, e.g. make test PYTEST_ARGS=tests/advisor/auto.
test: install
	bash .ci/chromium.sh
	bash .ci/with-postgres.sh $(PY) -m pytest -q $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
