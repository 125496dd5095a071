# Shoal: thin wrapper over CMake.  `make run` and `make test` are the two
# commands a new developer needs; both install missing Debian packages first.
JOBS      ?= $(shell nproc 2>/dev/null || echo 2)
# `make build SANITIZE=1` (or run/bench/chaos) builds with clang + ASan/UBSan
# into build-asan; `make test` always runs both builds.
ifeq ($(SANITIZE),1)
BUILD     ?= build-asan
BUILD_FLAGS = -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang -DSANITIZE=ON
else
BUILD     ?= build
BUILD_FLAGS = -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=gcc
endif
ASAN      ?= build-asan
FUZZDIR   ?= build-fuzz
FUZZ_SECS ?= 20
CTEST_ARGS ?= --output-on-failure

.PHONY: all deps build run test test-fast test-asan fuzz fuzz-short bench chaos clean

all: build

deps:
	@bash scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) $(BUILD_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	@bash scripts/run-cluster.sh $(BUILD)

# Every suite under gcc, then again under clang with ASan+UBSan, then a short
# fuzz run of every decoder.
test: build
	cd $(BUILD) && ctest $(CTEST_ARGS) -j 2
	$(MAKE) test-asan
	$(MAKE) fuzz-short

test-fast: build
	cd $(BUILD) && ctest $(CTEST_ARGS) -j 2 -LE slow

test-asan: deps
	@cmake -S . -B $(ASAN) -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang -DSANITIZE=ON >/dev/null
	@cmake --build $(ASAN) -j $(JOBS)
	cd $(ASAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 SHOAL_SANITIZED=1 ctest $(CTEST_ARGS) -j 2

fuzz-build: deps
	@cmake -S . -B $(FUZZDIR) -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang -DFUZZ=ON >/dev/null
	@cmake --build $(FUZZDIR) -j $(JOBS) --target fuzzers

fuzz-short: fuzz-build
	bash scripts/fuzz.sh $(FUZZDIR) $(FUZZ_SECS)

fuzz: fuzz-build
	bash scripts/fuzz.sh $(FUZZDIR) 600

bench: build
	bash bench/run.sh $(BUILD)

chaos: build
	bash chaos/run.sh $(BUILD) long

clean:
	rm -rf $(BUILD) $(ASAN) $(FUZZDIR)
