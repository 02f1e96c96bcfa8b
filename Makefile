# The two commands of the README: `make demo` and `make test`. Both install
# what is missing (Debian packages), build, and run.
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= 2
WERROR := $(if $(MOELAB_WERROR),ON,OFF)
MOELAB := $(BUILD)/moelab
DEMO_DIR ?= $(if $(XDG_CACHE_HOME),$(XDG_CACHE_HOME),$(HOME)/.cache)/moelab

.PHONY: all deps configure build build-cli demo test test-asan js-deps clean format

all: build

deps:
	@scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD) -DMOELAB_WERROR=$(WERROR) >/dev/null

# Everything: the moelab binary, the tests and the microbenchmarks.
build: configure
	@cmake --build $(BUILD) -j$(JOBS)

# Only the moelab binary (what the demo needs).
build-cli: configure
	@cmake --build $(BUILD) -j$(JOBS) --target moelab

# JavaScript references (tokenizer, chat templates, OpenAI client) for tests.
js-deps: deps
	@cd tests/js && (npm ci --no-audit --no-fund --loglevel=error || npm install --no-audit --no-fund --loglevel=error)

test: build js-deps
	@ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS) --timeout 1500
	@$(MAKE) --no-print-directory test-asan

# The file-format and bad-input tests again under AddressSanitizer and UBSan.
test-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DMOELAB_SANITIZE=ON \
	  -DMOELAB_BENCHMARKS=OFF -DMOELAB_WERROR=$(WERROR) >/dev/null
	@cmake --build $(ASAN_BUILD) -j$(JOBS) --target test_formats test_tokenizer test_template
	@for t in test_formats test_tokenizer test_template; do \
	  if [ -x $(ASAN_BUILD)/tests/$$t ]; then $(ASAN_BUILD)/tests/$$t --gtest_brief=1 || exit 1; fi; done

# The main job on the built-in pair: the DeepSeek-V3-style MoE (r1-demo) and
# the dense model (v3-demo), made on first use under ~/.cache/moelab: the
# side-by-side comparison and its report, then a taste of generation from the
# MoE with its expert statistics.
demo: build-cli
	@$(MOELAB) compare --out $(BUILD)/demo-report --gen 256 --concurrency 1,4,16
	@$(MOELAB) run $(DEMO_DIR)/r1-demo-f32.gguf -p "The quick brown fox" -n 32 --temp 0 --expert-stats

format:
	@clang-format -i $$(git ls-files 'src/*.cpp' 'src/*.h' 'tests/*.cpp' 'tests/*.h' 'benchmarks/*.cpp')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
