# airlock: the two commands a person needs are `make run` and `make test`.
# Both install what is missing (scripts/setup.sh), then build with CMake.
#   make run    build (release) and start the demo plant + gateway on http://127.0.0.1:8080
#   make test   build the release (gcc, so `make run` is known to build) and the
#               ASan+UBSan build (clang, with fuzz targets), then run every test
#   make bench  build (release) and run the benchmarks; results in bench/results/
#   make fuzz   run each fuzz target for FUZZ_SECONDS (default 300)
#   make clean  remove build trees
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 300
BUILD := build
TEST_BUILD := build-test

.PHONY: all setup build build-test run test bench fuzz clean format

all: build

setup:
	@scripts/setup.sh

build: setup
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

build-test: setup
	@CC=clang cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DAIRLOCK_SANITIZE=ON -DAIRLOCK_FUZZ=ON >/dev/null
	@cmake --build $(TEST_BUILD) -j $(JOBS)

run: build
	@./$(BUILD)/airlock run $(ARGS)

test: build build-test
	@cd $(TEST_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -j 2 $(CTEST_ARGS)

bench: build
	@bench/run.sh $(BUILD)

fuzz: build-test
	@for f in $(TEST_BUILD)/fuzz_*; do \
		echo "fuzzing $$f for $(FUZZ_SECONDS) s"; \
		$$f -max_total_time=$(FUZZ_SECONDS) tests/fuzz/corpus/$$(basename $$f) || exit 1; \
	done

format:
	@clang-format -i $$(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c' 'tests/*.h' 'bench/*.c')

clean:
	rm -rf $(BUILD) $(TEST_BUILD)
