#!/usr/bin/env bash
# bench_s3.sh: the same backup to local storage and to S3 on loopback, side
# by side, with pg_dump -Fc as the common baseline.
#
# Uses the database that bench_local.sh builds (run that first; it leaves the
# cluster's data in $BENCH_DIR). Starts the S3 test stack (test/s3: s3rver,
# and in front of it the proxy that re-verifies every signature), defines
# two storages, and alternates $ROUNDS times:
#   pg_dump -Fc -f file                      (the baseline)
#   pgbak_run(..., 'local')                  (local directory)
#   pgbak_run(..., 's3direct')               (straight to s3rver)
#   pgbak_run(..., 's3proxy')                (through the verifying proxy)
#   pgbak_copy(<the local set>, 's3direct')  (a copy of it to S3)
# and prints median wall times, the S3/local ratios, the copy/backup ratio
# and the worker's peak RSS during the S3 uploads (default part size and
# concurrency).
#
#   bash test/bench/bench_s3.sh
# Environment: ROUNDS, BENCH_DIR, BENCH_USER, PORT.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
BENCH_USER=${BENCH_USER:-pgbak_test}
BENCH_DIR=${BENCH_DIR:-/var/tmp/pgbak-bench}
PORT=${PORT:-55499}
BIN=$(pg_config --bindir)
HERE=$(dirname "$(readlink -f "$0")")
STACK=$(readlink -f "$HERE/../s3/stack.js")

if [[ $(id -u) -eq 0 ]]; then
  exec runuser -u "$BENCH_USER" -- env ROUNDS="$ROUNDS" BENCH_DIR="$BENCH_DIR" PORT="$PORT" \
    PATH="$BIN:/usr/bin:/bin" bash "$(readlink -f "$0")"
fi

export PGHOST=$BENCH_DIR PGPORT=$PORT
DATA=$BENCH_DIR/data
[[ -f $DATA/PG_VERSION ]] || { echo "run test/bench/bench_local.sh first" >&2; exit 2; }
source "$HERE/common.sh"

S3_DATA=$BENCH_DIR/s3data
stack_pid=''
cleanup() {
  "$BIN/pg_ctl" -D "$DATA" -m fast stop >/dev/null 2>&1 || true
  if [[ -n $stack_pid ]]; then
    kill "$stack_pid" 2>/dev/null || true
    wait "$stack_pid" 2>/dev/null || true
  fi
  rm -rf "$S3_DATA"
}
trap cleanup EXIT

"$BIN/pg_ctl" -D "$DATA" -l "$BENCH_DIR/server.log" -w start >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "ALTER EXTENSION pgbak_ext UPDATE"

key=BENCHAKID$RANDOM secret=bench-secret-$RANDOM$RANDOM
rm -rf "$S3_DATA" "$BENCH_DIR/s3.ready"
mkdir -p "$S3_DATA"
node "$STACK" --data-dir "$S3_DATA" --key "$key:$secret" --bucket pgbak-bench \
  --ready-file "$BENCH_DIR/s3.ready" >"$BENCH_DIR/s3.out" 2>"$BENCH_DIR/s3.err" &
stack_pid=$!
for _ in $(seq 1 200); do
  [[ -s $BENCH_DIR/s3.ready ]] && break
  sleep 0.1
done
[[ -s $BENCH_DIR/s3.ready ]] || { echo "S3 stack did not start:" >&2; cat "$BENCH_DIR/s3.err" >&2; exit 1; }
proxy_url=$(sed -E 's/.*"proxy_url":"([^"]+)".*/\1/' "$BENCH_DIR/s3.ready")
s3rver_url=$(sed -E 's/.*"s3rver_url":"([^"]+)".*/\1/' "$BENCH_DIR/s3.ready")

psql -X -q -v ON_ERROR_STOP=1 -d postgres <<EOF
SET log_statement = 'none';
SELECT pgbak_storage_drop(name) FROM pgbak_storage WHERE name IN ('s3direct', 's3proxy');
SELECT pgbak_storage_add('s3direct', 's3://pgbak-bench/direct',
  jsonb_build_object('endpoint', '$s3rver_url', 'access_key_id', '$key', 'secret_access_key', '$secret'));
SELECT pgbak_storage_add('s3proxy', 's3://pgbak-bench/proxy',
  jsonb_build_object('endpoint', '$proxy_url', 'access_key_id', '$key', 'secret_access_key', '$secret'));
EOF

db_size=$(psql -X -At -d bench -c "SELECT pg_database_size('bench')")
echo "database size: $((db_size / 1024 / 1024)) MiB, $(nproc) cores, $ROUNDS rounds"
echo "S3: s3rver 3.7.1 at $s3rver_url, verifying proxy at $proxy_url (default part size and concurrency)"

dump_times=() local_times=() direct_times=() proxy_times=() copy_times=() s3_rss=() local_rss=()
for round in $(seq 1 "$ROUNDS"); do
  rm -f "$BENCH_DIR/bench.dump"
  start=$(now)
  pg_dump -Fc -f "$BENCH_DIR/bench.dump" bench
  end=$(now)
  dump_times+=("$(awk "BEGIN {print $end - $start}")")

  timed_backup bench local
  local_times+=("$BACKUP_SECONDS") local_rss+=("$BACKUP_PEAK_KIB")
  local_id=$BACKUP_ID
  start=$(now)
  copy_id=$(psql -X -At -d postgres -c "SELECT pgbak_copy($local_id, 's3direct')")
  status=$(psql -X -At -d postgres -c "SELECT pgbak_wait($copy_id, 3600)")
  end=$(now)
  [[ $status == succeeded ]] || { echo "copy: $status" >&2; exit 1; }
  copy_times+=("$(awk "BEGIN {print $end - $start}")")
  rm -rf "$(psql -X -At -d postgres -c "SELECT location FROM backup_log WHERE id = $local_id")"

  timed_backup bench s3direct
  direct_times+=("$BACKUP_SECONDS") s3_rss+=("$BACKUP_PEAK_KIB")
  stored=$(psql -X -At -d postgres -c "SELECT stored_bytes FROM backup_log WHERE id = $BACKUP_ID")

  timed_backup bench s3proxy
  proxy_times+=("$BACKUP_SECONDS") s3_rss+=("$BACKUP_PEAK_KIB")

  printf 'round %d: pg_dump -Fc %.2f s, local %.2f s, copy local->s3 %.2f s, s3 direct %.2f s, s3 via proxy %.2f s (%d bytes stored), S3 worker peak RSS %d KiB\n' \
    "$round" "${dump_times[-1]}" "${local_times[-1]}" "${copy_times[-1]}" "${direct_times[-1]}" \
    "${proxy_times[-1]}" "$stored" "$BACKUP_PEAK_KIB"
  # Keep the disk from filling: only the timing matters here.
  rm -rf "${S3_DATA:?}/pgbak-bench/direct" "${S3_DATA:?}/pgbak-bench/proxy"
done

dump_median=$(printf '%s\n' "${dump_times[@]}" | median)
local_median=$(printf '%s\n' "${local_times[@]}" | median)
direct_median=$(printf '%s\n' "${direct_times[@]}" | median)
proxy_median=$(printf '%s\n' "${proxy_times[@]}" | median)
copy_median=$(printf '%s\n' "${copy_times[@]}" | median)
ratio() { awk "BEGIN {printf \"%.3f\", $1 / $2}"; }
echo
echo "pg_dump -Fc median wall:         ${dump_median} s"
echo "pgbak to local median wall:      ${local_median} s ($(ratio "$local_median" "$dump_median") x pg_dump -Fc)"
echo "pgbak to S3 (direct) median:     ${direct_median} s ($(ratio "$direct_median" "$dump_median") x pg_dump -Fc)"
echo "pgbak to S3 (via proxy) median:  ${proxy_median} s ($(ratio "$proxy_median" "$dump_median") x pg_dump -Fc)"
echo "S3/local wall ratio, direct:     $(ratio "$direct_median" "$local_median")"
echo "S3/local wall ratio, via proxy:  $(ratio "$proxy_median" "$local_median")"
echo "copy local->S3 (direct) median:  ${copy_median} s ($(ratio "$copy_median" "$local_median") x the backup to local)"
echo "worker peak RSS: local $(($(printf '%s\n' "${local_rss[@]}" | sort -n | tail -1) / 1024)) MiB, S3 $(($(printf '%s\n' "${s3_rss[@]}" | sort -n | tail -1) / 1024)) MiB"
