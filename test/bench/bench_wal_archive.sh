#!/usr/bin/env bash
# bench_wal_archive.sh: what continuous WAL archiving costs a busy server,
# side by side in one run. A cluster of its own (pgbench at scale $SCALE),
# pgbench writing as fast as it can for $SECONDS_RUN s, twice:
#   archive_command = 'true'           (archiving to nowhere: the baseline)
#   archive_library = 'pgbak_ext'      (to S3 on loopback: s3rver, zstd)
# and prints the TPS of each, their ratio, and the archive lag when pgbench
# stops (the files still waiting, in segments) and how long the archive
# took to catch up after it.
#
#   bash test/bench/bench_wal_archive.sh    # SCALE=20 SECONDS_RUN=60 CLIENTS=4
set -euo pipefail

SCALE=${SCALE:-20}
SECONDS_RUN=${SECONDS_RUN:-60}
CLIENTS=${CLIENTS:-4}
BENCH_USER=${BENCH_USER:-pgbak_test}
BENCH_DIR=${BENCH_DIR:-/var/tmp/pgbak-bench}
PORT=${WAL_PORT:-55498}
BIN=$(pg_config --bindir)
HERE=$(dirname "$(readlink -f "$0")")
STACK=$(readlink -f "$HERE/../s3/stack.js")

if [[ $(id -u) -eq 0 ]]; then
  id -u "$BENCH_USER" >/dev/null 2>&1 || useradd --system --create-home --shell /bin/bash "$BENCH_USER"
  mkdir -p "$BENCH_DIR"
  chown "$BENCH_USER:" "$BENCH_DIR"
  exec runuser -u "$BENCH_USER" -- env SCALE="$SCALE" SECONDS_RUN="$SECONDS_RUN" \
    CLIENTS="$CLIENTS" BENCH_DIR="$BENCH_DIR" WAL_PORT="$PORT" PATH="$BIN:/usr/bin:/bin" \
    bash "$(readlink -f "$0")"
fi
source "$HERE/common.sh"

WORK=$BENCH_DIR/walbench
DATA=$WORK/data
S3_DATA=$WORK/s3data
export PGHOST=$WORK PGPORT=$PORT
stack_pid=''
cleanup() {
  "$BIN/pg_ctl" -D "$DATA" -m immediate stop >/dev/null 2>&1 || true
  if [[ -n $stack_pid ]]; then
    kill "$stack_pid" 2>/dev/null || true
    wait "$stack_pid" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
rm -rf "$WORK"
mkdir -p "$WORK" "$S3_DATA"

key=BENCHAKID$RANDOM secret=bench-secret-$RANDOM$RANDOM
node "$STACK" --data-dir "$S3_DATA" --key "$key:$secret" --bucket pgbak-bench \
  --ready-file "$WORK/s3.ready" >"$WORK/s3.out" 2>"$WORK/s3.err" &
stack_pid=$!
for _ in $(seq 1 200); do
  [[ -s $WORK/s3.ready ]] && break
  sleep 0.1
done
[[ -s $WORK/s3.ready ]] || { echo "S3 stack did not start:" >&2; cat "$WORK/s3.err" >&2; exit 1; }
s3rver_url=$(sed -E 's/.*"s3rver_url":"([^"]+)".*/\1/' "$WORK/s3.ready")

"$BIN/initdb" -D "$DATA" --encoding=UTF8 --locale=C >/dev/null
cat >>"$DATA/postgresql.conf" <<CONF
port = $PORT
unix_socket_directories = '$WORK'
listen_addresses = ''
shared_preload_libraries = 'pgbak_ext'
max_worker_processes = 16
shared_buffers = '256MB'
max_wal_size = '8GB'
checkpoint_timeout = '30min'
wal_level = replica
archive_mode = on
pgbak.wal_storage = 's3'
CONF
# mode BASELINE|PGBAK: the archiving configuration, then a restart.
configure() {
  if [[ $1 == baseline ]]; then
    printf "archive_library = ''\narchive_command = 'true'\n" >"$DATA/archiving.conf"
  else
    printf "archive_library = 'pgbak_ext'\narchive_command = ''\n" >"$DATA/archiving.conf"
  fi
  grep -q "include 'archiving.conf'" "$DATA/postgresql.conf" ||
    echo "include 'archiving.conf'" >>"$DATA/postgresql.conf"
  "$BIN/pg_ctl" -D "$DATA" -l "$WORK/server.log" -w restart >/dev/null 2>&1 ||
    "$BIN/pg_ctl" -D "$DATA" -l "$WORK/server.log" -w start >/dev/null
}
configure baseline
psql -X -q -v ON_ERROR_STOP=1 -d postgres <<SQL
CREATE EXTENSION pgbak_ext;
SET log_statement = 'none';
SELECT pgbak_storage_add('s3', 's3://pgbak-bench/wal',
  jsonb_build_object('endpoint', '$s3rver_url', 'access_key_id', '$key', 'secret_access_key', '$secret'));
SQL
echo "building pgbench scale $SCALE..."
pgbench -q -i -s "$SCALE" postgres >/dev/null 2>&1
psql -X -q -d postgres -c CHECKPOINT

# run MODE: one pgbench run; prints its TPS.
run() {
  configure "$1"
  # The launcher publishes the storage for the archiver within seconds.
  for _ in $(seq 1 100); do
    [[ $1 == baseline || -f $DATA/pg_stat_tmp/pgbak_wal_storage.json ]] && break
    sleep 0.1
  done
  psql -X -q -d postgres -c CHECKPOINT -c "SELECT pg_switch_wal()" >/dev/null
  pgbench -n -c "$CLIENTS" -j 2 -T "$SECONDS_RUN" postgres 2>/dev/null |
    awk '/^tps = / {print $3; exit}'
}
segment=$(psql -X -At -d postgres -c "SELECT pg_size_bytes(current_setting('wal_segment_size'))")
start_lsn=$(psql -X -At -d postgres -c "SELECT pg_current_wal_lsn()")
base_tps=$(run baseline)
base_wal=$(psql -X -At -d postgres -c "SELECT pg_current_wal_lsn() - '$start_lsn'")
start_lsn=$(psql -X -At -d postgres -c "SELECT pg_current_wal_lsn()")
pgbak_tps=$(run pgbak)
end=$(now)
waiting=$(ls "$DATA/pg_wal/archive_status" | grep -c '\.ready$' || true)
lag_bytes=$(psql -X -At -d postgres -c "SELECT coalesce(archive_lag_bytes, 0) FROM pgbak_wal_status")
pgbak_wal=$(psql -X -At -d postgres -c "SELECT pg_current_wal_lsn() - '$start_lsn'")
# Catching up: until nothing waits.
while [[ $(ls "$DATA/pg_wal/archive_status" | grep -c '\.ready$' || true) -gt 0 ]]; do
  sleep 0.2
done
caught_up=$(awk "BEGIN {printf \"%.1f\", $(now) - $end}")
archived=$(psql -X -At -d postgres -c "SELECT archived_count || ' files, ' || failed_count || ' failed attempts' FROM pgbak_wal_archive_status()")

echo
echo "pgbench scale $SCALE, $CLIENTS clients, $SECONDS_RUN s each, $(nproc) cores; S3: s3rver on loopback"
echo "archive_command = 'true': $base_tps tps ($((base_wal / 1024 / 1024)) MiB of WAL)"
echo "archive_library = 'pgbak_ext' to S3: $pgbak_tps tps ($((pgbak_wal / 1024 / 1024)) MiB of WAL; $archived)"
echo "TPS ratio: $(awk "BEGIN {printf \"%.3f\", $pgbak_tps / $base_tps}") (goal: at least 0.90)"
echo "archive lag when pgbench stopped: $waiting files waiting, $(awk "BEGIN {printf \"%.2f\", $lag_bytes / $segment}") segments of WAL behind (goal: under 2); caught up $caught_up s later"
