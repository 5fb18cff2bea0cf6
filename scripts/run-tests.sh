#!/usr/bin/env bash
# run-tests.sh: runs every test suite of an installed pgbak_ext as the
# current (unprivileged) user: unit tests (ctest), pg_regress with and
# without the preload, and the TAP tests. Called by test-all.sh; the last line
# reads "N passed, M failed". test/t/019_full_disk.pl needs two small file
# systems that root mounted (test-all.sh does), named by PGBAK_TEST_SMALL_FS
# and PGBAK_TEST_DATA_FS; without them it is skipped, or fails under CI=true.
set -uo pipefail

WORK=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
PG_BINDIR=$(pg_config --bindir)
# pg_config --pgxs is <pgxs>/src/makefiles/pgxs.mk
PGXS_DIR=$(dirname "$(dirname "$(dirname "$(pg_config --pgxs)")")")
PG_REGRESS="$PGXS_DIR/src/test/regress/pg_regress"
OUT="$WORK/build"
mkdir -p "$OUT"

passed=0
failed=0
count() { passed=$((passed + $1)); failed=$((failed + $2)); }

echo "== unit tests (ctest)"
cmake -S "$WORK" -B "$OUT/cmake" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$OUT/cmake.log" 2>&1 &&
  cmake --build "$OUT/cmake" -j"$(nproc)" >>"$OUT/cmake.log" 2>&1 || { cat "$OUT/cmake.log"; count 0 1; }
if [[ -x "$OUT/cmake/pgbak_unit_tests" ]]; then
  (cd "$OUT/cmake" && ctest --output-on-failure 2>&1) | tee "$OUT/ctest.log"
  line=$(grep -E "tests passed, [0-9]+ tests failed out of [0-9]+" "$OUT/ctest.log" | tail -1)
  if [[ $line =~ ([0-9]+)\ tests\ failed\ out\ of\ ([0-9]+) ]]; then
    count $((BASH_REMATCH[2] - BASH_REMATCH[1])) "${BASH_REMATCH[1]}"
  else
    count 0 1
  fi
fi

# run_regress NAME CONF TESTS...: one pg_regress run on its own temp instance.
run_regress() {
  local name=$1 conf=$2
  shift 2
  echo "== pg_regress ($name)"
  rm -rf "$OUT/regress-$name"
  mkdir -p "$OUT/regress-$name"
  "$PG_REGRESS" --bindir="$PG_BINDIR" --inputdir="$WORK" --outputdir="$OUT/regress-$name" \
    --temp-instance="$OUT/regress-$name/instance" --temp-config="$WORK/test/regress/$conf" \
    --dbname=contrib_regression "$@" 2>&1 | tee "$OUT/regress-$name.log"
  local summary
  summary=$(grep -E "tests? (passed|failed)|All [0-9]+ tests passed" "$OUT/regress-$name.log" | tail -1)
  if [[ $summary =~ All\ ([0-9]+)\ tests\ passed ]]; then
    count "${BASH_REMATCH[1]}" 0
  elif [[ $summary =~ ([0-9]+)\ of\ ([0-9]+)\ tests\ failed ]]; then
    count $((BASH_REMATCH[2] - BASH_REMATCH[1])) "${BASH_REMATCH[1]}"
    [[ -f "$OUT/regress-$name/regression.diffs" ]] && cat "$OUT/regress-$name/regression.diffs"
  else
    count 0 1
  fi
}
run_regress preload pgbak.conf upgrade api bad_input storage schedule verify_restore privileges storage_sets import limits
run_regress nopreload nopreload.conf preload_missing

echo "== TAP tests (prove)"
rm -rf "$OUT/tap"
mkdir -p "$OUT/tap"
(cd "$OUT/tap" && PATH="$PG_BINDIR:$PATH" TESTDIR="$OUT/tap" PG_REGRESS="$PG_REGRESS" \
  PGBAK_SOURCE_DIR="$WORK" \
  prove -v -I "$PGXS_DIR/src/test/perl" -I "$WORK/test/perl" "$WORK"/test/t/*.pl 2>&1) |
  tee "$OUT/prove.log"
if grep -q "^Result: PASS" "$OUT/prove.log"; then
  line=$(grep -E "^Files=[0-9]+, Tests=[0-9]+" "$OUT/prove.log" | tail -1)
  [[ $line =~ Tests=([0-9]+) ]] && count "${BASH_REMATCH[1]}" 0
else
  tests=$(grep -E "^Files=[0-9]+, Tests=[0-9]+" "$OUT/prove.log" | tail -1 | sed -E 's/.*Tests=([0-9]+).*/\1/')
  bad=$(grep -cE "^not ok" "$OUT/prove.log")
  ((bad == 0)) && bad=1
  count $(( ${tests:-0} - bad > 0 ? ${tests:-0} - bad : 0 )) "$bad"
  for log in "$OUT"/tap/tmp_check/log/*; do
    [[ -f $log ]] && { echo "---- $log (tail)"; tail -n 60 "$log"; }
  done
fi

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
