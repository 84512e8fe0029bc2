#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/: checkpoint parser, model JSON parser, decoded-data cache
# reader, image decoding, raster input through GDAL, XCO2 inputs, zone tables) with clang, AddressSanitizer and UndefinedBehaviorSanitizer, and runs
# each for a bounded time on its committed seed corpus (fuzz/corpus/<target>/) plus the inputs it
# found before (in the build folder). A crash, leak, sanitizer report or timeout fails the script
# and leaves the input under $BUILD_DIR/fuzz-work/<target>/artifacts/.
#   FUZZ_SECONDS   seconds per target (default 60)
#   FUZZ_RUNS      instead of a time: this many inputs per target from the fixed FUZZ_SEED (default
#                  1), so the run is the same every time (CI: a time-bounded run could find a new
#                  input on one day and not on another)
#   FUZZ_TARGETS   which targets (default: all seven)
#   FUZZ_TIMEOUT   seconds one input may take before it counts as a hang (default 30; a loaded
#                  machine decodes a large declared image in seconds, which is no hang)
#   BUILD_DIR      build folder (default: build-fuzz)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-fuzz}
SECONDS_EACH=${FUZZ_SECONDS:-60}
if [ -n "${FUZZ_RUNS:-}" ]; then
  BOUND=(-runs="$FUZZ_RUNS" -seed="${FUZZ_SEED:-1}")
  BOUND_TEXT="$FUZZ_RUNS inputs, seed ${FUZZ_SEED:-1}"
else
  BOUND=(-max_total_time="$SECONDS_EACH")
  BOUND_TEXT="${SECONDS_EACH} s"
fi
TARGETS=${FUZZ_TARGETS:-"checkpoint model_json data_cache image raster xco2 zones"}
CC=clang CXX=clang++ cmake -S . -B "$BUILD_DIR" -G Ninja -DLC_WITH_CUDA=OFF -DLC_WITH_NVTX=OFF \
  -DLC_BUILD_TESTS=OFF -DLC_SANITIZE=ON -DLC_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo ${CMAKE_ARGS:-} >/dev/null
build_targets=()
for t in $TARGETS; do build_targets+=("fuzz_$t"); done
cmake --build "$BUILD_DIR" -j2 --target "${build_targets[@]}"
for t in $TARGETS; do
  work="$BUILD_DIR/fuzz-work/$t"
  mkdir -p "$work/corpus" "$work/artifacts"
  echo "== fuzz_$t: $BOUND_TEXT =="
  status=0
  # netCDF-C 4.9 / HDF5 1.10 leak inside nc_open on some corrupt files (their allocations, freed by
  # no call of ours); leaks are not checked for the target that reads through them.
  leaks=1
  [ "$t" = xco2 ] && leaks=0
  ASAN_OPTIONS=detect_leaks=$leaks UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "$BUILD_DIR/fuzz/fuzz_$t" "${BOUND[@]}" -timeout="${FUZZ_TIMEOUT:-30}" -rss_limit_mb=2048 -max_len=65536 \
    -detect_leaks=$leaks -print_final_stats=1 -artifact_prefix="$work/artifacts/" "$work/corpus" "fuzz/corpus/$t" >"$work/log" 2>&1 ||
    status=$?
  # The last status line ("#N DONE cov: C ft: F corp: ...") and the executed-units count.
  grep -E '^#[0-9]+' "$work/log" | tail -1 || true
  grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' "$work/log" || true
  if [ "$status" -ne 0 ]; then
    grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$work/log" | head -20 || true
    echo "fuzz_$t failed (exit $status); log: $work/log"
    exit 1
  fi
done
echo "fuzzing finished: no crash"
