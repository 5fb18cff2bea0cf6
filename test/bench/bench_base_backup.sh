#!/usr/bin/env bash
# bench_base_backup.sh: pgbak_base_backup against pgBackRest and
# pg_basebackup, side by side, on a copy of the bench cluster.
#
# bench_local.sh builds the bench cluster in /var/tmp/pgbak-bench (a
# pgbench database and wide rows). This script never touches it: it copies
# its data directory (while it is stopped) to $BASE_DIR once, and runs that
# copy with wal_level replica, archiving every segment both to a plain
# directory and with pgBackRest's archive-push (each tool's backup waits for
# its WAL to be archived, so both pay the same archiver). Then, $ROUNDS
# times:
#   pgbak_base_backup() + pgbak_wait      (to the 'local' storage, zstd)
#   pgbackrest backup --type=full         (compress-type=zst, process-max=2,
#                                          start-fast, a local repo)
#   pg_basebackup -Ft -z                  (gzip, with its WAL streamed)
# and prints median wall times, their ratios, the stored sizes and their
# ratios, and the pgbak worker's peak RSS (VmHWM sampled from /proc).
#
# Run as root after the extension is installed; PG_BIN picks another
# PostgreSQL installation (a private one with this tree's extension):
#   bash test/bench/bench_base_backup.sh
# Environment: ROUNDS, BENCH_USER, BENCH_DIR (the bench cluster), BASE_DIR,
# PORT, PG_BIN, and RANDOM_ROWS: if set, the copy gets a table of that many
# rows of random md5 text (which zstd cannot shrink much, unlike the bench's
# own rows) before the rounds; use another BASE_DIR for it:
#   RANDOM_ROWS=3000000 BASE_DIR=/var/tmp/pgbak-bench-base-md5 bash test/bench/bench_base_backup.sh
set -euo pipefail

ROUNDS=${ROUNDS:-3}
BENCH_USER=${BENCH_USER:-pgbak_test}
BENCH_DIR=${BENCH_DIR:-/var/tmp/pgbak-bench}
BASE_DIR=${BASE_DIR:-/var/tmp/pgbak-bench-base}
PORT=${PORT:-55498}
PG_BIN=${PG_BIN:-$(pg_config --bindir)}

if [[ $(id -u) -eq 0 ]]; then
  command -v pgbackrest >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y pgbackrest
  mkdir -p "$BASE_DIR"
  chown "$BENCH_USER:" "$BASE_DIR"
  exec runuser -u "$BENCH_USER" -- env ROUNDS="$ROUNDS" BENCH_DIR="$BENCH_DIR" BASE_DIR="$BASE_DIR" \
    PORT="$PORT" PG_BIN="$PG_BIN" RANDOM_ROWS="${RANDOM_ROWS:-}" PATH="$PG_BIN:/usr/bin:/bin" \
    bash "$(readlink -f "$0")"
fi

export PGHOST=$BASE_DIR PGPORT=$PORT
DATA=$BASE_DIR/data
CONF=$BASE_DIR/pgbackrest.conf
cleanup() { "$PG_BIN/pg_ctl" -D "$DATA" -m fast stop >/dev/null 2>&1 || true; }
trap cleanup EXIT

if [[ ! -f $DATA/PG_VERSION ]]; then
  [[ -f $BENCH_DIR/data/PG_VERSION ]] || {
    echo "no bench cluster in $BENCH_DIR: run test/bench/bench_local.sh first" >&2
    exit 1
  }
  [[ ! -f $BENCH_DIR/data/postmaster.pid ]] || {
    echo "the bench cluster in $BENCH_DIR is running: stop it to copy it" >&2
    exit 1
  }
  echo "copying the bench cluster to $DATA..."
  cp -a "$BENCH_DIR/data" "$DATA"
  rm -f "$DATA/postmaster.pid"
  mkdir -p "$BASE_DIR/wal" "$BASE_DIR/repo" "$BASE_DIR/log"
  cat >"$CONF" <<EOF
[global]
repo1-path=$BASE_DIR/repo
repo1-retention-full=1
compress-type=zst
process-max=2
start-fast=y
log-path=$BASE_DIR/log
lock-path=$BASE_DIR/log
log-level-console=warn

[bench]
pg1-path=$DATA
pg1-port=$PORT
pg1-socket-path=$BASE_DIR
EOF
  cat >>"$DATA/postgresql.conf" <<EOF
# bench_base_backup.sh
port = $PORT
unix_socket_directories = '$BASE_DIR'
pgbak.local_path = '$BASE_DIR/pgbak_backups'
wal_level = replica
max_wal_senders = 4
archive_mode = on
archive_command = 'cp %p $BASE_DIR/wal/%f && pgbackrest --config=$CONF --stanza=bench archive-push %p'
EOF
  "$PG_BIN/pg_ctl" -D "$DATA" -l "$BASE_DIR/server.log" -w start >/dev/null
  pgbackrest --config="$CONF" --stanza=bench stanza-create
else
  "$PG_BIN/pg_ctl" -D "$DATA" -l "$BASE_DIR/server.log" -w start >/dev/null
fi
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "ALTER EXTENSION pgbak_ext UPDATE"
if [[ -n ${RANDOM_ROWS:-} ]]; then
  psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE TABLE IF NOT EXISTS bench_random AS
    SELECT g AS id, md5(random()::text) || md5(random()::text) AS a, md5(random()::text) AS b
    FROM generate_series(1, ${RANDOM_ROWS}) g; CHECKPOINT;"
fi

cluster_size=$(du -sb "$DATA" --exclude=pg_wal | cut -f1)
echo "cluster size (without pg_wal): $((cluster_size / 1024 / 1024)) MiB, $(nproc) cores, $ROUNDS rounds"

source "$(dirname "$(readlink -f "$0")")/common.sh"

pgbak_times=() rest_times=() basebackup_times=() rss_values=()
pgbak_size=0 rest_size=0 basebackup_size=0
for round in $(seq 1 "$ROUNDS"); do
  timed_operation "SELECT pgbak_base_backup()"
  id=$BACKUP_ID
  pgbak_times+=("$BACKUP_SECONDS")
  rss_values+=("$BACKUP_PEAK_KIB")
  pgbak_size=$(psql -X -At -d postgres -c "SELECT stored_bytes FROM backup_log WHERE id = $id")
  rm -rf "$(psql -X -At -d postgres -c "SELECT location FROM backup_log WHERE id = $id")"

  start=$(now)
  pgbackrest --config="$CONF" --stanza=bench --type=full backup
  end=$(now)
  rest_times+=("$(awk "BEGIN {print $end - $start}")")
  rest_size=$(du -sb "$BASE_DIR"/repo/backup/bench/*F | tail -1 | cut -f1)

  rm -rf "$BASE_DIR/basebackup"
  start=$(now)
  pg_basebackup -Ft -z --checkpoint=fast -D "$BASE_DIR/basebackup"
  end=$(now)
  basebackup_times+=("$(awk "BEGIN {print $end - $start}")")
  basebackup_size=$(du -sb "$BASE_DIR/basebackup" | cut -f1)
  rm -rf "$BASE_DIR/basebackup"

  printf 'round %d: pgbak %.2f s (%d bytes, worker peak RSS %d KiB), pgbackrest %.2f s (%d bytes), pg_basebackup -Ft -z %.2f s (%d bytes)\n' \
    "$round" "${pgbak_times[-1]}" "$pgbak_size" "${rss_values[-1]}" "${rest_times[-1]}" "$rest_size" \
    "${basebackup_times[-1]}" "$basebackup_size"
done

pgbak_median=$(printf '%s\n' "${pgbak_times[@]}" | median)
rest_median=$(printf '%s\n' "${rest_times[@]}" | median)
basebackup_median=$(printf '%s\n' "${basebackup_times[@]}" | median)
rss_max=$(printf '%s\n' "${rss_values[@]}" | sort -n | tail -1)
echo
echo "pgbak_base_backup median wall:    ${pgbak_median} s"
echo "pgbackrest full median wall:      ${rest_median} s"
echo "pg_basebackup -Ft -z median wall: ${basebackup_median} s"
echo "wall ratio (pgbak / pgbackrest):    $(awk "BEGIN {printf \"%.3f\", $pgbak_median / $rest_median}")"
echo "wall ratio (pgbak / pg_basebackup): $(awk "BEGIN {printf \"%.3f\", $pgbak_median / $basebackup_median}")"
echo "size ratio (pgbak / pgbackrest):    $(awk "BEGIN {printf \"%.3f\", $pgbak_size / $rest_size}")"
echo "size ratio (pgbak / pg_basebackup): $(awk "BEGIN {printf \"%.3f\", $pgbak_size / $basebackup_size}")"
echo "pgbak worker peak RSS: $((rss_max / 1024)) MiB"
