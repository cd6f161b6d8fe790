# Catchline: the README's two commands are `make run` and `make test`.
# Everything else here (deps, build, bench, fuzz) is what those two stand on.

BUILD      ?= build/release
JOBS       ?= $(shell nproc)
CONFIG     ?= config/catchline.yaml

# Debian 12 packages the project needs; README.md says why each one is here.
DEBIAN_PACKAGES := build-essential cmake ninja-build pkg-config python3 \
  libboost1.81-dev libssl-dev libsqlite3-dev libyaml-dev libspdlog-dev libfmt-dev \
  nlohmann-json3-dev libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev \
  sip-tester libosip2-dev clang libclang-rt-14-dev baresip-core kamailio \
  kamailio-presence-modules espeak-ng sox rtpengine-daemon

.PHONY: all deps build test run bench fuzz clean format

all: build

# Installs only what is missing; needs root for apt-get, else says what to install.
deps:
	@missing=$$(for p in $(DEBIAN_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "deps: installing $$missing"; \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	  else \
	    echo "deps: missing Debian packages, install them as root: apt-get install $$missing" >&2; exit 1; \
	  fi; \
	fi

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 300

run: build
	$(BUILD)/app/catchline --config $(CONFIG)

bench: deps
	cmake -S . -B build/bench -G Ninja -DCMAKE_BUILD_TYPE=Release
	cmake --build build/bench -j $(JOBS)
	python3 bench/run.py --build build/bench --out build/bench/summary.json

# libFuzzer targets (clang), each run for FUZZ_SECONDS on its corpus in fuzz/corpus/.
FUZZ_SECONDS ?= 30
fuzz: deps
	CC=clang CXX=clang++ cmake -S . -B build/fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCATCHLINE_FUZZ=ON
	cmake --build build/fuzz -j $(JOBS) --target fuzzers
	python3 fuzz/run.py --build build/fuzz --seconds $(FUZZ_SECONDS)

format:
	find sip app tests bench fuzz -name '*.h' -o -name '*.cpp' | xargs clang-format -i

clean:
	rm -rf build
