#!/usr/bin/env bash
# bench_local.sh: pgbak_ext to local storage against pg_dump -Fc, side by side.
#
# Builds a pgbench database (scale $SCALE, default 50) plus a table of
# $WIDE_ROWS (default 500,000) wide text/jsonb rows of hex digests and words
# on a throwaway cluster, then alternates, $ROUNDS times:
#   pg_dump -Fc -f file          (the baseline every DBA knows)
#   pgbak_run + pgbak_wait       (to the 'local' storage)
# and prints median wall times, their ratio, the stored-size ratio and the
# backup worker's peak RSS (VmHWM sampled from /proc while it runs).
#
# Run as root (the cluster runs as an unprivileged user) after the extension
# is installed (scripts/test-all.sh or make install):
#   bash test/bench/bench_local.sh
# Environment: SCALE, ROUNDS, WIDE_ROWS, BENCH_DIR, BENCH_USER, ZSTD_LEVEL.
set -euo pipefail

SCALE=${SCALE:-50}
ROUNDS=${ROUNDS:-3}
WIDE_ROWS=${WIDE_ROWS:-500000}
BENCH_USER=${BENCH_USER:-pgbak_test}
BENCH_DIR=${BENCH_DIR:-/var/tmp/pgbak-bench}
PORT=${PORT:-55499}
BIN=$(pg_config --bindir)

if [[ $(id -u) -eq 0 ]]; then
  id -u "$BENCH_USER" >/dev/null 2>&1 || useradd --system --create-home --shell /bin/bash "$BENCH_USER"
  mkdir -p "$BENCH_DIR"
  chown "$BENCH_USER:" "$BENCH_DIR"
  exec runuser -u "$BENCH_USER" -- env SCALE="$SCALE" ROUNDS="$ROUNDS" WIDE_ROWS="$WIDE_ROWS" \
    BENCH_DIR="$BENCH_DIR" PORT="$PORT" ZSTD_LEVEL="${ZSTD_LEVEL:-}" PATH="$BIN:/usr/bin:/bin" \
    bash "$(readlink -f "$0")"
fi

export PGHOST=$BENCH_DIR PGPORT=$PORT
DATA=$BENCH_DIR/data
cleanup() { "$BIN/pg_ctl" -D "$DATA" -m fast stop >/dev/null 2>&1 || true; }
trap cleanup EXIT

if [[ ! -f $DATA/PG_VERSION ]]; then
  "$BIN/initdb" -D "$DATA" -A trust >/dev/null
  cat >>"$DATA/postgresql.conf" <<EOF
shared_preload_libraries = 'pgbak_ext'
pgbak.database = 'postgres'
port = $PORT
unix_socket_directories = '$BENCH_DIR'
listen_addresses = ''
shared_buffers = 512MB
max_wal_size = 4GB
${ZSTD_LEVEL:+pgbak.zstd_level = $ZSTD_LEVEL}
EOF
  "$BIN/pg_ctl" -D "$DATA" -l "$BENCH_DIR/server.log" -w start >/dev/null
  psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE EXTENSION pgbak_ext"
  createdb bench
  echo "building pgbench scale $SCALE and $WIDE_ROWS wide rows..."
  pgbench -i -q -s "$SCALE" bench >/dev/null 2>&1
  psql -X -q -v ON_ERROR_STOP=1 -d bench <<EOF
CREATE TABLE wide (id bigint PRIMARY KEY, title text, body text, attrs jsonb);
-- Rows that compress like application data does: prose made of words, a
-- hex digest (which no compressor shrinks below half), JSON documents with
-- repeated keys. Not pgbench's blank filler, which any compressor removes.
CREATE TABLE words (n int PRIMARY KEY, word text);
INSERT INTO words
SELECT n - 1, w FROM unnest(string_to_array(
  'the of and to in is was for on that with as by at from his it an were are which this be '
  'backup restore database table index query server client storage archive stream compress '
  'encrypt verify schedule retention manifest snapshot transaction replica primary standby '
  'checkpoint vacuum analyze commit rollback tuple page buffer cache lock latch worker '
  'customer order invoice payment product shipment address account balance report', ' '))
  WITH ORDINALITY AS t(w, n);
INSERT INTO wide
SELECT g, 'title ' || g || ' ' || md5(g::text),
       (SELECT string_agg(word, ' ' ORDER BY i)
          FROM generate_series(1, 60) i
          JOIN words ON words.n = ((g::bigint * 7919 + i * i * 104729) % 97) % 57),
       jsonb_build_object('id', g, 'sku', md5((g * 31)::text),
                          'tags', jsonb_build_array('a' || g % 97, 'b' || g % 13),
                          'score', (g::bigint * 7919) % 1000, 'active', g % 3 = 0,
                          'created', '2026-01-01'::date + (g % 365))
FROM generate_series(1, $WIDE_ROWS) g;
VACUUM ANALYZE;
EOF
else
  "$BIN/pg_ctl" -D "$DATA" -l "$BENCH_DIR/server.log" -w start >/dev/null
  psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "ALTER EXTENSION pgbak_ext UPDATE"
fi

db_size=$(psql -X -At -d bench -c "SELECT pg_database_size('bench')")
echo "database size: $((db_size / 1024 / 1024)) MiB, $(nproc) cores, $ROUNDS rounds"

source "$(dirname "$(readlink -f "$0")")/common.sh"

dump_times=() pgbak_times=() rss_values=()
dump_size=0 pgbak_size=0
for round in $(seq 1 "$ROUNDS"); do
  rm -f "$BENCH_DIR/bench.dump"
  start=$(now)
  pg_dump -Fc -f "$BENCH_DIR/bench.dump" bench
  end=$(now)
  dump_times+=("$(awk "BEGIN {print $end - $start}")")
  dump_size=$(stat -c %s "$BENCH_DIR/bench.dump")

  timed_backup bench local
  id=$BACKUP_ID peak=$BACKUP_PEAK_KIB
  pgbak_times+=("$BACKUP_SECONDS")
  pgbak_size=$(psql -X -At -d postgres -c "SELECT stored_bytes FROM backup_log WHERE id = $id")
  rss_values+=("$peak")
  printf 'round %d: pg_dump -Fc %.2f s (%d bytes), pgbak %.2f s (%d bytes), worker peak RSS %d KiB\n' \
    "$round" "${dump_times[-1]}" "$dump_size" "${pgbak_times[-1]}" "$pgbak_size" "$peak"
  # Keep the disk from filling: only the timing matters here.
  rm -rf "$(psql -X -At -d postgres -c "SELECT location FROM backup_log WHERE id = $id")"
done

dump_median=$(printf '%s\n' "${dump_times[@]}" | median)
pgbak_median=$(printf '%s\n' "${pgbak_times[@]}" | median)
rss_max=$(printf '%s\n' "${rss_values[@]}" | sort -n | tail -1)
echo
echo "pg_dump -Fc median wall:  ${dump_median} s"
echo "pgbak_run median wall:    ${pgbak_median} s"
echo "wall ratio (pgbak / pg_dump -Fc): $(awk "BEGIN {printf \"%.3f\", $pgbak_median / $dump_median}")"
echo "size ratio (pgbak / pg_dump -Fc): $(awk "BEGIN {printf \"%.3f\", $pgbak_size / $dump_size}")"
echo "worker peak RSS: $((rss_max / 1024)) MiB"
