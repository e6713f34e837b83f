# Two commands on a fresh machine:  make demo   (install gpuslice + helm, plan the bundled example)
#                                    make test   (install everything the tests need + lint + type-check + tests)
VENV       ?= .venv
PY         := $(VENV)/bin/python
DEMO_STAMP := $(VENV)/.installed-demo
STAMP      := $(VENV)/.installed

.PHONY: setup setup-demo demo test lint pytest clean

setup: $(STAMP)
setup-demo: $(DEMO_STAMP)

# The demo needs gpuslice and helm only (no CDK, Node or cfn-lint).
$(DEMO_STAMP): pyproject.toml scripts/setup.sh
	bash scripts/setup.sh --demo $(VENV)
	touch $@

$(STAMP): pyproject.toml scripts/setup.sh
	bash scripts/setup.sh $(VENV)
	touch $@ $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	$(VENV)/bin/gpuslice plan examples/eks-ubuntu.yaml -d gpuslice-out

lint: setup
	$(VENV)/bin/ruff check src tests $(wildcard benchmarks examples scripts)
	$(VENV)/bin/ruff format --check src tests $(wildcard benchmarks examples scripts)
	$(VENV)/bin/mypy

pytest: setup
	$(PY) -m pytest

test: lint pytest

clean:
	rm -rf $(VENV) gpuslice-out .pytest_cache .mypy_cache .ruff_cache
