#!/usr/bin/env bash
# bench_all_databases.sh: one run of a job over every database ('*') against
# a shell loop of pg_dump -Fc over the same databases, side by side.
#
# Builds $DATABASES (default 50) small databases on a throwaway cluster, each
# a copy of one template: first a pgbench database (scale $SCALE, default 1:
# compressible, like most data), then, with DATASET=random, a table of
# random hex digests ($RANDOM_ROWS rows, default 100,000: little for zstd to
# find). Then alternates, $ROUNDS times:
#   printf dbs | xargs -P $WORKERS pg_dump -Fc   (what the scripts do)
#   pgbak_schedule('all', '*', ...) and one run  (every database, one job)
# with $WORKERS = pgbak.max_workers (default 2) on both sides. The job's
# run is timed from its first row's queued_at to its last row's finished_at
# (server clock; the job is unscheduled as soon as it has fired, so it runs
# once). Prints median wall times, their ratio and the stored-size ratio.
#
# Run as root (the cluster runs as an unprivileged user) after the extension
# is installed (scripts/test-all.sh or make install):
#   bash test/bench/bench_all_databases.sh
#   DATASET=random bash test/bench/bench_all_databases.sh
# Environment: DATABASES, SCALE, RANDOM_ROWS, DATASET (pgbench or random),
# ROUNDS, WORKERS, BENCH_DIR, BENCH_USER, PORT, BIN (PostgreSQL's bin dir).
set -euo pipefail

DATABASES=${DATABASES:-50}
SCALE=${SCALE:-1}
RANDOM_ROWS=${RANDOM_ROWS:-100000}
DATASET=${DATASET:-pgbench}
ROUNDS=${ROUNDS:-3}
WORKERS=${WORKERS:-2}
BENCH_USER=${BENCH_USER:-pgbak_test}
BENCH_DIR=${BENCH_DIR:-/var/tmp/pgbak-bench-alldb-$DATASET}
PORT=${PORT:-55497}
BIN=${BIN:-$(pg_config --bindir)}

if [[ $(id -u) -eq 0 ]]; then
  id -u "$BENCH_USER" >/dev/null 2>&1 || useradd --system --create-home --shell /bin/bash "$BENCH_USER"
  mkdir -p "$BENCH_DIR"
  chown "$BENCH_USER:" "$BENCH_DIR"
  exec runuser -u "$BENCH_USER" -- env DATABASES="$DATABASES" SCALE="$SCALE" \
    RANDOM_ROWS="$RANDOM_ROWS" DATASET="$DATASET" ROUNDS="$ROUNDS" WORKERS="$WORKERS" \
    BENCH_DIR="$BENCH_DIR" PORT="$PORT" BIN="$BIN" PATH="$BIN:/usr/bin:/bin" \
    bash "$(readlink -f "$0")"
fi

export PGHOST=$BENCH_DIR PGPORT=$PORT
DATA=$BENCH_DIR/data
cleanup() { "$BIN/pg_ctl" -D "$DATA" -m fast stop >/dev/null 2>&1 || true; }
trap cleanup EXIT

names() { for i in $(seq -w 1 "$DATABASES"); do echo "small_$i"; done; }

if [[ ! -f $DATA/PG_VERSION ]]; then
  "$BIN/initdb" -D "$DATA" -A trust >/dev/null
  cat >>"$DATA/postgresql.conf" <<EOF
shared_preload_libraries = 'pgbak_ext'
pgbak.database = 'postgres'
pgbak.max_workers = $WORKERS
max_worker_processes = $((WORKERS + 8))
port = $PORT
unix_socket_directories = '$BENCH_DIR'
listen_addresses = ''
shared_buffers = 256MB
EOF
  "$BIN/pg_ctl" -D "$DATA" -l "$BENCH_DIR/server.log" -w start >/dev/null
  psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE EXTENSION pgbak_ext"
  createdb small_template
  if [[ $DATASET == random ]]; then
    echo "building the template: $RANDOM_ROWS rows of random digests..."
    psql -X -q -v ON_ERROR_STOP=1 -d small_template <<EOF
CREATE TABLE digests (id int PRIMARY KEY, a text, b text);
INSERT INTO digests
SELECT g, md5(random()::text) || md5(random()::text), md5(random()::text)
FROM generate_series(1, $RANDOM_ROWS) g;
VACUUM ANALYZE;
EOF
  else
    echo "building the template: pgbench scale $SCALE..."
    pgbench -i -q -s "$SCALE" small_template >/dev/null 2>&1
  fi
  echo "copying it into $DATABASES databases..."
  for db in $(names); do createdb -T small_template "$db"; done
else
  "$BIN/pg_ctl" -D "$DATA" -l "$BENCH_DIR/server.log" -w start >/dev/null
  psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "ALTER EXTENSION pgbak_ext UPDATE"
fi

db_size=$(psql -X -At -d postgres -c "SELECT pg_database_size('small_template')")
echo "dataset $DATASET: $DATABASES databases of $((db_size / 1024 / 1024)) MiB," \
  "$WORKERS workers, $(nproc) cores, $ROUNDS rounds"

source "$(dirname "$(readlink -f "$0")")/common.sh"

# The job covers exactly the databases the loop dumps.
options="{\"exclude_databases\": [\"postgres\", \"small_template\"]}"

# run_job: schedules 'all' over every database, unschedules it once it has
# fired, waits for the run's rows; sets RUN_SECONDS and RUN_BYTES.
run_job() {
  local ids='' pending
  psql -X -q -At -d postgres -c "SELECT pgbak_schedule('all', '*', '1 seconds', '$options')" >/dev/null
  while [[ -z $ids ]]; do
    sleep 0.2
    ids=$(psql -X -At -d postgres -c \
      "SELECT array_to_string(last_run_ids, ',') FROM pgbak_job WHERE job_name = 'all'")
  done
  psql -X -q -At -d postgres -c "SELECT pgbak_unschedule('all')" >/dev/null
  # One poll a second: the time is read from backup_log, not from this loop.
  pending=1
  while ((pending > 0)); do
    sleep 1
    pending=$(psql -X -At -d postgres -c \
      "SELECT count(*) FROM backup_log WHERE id IN ($ids) AND status IN ('queued', 'running')")
  done
  local failed
  failed=$(psql -X -At -d postgres -c \
    "SELECT count(*) FROM backup_log WHERE id IN ($ids) AND status <> 'succeeded'")
  if ((failed > 0)); then
    echo "$failed backups of the run did not succeed:" >&2
    psql -X -At -d postgres -c "SELECT database_name, status, error_message FROM backup_log
      WHERE id IN ($ids) AND status <> 'succeeded'" >&2
    exit 1
  fi
  read -r RUN_SECONDS RUN_BYTES RUN_COUNT < <(psql -X -At -F ' ' -d postgres -c \
    "SELECT extract(epoch FROM max(finished_at) - min(queued_at)),
            sum(stored_bytes + coalesce(globals_bytes, 0)), count(*)
     FROM backup_log WHERE id IN ($ids)")
  if ((RUN_COUNT != DATABASES)); then
    echo "the run backed up $RUN_COUNT databases, not $DATABASES" >&2
    exit 1
  fi
  # Keep the disk from filling: only the timing matters here.
  psql -X -At -d postgres -c "SELECT location FROM backup_log WHERE id IN ($ids)" | xargs rm -rf
}

loop_times=() job_times=()
loop_bytes=0 job_bytes=0
for round in $(seq 1 "$ROUNDS"); do
  rm -rf "$BENCH_DIR/dumps"
  mkdir -p "$BENCH_DIR/dumps"
  start=$(now)
  names | xargs -P "$WORKERS" -I{} pg_dump -Fc -f "$BENCH_DIR/dumps/{}.dump" {}
  end=$(now)
  loop_times+=("$(awk "BEGIN {print $end - $start}")")
  loop_bytes=$(du -sb "$BENCH_DIR/dumps" | cut -f1)

  run_job
  job_times+=("$RUN_SECONDS")
  job_bytes=$RUN_BYTES
  printf 'round %d: xargs -P %d pg_dump -Fc %.2f s (%d bytes), pgbak job over * %.2f s (%d bytes)\n' \
    "$round" "$WORKERS" "${loop_times[-1]}" "$loop_bytes" "$RUN_SECONDS" "$RUN_BYTES"
done
rm -rf "$BENCH_DIR/dumps"

loop_median=$(printf '%s\n' "${loop_times[@]}" | median)
job_median=$(printf '%s\n' "${job_times[@]}" | median)
echo
echo "xargs -P $WORKERS pg_dump -Fc median wall: ${loop_median} s"
echo "pgbak '*' job median wall:         ${job_median} s"
echo "wall ratio (pgbak / pg_dump loop): $(awk "BEGIN {printf \"%.3f\", $job_median / $loop_median}")"
echo "size ratio (pgbak / pg_dump loop): $(awk "BEGIN {printf \"%.3f\", $job_bytes / $loop_bytes}")"
