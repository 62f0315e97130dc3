# Entry points for a fresh Debian 12 machine with the Swift toolchain, run as root:
#   make test   installs what is missing, builds, and runs every test stage
#   make demo   installs, builds, and runs what exists of the system for real
#   make bench  runs the benchmarks and prints their tables
SHELL := /bin/bash

# Swift's Hasher is seeded per process; tests run with a fixed seed too, so that an order that leaks from a
# Dictionary or Set shows up the same way on every run (docs/architecture.md, "Determinism").
export SWIFT_DETERMINISTIC_HASHING := 1
# Tests that need root run, and fail rather than skip when they cannot (see FirezoneTesting.PrivilegedTests).
export FIREZONE_REQUIRE_PRIVILEGED_TESTS := 1

.PHONY: all deps build test nightly bench demo fuzz lint clean

all: build

deps:
	tests/install-deps.sh

build: deps
	swift build --build-tests

test: deps
	tests/run-all.sh

lint:
	tests/lint/run.sh

# snownet's simulation scenarios over 1,000 seeds each and 5,000 property-based sequences, where make test plays
# 100 of each, and connlib's tunnel against its reference model over 10,000 sequences, where make test plays 1,000
# (a nightly-style run). SIMULATION_SEED replays one seed.
nightly: deps
	SNOWNET_SCENARIO_SEEDS=$${SNOWNET_SCENARIO_SEEDS:-1000} SNOWNET_PROPERTY_SEQUENCES=$${SNOWNET_PROPERTY_SEQUENCES:-5000} \
		swift test --filter 'PathScenarioTests|TimingScenarioTests|LifecycleScenarioTests|PropertyScenarioTests'
	CONNLIB_MODEL_SEQUENCES=$${CONNLIB_MODEL_SEQUENCES:-10000} swift test --filter TunnelModelPropertyTests

bench: deps
	tests/benchmarks/run.sh

# FUZZ_TARGET=ip-packet FUZZ_SECONDS=60 make fuzz
fuzz: deps
	tests/fuzz/run.sh $${FUZZ_TARGET:-ip-packet} $${FUZZ_SECONDS:-60}

demo: deps
	tests/demo.sh

clean:
	rm -rf .build tests/benchmarks/.build tests/fuzz/.build
