# hwsim developer commands. `make test` and `make demo` work on a fresh clone:
# they create .venv (unless a virtual environment is already active).
VENV   ?= $(if $(VIRTUAL_ENV),$(VIRTUAL_ENV),.venv)
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.hwsim-installed
SIM    ?= icarus
# pytest workers: 2 cores on the reference machine
JOBS   ?= 2

.PHONY: venv test fuzz demo sim bench lint clean mutate

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	@echo "Installing hwsim and its dependencies into $(VENV) (about 2 minutes on a fresh clone)"
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[dev]'
	@touch $@

test: $(STAMP)
	$(PY) -m pytest -n $(JOBS) tests

# The fuzz suite (tests/fuzz) with thousands of generated malformed inputs; `make test` runs a few of each.
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(PY) -m pytest -n $(JOBS) tests/fuzz

demo: $(STAMP)
	$(VENV)/bin/hwsim run

# Chip area from the RTL by Yosys synthesis (docs/area.md): default chip, table and area.png in area-out/.
# Needs yosys (apt-get install yosys; .ci/run installs it). Another chip: make area AREA_ARGS="--chip small".
AREA_ARGS ?=
.PHONY: area
area: $(STAMP)
	$(VENV)/bin/hwsim area $(AREA_ARGS)

sim: $(STAMP)
	SIM=$(SIM) $(PY) -m pytest -n $(JOBS) tests/rtl -m rtl

bench: $(STAMP)
	$(PY) benchmarks/bench_engine.py
	$(PY) benchmarks/bench_conv.py
	$(PY) benchmarks/bench_noc.py
	$(PY) benchmarks/peers.py
	$(PY) benchmarks/bench_cli.py
	$(PY) benchmarks/bench_cosim.py
	$(PY) benchmarks/bench_memory.py

# Mutation testing of rtl/ (docs/rtl.md, "Mutation testing"): a seeded sample of 60 mutants on Icarus,
# one at a time at low priority; report in mutation-out/. More: make mutate MUTATE_ARGS="--all" (or --help).
MUTATE_ARGS ?=
mutate: $(STAMP)
	nice -n 10 $(PY) -m tests.rtl.mutation $(MUTATE_ARGS)

# Python: ruff (rules in pyproject.toml). Verilog: iverilog -Wall and verilator --lint-only -Wall
# on every module and top level (tests/rtl/test_lint.py, which also runs in `make test`).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -n $(JOBS) tests/rtl/test_lint.py

clean:
	rm -rf sim_build .pytest_cache build *.egg-info
