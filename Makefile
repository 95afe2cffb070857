# staffplan: `make demo` runs the full-city HCMC scenario end to end; `make test` runs the tests.
# Both set everything up first (system packages, .venv, the package and its tools).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_OUT ?= demo-out
export STAFFPLAN_STORE ?= $(abspath $(DEMO_OUT))/staffplan.db
CITY := scenarios/hcmc-2025/generated

.PHONY: setup system demo test lint bench fuzz clean

setup: system $(STAMP)

system:
	bash scripts/install-system-deps.sh

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(CITY)/staff.csv: $(STAMP)
	$(BIN)/staffplan synth --out $(CITY) --seed 0 --format both

demo: setup $(CITY)/staff.csv
	bash scripts/demo.sh

test: setup
	bash scripts/test.sh

lint: setup
	$(BIN)/ruff check optimizer tests benchmarks
	$(BIN)/mypy optimizer

bench: setup $(CITY)/staff.csv
	$(BIN)/python benchmarks/bench_solve.py

# The long fuzz run of the CLI (issue 17): FUZZ_CASES random cases on FUZZ_JOBS processes.
FUZZ_CASES ?= 10000
FUZZ_JOBS ?= 2
fuzz: setup
	$(BIN)/python benchmarks/fuzz.py --cases $(FUZZ_CASES) --jobs $(FUZZ_JOBS)

clean:
	rm -rf $(DEMO_OUT) $(CITY)
