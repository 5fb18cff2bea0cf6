#!/usr/bin/env bash
# bench_recover.sh: one table back as it was before a DROP TABLE, with
# pgbak_recover, against the same done by hand with the stock tools, side
# by side in one run.
#
# A cluster of its own in $BENCH_DIR (pgbench at scale $SCALE in database
# bench, and, with RANDOM_ROWS, a table of that many rows of random md5
# text in a second database, which the recovery restores and replays too
# but never copies), archiving its WAL with archive_library = 'pgbak_ext'
# to pgbak's local storage; one pgbak base backup; $WAL_SECONDS seconds of
# pgbench; the time is noted; pgbench_accounts is dropped. Then, $ROUNDS
# times each, alternating:
#   pgbak_recover('bench', <noted time>, {"tables": ["public.pgbench_accounts"]})
#     from the call to its end (pgbak_wait), the new schema dropped after;
#   by hand: pgbak restore-cluster --target-time <noted time> --no-archive
#     into an empty directory, pg_ctl start, wait until it has promoted,
#     pg_dump -Fc -t public.pgbench_accounts from it, pg_restore into
#     the live database (a schema of its own, as pgbak_recover does),
#     stop, remove.
# The server log's line of each pgbak_recover says how long its cluster
# restore and replay took (what bounds it); printed with the totals.
#
# Run as root after the extension and the pgbak command are installed;
# PG_BIN picks another PostgreSQL installation:
#   bash test/bench/bench_recover.sh
# Environment: SCALE (default 100), RANDOM_ROWS (default 0), WAL_SECONDS
# (default 30), ROUNDS (default 3), BENCH_USER, BENCH_DIR, PORT, PG_BIN.
set -euo pipefail

SCALE=${SCALE:-100}
RANDOM_ROWS=${RANDOM_ROWS:-0}
WAL_SECONDS=${WAL_SECONDS:-30}
ROUNDS=${ROUNDS:-3}
BENCH_USER=${BENCH_USER:-pgbak_test}
BENCH_DIR=${BENCH_DIR:-/var/tmp/pgbak-bench-recover}
PORT=${PORT:-55497}
PG_BIN=${PG_BIN:-$(pg_config --bindir)}

if [[ $(id -u) -eq 0 ]]; then
  mkdir -p "$BENCH_DIR"
  chown "$BENCH_USER:" "$BENCH_DIR"
  exec runuser -u "$BENCH_USER" -- env SCALE="$SCALE" RANDOM_ROWS="$RANDOM_ROWS" \
    WAL_SECONDS="$WAL_SECONDS" ROUNDS="$ROUNDS" BENCH_DIR="$BENCH_DIR" PORT="$PORT" \
    PG_BIN="$PG_BIN" PATH="$PG_BIN:/usr/bin:/bin" bash "$(readlink -f "$0")"
fi

export PGHOST=$BENCH_DIR PGPORT=$PORT
DATA=$BENCH_DIR/data
STORE=$BENCH_DIR/store
BYHAND=$BENCH_DIR/byhand
HPORT=$((PORT - 10))
cleanup() {
  "$PG_BIN/pg_ctl" -D "$BYHAND" -m immediate stop >/dev/null 2>&1 || true
  "$PG_BIN/pg_ctl" -D "$DATA" -m fast stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
source "$(dirname "$(readlink -f "$0")")/common.sh"

cleanup
rm -rf "$DATA" "$STORE" "$BYHAND" "$BENCH_DIR/server.log" "$BENCH_DIR/byhand.log"
mkdir -p "$STORE"
"$PG_BIN/initdb" -D "$DATA" -A trust >/dev/null
cat >>"$DATA/postgresql.conf" <<EOF
port = $PORT
listen_addresses = ''
unix_socket_directories = '$BENCH_DIR'
shared_preload_libraries = 'pgbak_ext'
pgbak.database = 'postgres'
pgbak.local_path = '$STORE'
wal_level = replica
archive_mode = on
archive_library = 'pgbak_ext'
pgbak.wal_storage = 'local'
max_wal_size = 4GB
max_worker_processes = 16
EOF
"$PG_BIN/pg_ctl" -D "$DATA" -l "$BENCH_DIR/server.log" -w start >/dev/null
psql -X -q -d postgres -c 'CREATE EXTENSION pgbak_ext'
createdb bench
echo "pgbench -i -s $SCALE..."
pgbench -i -q -s "$SCALE" bench >/dev/null 2>&1
if ((RANDOM_ROWS > 0)); then
  createdb other
  psql -X -q -d other -c "CREATE TABLE noise AS SELECT g AS id, md5(random()::text) || md5(random()::text) AS a FROM generate_series(1, $RANDOM_ROWS) g"
fi
psql -X -q -d postgres -c CHECKPOINT
cluster_mib=$(psql -X -At -d postgres -c "SELECT (sum(pg_database_size(oid)) / 1048576)::bigint FROM pg_database")
accounts_mib=$(psql -X -At -d bench -c "SELECT pg_total_relation_size('pgbench_accounts') / 1048576")
timed_operation "SELECT pgbak_base_backup()"
echo "base backup: ${BACKUP_SECONDS} s"
pgbench -n -T "$WAL_SECONDS" -c 2 bench >/dev/null 2>&1
noted=$(psql -X -At -d postgres -c "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")
accounts_rows=$(psql -X -At -d bench -c "SELECT count(*) FROM pgbench_accounts")
psql -X -q -d bench -c 'DROP TABLE pgbench_accounts'
# The drop and a little more, archived.
pgbench -n -T 5 -c 2 bench >/dev/null 2>&1 || true
segment=$(psql -X -At -d postgres -c 'SELECT pg_walfile_name(pg_switch_wal())')
until [[ $(psql -X -At -d postgres -c 'SELECT last_archived_wal FROM pg_stat_archiver') > "$segment" ||
  $(psql -X -At -d postgres -c 'SELECT last_archived_wal FROM pg_stat_archiver') == "$segment" ]]; do
  sleep 0.5
done
wal_mib=$(du -sm "$STORE"/*/wal | awk '{print $1}')

pgbak_times=() hand_times=() cluster_times=()
for round in $(seq 1 "$ROUNDS"); do
  sync
  timed_operation "SELECT pgbak_recover('bench', '$noted', '{\"tables\": [\"public.pgbench_accounts\"], \"into_schema\": \"back\"}')"
  got=$(psql -X -At -d bench -c 'SELECT count(*) FROM back.pgbench_accounts')
  [[ $got == "$accounts_rows" ]] || { echo "pgbak_recover brought $got rows, not $accounts_rows" >&2; exit 1; }
  cluster=$(grep "pgbak: operation $BACKUP_ID: recovered" "$BENCH_DIR/server.log" | sed -E 's/.*cluster restored and recovered in ([0-9.]+) s.*/\1/')
  pgbak_times+=("$BACKUP_SECONDS")
  cluster_times+=("$cluster")
  psql -X -q -d bench -c 'DROP SCHEMA back CASCADE'
  echo "round $round: pgbak_recover ${BACKUP_SECONDS} s (cluster restored and recovered in ${cluster} s)"

  sync
  rm -rf "$BYHAND"
  start=$(now)
  pgbak restore-cluster --pgdata "$BYHAND" --storage "file://$STORE" --target-time "$noted" \
    --no-archive >/dev/null
  cat >>"$BYHAND/postgresql.auto.conf" <<EOF
port = $HPORT
unix_socket_directories = '$BENCH_DIR'
shared_preload_libraries = ''
EOF
  "$PG_BIN/pg_ctl" -D "$BYHAND" -l "$BENCH_DIR/byhand.log" -w -t 3600 start >/dev/null
  until [[ $(psql -X -At -p "$HPORT" -d postgres -c 'SELECT pg_is_in_recovery()' 2>/dev/null) == f ]]; do
    sleep 0.1
  done
  pg_dump -p "$HPORT" -Fc -Z0 -t public.pgbench_accounts -f "$BENCH_DIR/accounts.dump" bench
  # pg_restore cannot rename a schema: the table comes back into public
  # (the live one was dropped), then moves to a schema of its own, where
  # pgbak_recover puts it.
  psql -X -q -d bench -c 'CREATE SCHEMA back'
  pg_restore -d bench "$BENCH_DIR/accounts.dump"
  psql -X -q -d bench -c 'ALTER TABLE public.pgbench_accounts SET SCHEMA back'
  end=$(now)
  got=$(psql -X -At -d bench -c 'SELECT count(*) FROM back.pgbench_accounts')
  [[ $got == "$accounts_rows" ]] || { echo "by hand brought $got rows, not $accounts_rows" >&2; exit 1; }
  "$PG_BIN/pg_ctl" -D "$BYHAND" -m fast stop >/dev/null
  rm -rf "$BYHAND" "$BENCH_DIR/accounts.dump"
  psql -X -q -d bench -c 'DROP SCHEMA back CASCADE'
  hand=$(awk "BEGIN {print $end - $start}")
  hand_times+=("$hand")
  echo "round $round: by hand ${hand} s"
done

m_pgbak=$(printf '%s\n' "${pgbak_times[@]}" | median)
m_hand=$(printf '%s\n' "${hand_times[@]}" | median)
m_cluster=$(printf '%s\n' "${cluster_times[@]}" | median)
echo
echo "cluster: ${cluster_mib} MiB in databases, pgbench_accounts ${accounts_mib} MiB (${accounts_rows} rows), WAL archived ${wal_mib} MiB"
echo "pgbak_recover of one table: median ${m_pgbak} s (of which cluster restore + replay ${m_cluster} s)"
echo "by hand (restore-cluster, start, pg_dump -t, pg_restore): median ${m_hand} s"
echo "ratio pgbak_recover / by hand: $(awk "BEGIN {printf \"%.2f\", $m_pgbak / $m_hand}")"
