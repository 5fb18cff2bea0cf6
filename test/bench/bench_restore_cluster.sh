#!/usr/bin/env bash
# bench_restore_cluster.sh: point-in-time recovery of the bench cluster,
# `pgbak restore-cluster` + replay against `pgbackrest restore` + replay,
# side by side, and `pgbak wal-get` replay against a restore_command that
# copies plain segments (`cp`).
#
# bench_local.sh builds the bench cluster in /var/tmp/pgbak-bench; this
# script never touches it: it copies its data directory (while it is
# stopped) to $BASE_DIR once, runs that copy with archive_library =
# 'pgbak_ext' (WAL to pgbak's local storage), takes a pgbak base backup and
# a pgBackRest full backup (compress-type=zst, process-max=2), writes WAL
# with pgbench for $WAL_SECONDS seconds, then gives pgBackRest (archive-push)
# and a plain directory the same segments from pg_wal (wal_keep_size keeps
# them), and stops the cluster. Then, $ROUNDS times, into an empty
# directory each time:
#   pgbak restore-cluster --target latest, then start and wait until the
#     server has replayed the whole archive and opened (not in recovery);
#   pgbackrest restore (process-max=2), then the same;
#   the pgbak base backup again, with restore_command = 'cp <plain>/%f %p',
#     its replay only (the wal-get comparison).
# Every restored copy runs with archive_mode off and is removed after.
#
# Run as root after the extension and the pgbak command are installed;
# PG_BIN picks another PostgreSQL installation (a private one with this
# tree's extension and command):
#   bash test/bench/bench_restore_cluster.sh
# Environment: ROUNDS, WAL_SECONDS, BENCH_USER, BENCH_DIR (the bench
# cluster), SOURCE_DATA (a stopped data directory to copy instead of the
# bench cluster's, e.g. that of bench_base_backup.sh's RANDOM_ROWS copy),
# BASE_DIR, PORT, PG_BIN.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
WAL_SECONDS=${WAL_SECONDS:-60}
BENCH_USER=${BENCH_USER:-pgbak_test}
BENCH_DIR=${BENCH_DIR:-/var/tmp/pgbak-bench}
SOURCE_DATA=${SOURCE_DATA:-$BENCH_DIR/data}
BASE_DIR=${BASE_DIR:-/var/tmp/pgbak-bench-pitr}
PORT=${PORT:-55496}
PG_BIN=${PG_BIN:-$(pg_config --bindir)}

if [[ $(id -u) -eq 0 ]]; then
  command -v pgbackrest >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y pgbackrest
  mkdir -p "$BASE_DIR"
  chown "$BENCH_USER:" "$BASE_DIR"
  exec runuser -u "$BENCH_USER" -- env ROUNDS="$ROUNDS" WAL_SECONDS="$WAL_SECONDS" \
    BENCH_DIR="$BENCH_DIR" SOURCE_DATA="$SOURCE_DATA" BASE_DIR="$BASE_DIR" PORT="$PORT" \
    PG_BIN="$PG_BIN" PATH="$PG_BIN:/usr/bin:/bin" bash "$(readlink -f "$0")"
fi

export PGHOST=$BASE_DIR PGPORT=$PORT
DATA=$BASE_DIR/data
CONF=$BASE_DIR/pgbackrest.conf
STORE=$BASE_DIR/store
PLAIN=$BASE_DIR/plainwal
RESTORED=$BASE_DIR/restored
RPORT=$((PORT - 10))
cleanup() {
  "$PG_BIN/pg_ctl" -D "$RESTORED" -m immediate stop >/dev/null 2>&1 || true
  "$PG_BIN/pg_ctl" -D "$DATA" -m fast stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
source "$(dirname "$(readlink -f "$0")")/common.sh"

if [[ ! -f $BASE_DIR/prepared ]]; then
  [[ -f $SOURCE_DATA/PG_VERSION && ! -f $SOURCE_DATA/postmaster.pid ]] || {
    echo "no stopped cluster in $SOURCE_DATA: run test/bench/bench_local.sh first" >&2
    exit 1
  }
  rm -rf "$DATA" "$STORE" "$PLAIN" "$BASE_DIR/repo" "$BASE_DIR/log"
  echo "copying $SOURCE_DATA to $DATA..."
  cp -a "$SOURCE_DATA" "$DATA"
  rm -f "$DATA/postmaster.pid"
  mkdir -p "$STORE" "$PLAIN" "$BASE_DIR/repo" "$BASE_DIR/log"
  cat >"$CONF" <<EOF
[global]
repo1-path=$BASE_DIR/repo
repo1-retention-full=1
compress-type=zst
process-max=2
start-fast=y
archive-check=n
log-path=$BASE_DIR/log
lock-path=$BASE_DIR/log
spool-path=$BASE_DIR/spool
log-level-console=warn

[bench]
pg1-path=$DATA
pg1-port=$PORT
pg1-socket-path=$BASE_DIR
EOF
  # The copy's own settings last (a copy of bench_base_backup.sh's cluster
  # has an archive_command of its own: archive_library wins over it).
  cat >>"$DATA/postgresql.auto.conf" <<EOF
port = $PORT
unix_socket_directories = '$BASE_DIR'
pgbak.local_path = '$STORE'
wal_level = replica
max_wal_senders = 4
archive_mode = on
archive_library = 'pgbak_ext'
pgbak.wal_storage = 'local'
wal_keep_size = '16GB'
EOF
  "$PG_BIN/pg_ctl" -D "$DATA" -l "$BASE_DIR/server.log" -w start >/dev/null
  psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "ALTER EXTENSION pgbak_ext UPDATE"
  pgbackrest --config="$CONF" --stanza=bench stanza-create
  echo "base backups..."
  timed_operation "SELECT pgbak_base_backup()"
  pgbackrest --config="$CONF" --stanza=bench --type=full backup
  echo "pgbench for $WAL_SECONDS s..."
  pgbench -n -c 2 -j 2 -T "$WAL_SECONDS" bench >/dev/null
  last=$(psql -X -At -d postgres -c "SELECT pg_walfile_name(pg_switch_wal())")
  until [[ $(psql -X -At -d postgres -c "SELECT last_archived_wal >= '$last' FROM pg_stat_archiver") == t ]]; do
    sleep 0.5
  done
  # The same segments for pgBackRest and for the plain directory.
  for f in "$DATA"/pg_wal/[0-9A-F]*; do
    name=$(basename "$f")
    [[ ${#name} -eq 24 && $name < $last || $name == "$last" ]] || continue
    cp "$f" "$PLAIN/$name"
    pgbackrest --config="$CONF" --stanza=bench archive-push "$f"
  done
  "$PG_BIN/pg_ctl" -D "$DATA" -m fast stop >/dev/null
  echo "$last" >"$BASE_DIR/prepared"
fi

last=$(cat "$BASE_DIR/prepared")
segments=$(ls "$PLAIN" | wc -l)
wal_bytes=$(du -sb "$PLAIN" | cut -f1)
cluster_size=$(du -sb "$DATA" --exclude=pg_wal | cut -f1)
echo "cluster (without pg_wal) $((cluster_size / 1024 / 1024)) MiB; WAL to replay: $segments segments," \
  "$((wal_bytes / 1024 / 1024)) MiB; $(nproc) cores; $ROUNDS rounds"

# start_and_wait DIR: starts the restored cluster and waits until it has
# left recovery (replayed everything and opened); prints the seconds. A
# copy that opened before the last archived segment (a restore_command
# that failed quietly) stops the benchmark.
start_and_wait() {
  local dir=$1 start end
  cat >>"$dir/postgresql.auto.conf" <<EOF
port = $RPORT
unix_socket_directories = '$BASE_DIR'
archive_mode = off
pgbak.paused = on
EOF
  start=$(now)
  "$PG_BIN/pg_ctl" -D "$dir" -l "$BASE_DIR/restored.log" -W start >/dev/null
  for _ in $(seq 1 200); do
    [[ -f $dir/postmaster.pid ]] && break
    sleep 0.05
  done
  until [[ $(psql -X -At -p "$RPORT" -d postgres -c "SELECT NOT pg_is_in_recovery()" 2>/dev/null) == t ]]; do
    if ! "$PG_BIN/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
      echo "the restored cluster stopped:" >&2
      tail -20 "$BASE_DIR/restored.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  end=$(now)
  local reached
  reached=$(psql -X -At -p "$RPORT" -d postgres -c "SELECT pg_walfile_name(pg_current_wal_lsn())")
  "$PG_BIN/pg_ctl" -D "$dir" -m immediate stop >/dev/null
  if [[ ${reached:8} < ${last:8} ]]; then
    echo "the restored cluster opened at $reached, before the archive's last segment $last" >&2
    exit 1
  fi
  awk "BEGIN {print $end - $start}"
}

pgbak_restore=() pgbak_replay=() rest_restore=() rest_replay=() cp_replay=()
for round in $(seq 1 "$ROUNDS"); do
  rm -rf "$RESTORED"
  start=$(now)
  pgbak restore-cluster --pgdata "$RESTORED" --storage "file://$STORE" --target latest --no-archive >/dev/null
  end=$(now)
  pgbak_restore+=("$(awk "BEGIN {print $end - $start}")")
  pgbak_replay+=("$(start_and_wait "$RESTORED")")

  rm -rf "$RESTORED"
  start=$(now)
  pgbackrest --config="$CONF" --stanza=bench --pg1-path="$RESTORED" restore
  end=$(now)
  rest_restore+=("$(awk "BEGIN {print $end - $start}")")
  rest_replay+=("$(start_and_wait "$RESTORED")")

  rm -rf "$RESTORED"
  pgbak restore-cluster --pgdata "$RESTORED" --storage "file://$STORE" --target latest --no-archive >/dev/null
  echo "restore_command = 'cp $PLAIN/%f %p'" >>"$RESTORED/postgresql.auto.conf"
  cp_replay+=("$(start_and_wait "$RESTORED")")
  rm -rf "$RESTORED"

  printf 'round %d: pgbak restore %.2f s + replay %.2f s; pgbackrest restore %.2f s + replay %.2f s; cp replay %.2f s\n' \
    "$round" "${pgbak_restore[-1]}" "${pgbak_replay[-1]}" "${rest_restore[-1]}" "${rest_replay[-1]}" "${cp_replay[-1]}"
done

m() { printf '%s\n' "$@" | median; }
pr=$(m "${pgbak_restore[@]}") pp=$(m "${pgbak_replay[@]}") rr=$(m "${rest_restore[@]}")
rp=$(m "${rest_replay[@]}") cr=$(m "${cp_replay[@]}")
echo
echo "pgbak restore-cluster median:   ${pr} s, replay (wal-get) ${pp} s, total $(awk "BEGIN {print $pr + $pp}") s"
echo "pgbackrest restore median:      ${rr} s, replay (archive-get) ${rp} s, total $(awk "BEGIN {print $rr + $rp}") s"
echo "replay with cp of plain segments median: ${cr} s"
echo "total ratio (pgbak / pgbackrest):   $(awk "BEGIN {printf \"%.3f\", ($pr + $pp) / ($rr + $rp)}")"
echo "restore ratio (pgbak / pgbackrest): $(awk "BEGIN {printf \"%.3f\", $pr / $rr}")"
echo "replay ratio (wal-get / cp):        $(awk "BEGIN {printf \"%.3f\", $pp / $cr}")"
