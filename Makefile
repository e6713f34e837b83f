# Two commands on a fresh machine:  make demo   (install + plan the bundled example)
#                                    make test   (install + lint + type-check + all tests)
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup demo test lint pytest clean

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup.sh
	bash scripts/setup.sh $(VENV)
	touch $@

demo: setup
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
