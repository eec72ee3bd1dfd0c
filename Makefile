# Thin wrapper over CMake.  `make demo` and `make test` install what they
# need (Debian packages) and build into build/ (and build-asan/ for the
# sanitizer run).
BUILD     ?= build
ASAN      ?= build-asan
FUZZ      ?= build-fuzz
JOBS      ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=

.PHONY: all deps test-deps bench-deps build build-asan build-fuzz demo test unit \
        blackbox asan fuzz bench mutate deploy-test clean \
        layers

all: build

deps:
	@deploy/install-deps.sh

test-deps:
	@deploy/install-deps.sh --test

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

build-asan: deps
	@cmake -S . -B $(ASAN) -DCMAKE_BUILD_TYPE=Debug -DKBS_SANITIZE=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(ASAN) -j$(JOBS)

build-fuzz: test-deps
	@CC=clang cmake -S . -B $(FUZZ) -DCMAKE_BUILD_TYPE=Debug -DKBS_FUZZ=ON -DKBS_SANITIZE=ON >/dev/null
	@cmake --build $(FUZZ) -j$(JOBS)

# The main job: issuer and broker on loopback, a guest through
# attest -> token -> resource.
demo: build
	@deploy/local/demo.sh $(BUILD)

# Every test: unit + black-box on the normal build, the same under
# ASan+UBSan, a short fuzz run of every parser, and the deploy stage.
test: test-deps build build-asan build-fuzz
	@tests/run.sh $(BUILD) $(ASAN) $(FUZZ)

unit: build
	@tests/run.sh --only unit $(BUILD)

blackbox: build
	@tests/run.sh --only blackbox $(BUILD)

# Only the deploy stage: other build types, install, Kubernetes overlays,
# container image, compose (tests/deploy/run.sh).
deploy-test: test-deps build
	@tests/run.sh --only deploy $(BUILD)

# Exploratory fuzzing: every driver for a minute with a fresh seed.
fuzz: build-fuzz
	@KBS_FUZZ_SECONDS=$${KBS_FUZZ_SECONDS:-60} KBS_FUZZ_SEED= \
		tests/run.sh --only fuzz $(FUZZ)

# The folder layers (tests/tools/layering.py: no include or CMake link up a
# layer, broker/ not on issuer/), then the file graph of each folder and its
# loops (tests/tools/depgraph.py); fails when files depend on each other,
# directly or round a loop.
layers:
	@/usr/bin/python3 tests/tools/layering.py
	@for d in broker issuer client common; do \
		out=$$(/usr/bin/python3 tests/tools/depgraph.py --dir $$d --check) \
			|| { echo "$$out"; exit 1; }; \
		echo "$$out" | sed -n "s|^loops:|$$d: loops:|p"; \
	done

bench: bench-deps build
	@tests/bench/run.sh $(BUILD)

bench-deps:
	@deploy/install-deps.sh --bench

# Mutation testing (docs/testing.md): weaken each security check listed in
# tests/mutation/mutations.ini in turn and require a test to fail.  Takes
# most of an hour; never part of `make test`.  MUTATE_ONLY="name ..." runs
# only those entries; the scratch copy and its builds live in build-mutate/.
mutate: test-deps
	@tests/mutation/run.py $(MUTATE_ONLY)

clean:
	rm -rf $(BUILD) $(ASAN) $(FUZZ) build-mutate build-variants demo-state
