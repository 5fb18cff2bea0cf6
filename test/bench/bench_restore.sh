#!/usr/bin/env bash
# bench_restore.sh: restoring a pgbak_ext set against pg_restore of a
# pg_dump -Fc file of the same database, side by side, same -j.
#
# Uses the database that bench_local.sh builds (run that first; it leaves the
# cluster's data in $BENCH_DIR). Once: pg_dump -Fc to a file, and one
# pgbak_run. Then, $ROUNDS times, alternating, into fresh databases:
#   pg_restore -j $JOBS of the pg_dump -Fc file           (the baseline)
#   pgbak_restore(..., '{"jobs": $JOBS}') + pgbak_wait     (checks, stages, restores)
#   by hand: zstd -dc to a file, then pg_restore -j $JOBS  (the README's way)
# and prints median wall times and ratios against the baseline. Each timed
# restore starts from a settled machine (CHECKPOINT, then sync): otherwise
# one restore pays for writing out the last one's gigabyte, and the order
# of the three decides the result more than the three do.
#
#   bash test/bench/bench_restore.sh
set -euo pipefail

ROUNDS=${ROUNDS:-3}
JOBS=${JOBS:-2}
BENCH_USER=${BENCH_USER:-pgbak_test}
BENCH_DIR=${BENCH_DIR:-/var/tmp/pgbak-bench}
PORT=${PORT:-55499}
BIN=$(pg_config --bindir)

if [[ $(id -u) -eq 0 ]]; then
  exec runuser -u "$BENCH_USER" -- env ROUNDS="$ROUNDS" JOBS="$JOBS" BENCH_DIR="$BENCH_DIR" \
    PORT="$PORT" PATH="$BIN:/usr/bin:/bin" bash "$(readlink -f "$0")"
fi

export PGHOST=$BENCH_DIR PGPORT=$PORT
DATA=$BENCH_DIR/data
[[ -f $DATA/PG_VERSION ]] || { echo "run test/bench/bench_local.sh first" >&2; exit 2; }
cleanup() { "$BIN/pg_ctl" -D "$DATA" -m fast stop >/dev/null 2>&1 || true; }
trap cleanup EXIT
"$BIN/pg_ctl" -D "$DATA" -l "$BENCH_DIR/server.log" -w start >/dev/null

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
fresh() { dropdb --if-exists "$1"; }
settle() {
  psql -X -q -d postgres -c CHECKPOINT
  sync
}

pg_dump -Fc -f "$BENCH_DIR/ref.dump" bench
id=$(psql -X -At -d postgres -c "SELECT pgbak_run('bench')")
[[ $(psql -X -At -d postgres -c "SELECT pgbak_wait($id)") == succeeded ]] || exit 1
set_dir=$(psql -X -At -d postgres -c "SELECT location FROM backup_log WHERE id = $id")
echo "database size: $(($(psql -X -At -d bench -c "SELECT pg_database_size('bench')") / 1024 / 1024)) MiB, -j $JOBS, $ROUNDS rounds"

ref_times=() pgbak_times=() hand_times=()
for round in $(seq 1 "$ROUNDS"); do
  fresh r_ref
  settle
  start=$(now)
  createdb r_ref
  pg_restore -j "$JOBS" -d r_ref "$BENCH_DIR/ref.dump"
  ref_times+=("$(awk "BEGIN {print $(now) - $start}")")

  fresh r_pgbak
  settle
  start=$(now)
  rid=$(psql -X -At -d postgres -c "SELECT pgbak_restore($id, 'r_pgbak', '{\"jobs\": $JOBS}')")
  status=$(psql -X -At -d postgres -c "SELECT pgbak_wait($rid)")
  pgbak_times+=("$(awk "BEGIN {print $(now) - $start}")")
  [[ $status == succeeded ]] || { echo "restore $rid: $status"; exit 1; }

  fresh r_hand
  settle
  start=$(now)
  zstd -q -dc "$set_dir/data.dump.zst" >"$BENCH_DIR/hand.dump"
  createdb r_hand
  pg_restore -j "$JOBS" -d r_hand "$BENCH_DIR/hand.dump"
  hand_times+=("$(awk "BEGIN {print $(now) - $start}")")
  rm -f "$BENCH_DIR/hand.dump"

  printf 'round %d: pg_restore of pg_dump -Fc %.2f s, pgbak_restore %.2f s, by hand %.2f s\n' \
    "$round" "${ref_times[-1]}" "${pgbak_times[-1]}" "${hand_times[-1]}"
done
for db in r_ref r_pgbak r_hand; do fresh "$db"; done
rm -f "$BENCH_DIR/ref.dump"

ref=$(printf '%s\n' "${ref_times[@]}" | median)
pgbak=$(printf '%s\n' "${pgbak_times[@]}" | median)
hand=$(printf '%s\n' "${hand_times[@]}" | median)
echo
echo "pg_restore -j $JOBS of pg_dump -Fc, median: ${ref} s"
echo "pgbak_restore jobs $JOBS, median:        ${pgbak} s (ratio $(awk "BEGIN {printf \"%.3f\", $pgbak / $ref}"))"
echo "by hand (zstd + pg_restore), median:  ${hand} s (ratio $(awk "BEGIN {printf \"%.3f\", $hand / $ref}"))"
# The spread says how much to trust the medians (other load shows here).
range() { sort -n | awk 'NR == 1 {lo = $1} {hi = $1} END {printf "%.2f to %.2f s", lo, hi}'; }
echo "ranges: pg_restore $(printf '%s\n' "${ref_times[@]}" | range)," \
  "pgbak_restore $(printf '%s\n' "${pgbak_times[@]}" | range)," \
  "by hand $(printf '%s\n' "${hand_times[@]}" | range)"
