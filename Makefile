# Thin driver over CMake. `make demo` and `make test` work on a fresh
# Debian 12 machine: both install missing dependencies first.
BUILD      ?= build
ASAN_BUILD ?= build/asan
JOBS       ?= $(shell nproc)

.PHONY: all deps build test test-unit asan bench demo format clean

all: build

deps:
	@./deploy/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# Every test in the optimised build, then the unit tests again under
# AddressSanitizer and UndefinedBehaviorSanitizer.
test: build asan
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS) -L unit

asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DMTR_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

bench: deps
	@cmake -S . -B $(BUILD)/bench -DCMAKE_BUILD_TYPE=Release -DMTR_NATIVE=ON >/dev/null
	@cmake --build $(BUILD)/bench -j $(JOBS) --target meterbench
	$(BUILD)/bench/meterbench all

# The whole job end to end on embedded defaults (Kafka mock cluster, local
# Metering emulator, generated workload): see `build/meterd demo --help`.
demo: build
	$(BUILD)/meterd demo

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD)
