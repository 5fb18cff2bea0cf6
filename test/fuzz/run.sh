#!/usr/bin/env bash
# run.sh SECONDS [HARNESS...]: builds the libFuzzer harnesses of test/fuzz/
# with clang (-fsanitize=fuzzer,address,undefined) in a build directory of
# their own and runs each for SECONDS seconds, or only the harnesses named.
# Exits non-zero if any harness found a crash, a sanitizer error, a broken
# property, a timeout or runaway memory; the input that did it is saved in
# the build directory's artifacts/ and the command to replay it is printed.
#
# Environment: PGBAK_FUZZ_BUILD, the build directory (default build/fuzz
# under the source tree); it keeps each harness's corpus between runs, so
# longer runs build on shorter ones. PGBAK_FUZZ_JOBS, parallel compile jobs
# (default: all processors).
set -euo pipefail

usage="usage: test/fuzz/run.sh SECONDS [json|manifest|archive_scanner|age|s3_xml|tar ...]"
seconds=${1:?$usage}
[[ $seconds =~ ^[1-9][0-9]*$ ]] || { echo "$usage" >&2; exit 2; }
shift
harnesses=("$@")
((${#harnesses[@]} > 0)) || harnesses=(json manifest archive_scanner age s3_xml tar)

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/../.." && pwd)
build=${PGBAK_FUZZ_BUILD:-$src/build/fuzz}
jobs=${PGBAK_FUZZ_JOBS:-$(nproc)}

command -v clang++ >/dev/null || { echo "run.sh: clang++ missing: run scripts/install-deps.sh" >&2; exit 2; }
mkdir -p "$build"  # and its parent, where the logs go (a fresh clone has no build/)

cmake -S "$src" -B "$build" -DCMAKE_CXX_COMPILER=clang++ -DPGBAK_FUZZ=ON >"$build.cmake.log" 2>&1 ||
  { cat "$build.cmake.log" >&2; exit 2; }
targets=()
for harness in "${harnesses[@]}"; do
  targets+=(--target "fuzz_$harness")
done
cmake --build "$build" -j "$jobs" "${targets[@]}" >"$build.build.log" 2>&1 ||
  { tail -50 "$build.build.log" >&2; exit 2; }
bash "$here/make_seeds.sh" "$build/seeds" >/dev/null

# Inputs larger than these add time, not coverage: the largest seeds are
# the archive without its big table (26 KB) and age files of one full chunk.
declare -A max_len=([json]=8192 [manifest]=8192 [archive_scanner]=32768 [age]=70000 [s3_xml]=8192
  [tar]=16384)

failed=()
mkdir -p "$build/artifacts" "$build/logs"
for harness in "${harnesses[@]}"; do
  corpus="$build/corpus/$harness"
  log="$build/logs/$harness.log"
  mkdir -p "$corpus"
  # The first directory receives what the run finds; seeds are read only.
  if "$build/fuzz_$harness" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -max_len="${max_len[$harness]}" -print_final_stats=1 \
      -artifact_prefix="$build/artifacts/$harness-" "$corpus" "$build/seeds/$harness" \
      >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    edges=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
    echo "run.sh: $harness: ${runs:-?} inputs in ${seconds}s, ${edges:-cov: ?}, no failure"
  else
    failed+=("$harness")
    echo "run.sh: $harness FAILED; last lines of $log:" >&2
    grep -v '^#[0-9]' "$log" | tail -40 >&2
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    [[ -n $artifact ]] && echo "run.sh: replay with: $build/fuzz_$harness $artifact" >&2
  fi
done
if ((${#failed[@]} > 0)); then
  echo "run.sh: failures in: ${failed[*]}" >&2
  exit 1
fi
echo "run.sh: all ${#harnesses[@]} harnesses ran ${seconds}s without failure"
