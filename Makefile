# Set-up and checks. `make demo` and `make test` are the README's Quick start; .ci/run calls them.
VENV ?= .venv
PY := $(VENV)/bin/python
# Model hubs are unreachable here: fail fast instead of waiting on them.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install demo test lint

# torch first, pinned: on our machines pip takes this pair from local disk (a plain `torch`
# would pull several GB, and torch 2.13's CPU wheel breaks PyPI's torchvision).
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(VENV)/bin/pip install --quiet -e ".[zoo,dev,onnx]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/advisor recommend --modality image --examples 1200 --classes 4 --similarity similar

# The whole suite, PostgreSQL included: .ci/with-postgres.sh starts a throwaway server on loopback
# (unless ADVISOR_TEST_POSTGRES_URL is already set) and stops it afterwards, also on failure.
# PYTEST_ARGS narrows the run, e.g. make test PYTEST_ARGS=tests/advisor/auto.
test: install
	bash .ci/with-postgres.sh $(PY) -m pytest -q $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
