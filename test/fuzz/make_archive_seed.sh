#!/bin/sh
# make_archive_seed.sh: regenerates seeds/archive_scanner/small.dump, a
# complete pg_dump custom archive small enough to be a fuzzing seed, with the
# real pg_dump 15 (the unit tests' fixtures, test/unit/archive/data/, are
# megabytes long because of their 300000-row table).
#
# The seed is committed; run this only to refresh it. Like
# make_archive_fixtures.sh it starts a throwaway cluster owned by pgbak_test
# (initdb refuses root) on a private socket, fills one database with tables
# that reach every path of the scanner (odd names, empty lines, a table
# without columns, an empty table, a partitioned table, a large object, so a
# BLOBS block), dumps it as the extension does (custom format, --compress=0,
# through a pipe) and stops the cluster.
set -eu

OUT=$(cd "$(dirname "$0")" && pwd)/seeds/archive_scanner
BIN=/usr/lib/postgresql/15/bin
WORK=/tmp/pgbak_fuzz_seed
PORT=5523
USER_NAME=pgbak_test

# as_user runs a command as the cluster owner.
as_user() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u "$USER_NAME" -- "$@"
  else
    "$@"
  fi
}

if [ "$(id -u)" = 0 ]; then
  id "$USER_NAME" >/dev/null 2>&1 || useradd --system --create-home "$USER_NAME"
fi

rm -rf "$WORK"
mkdir -p "$WORK" "$OUT"
[ "$(id -u)" = 0 ] && chown "$USER_NAME" "$WORK"

as_user "$BIN/initdb" -D "$WORK/data" -U postgres --no-sync -E UTF8 --locale=C.UTF-8 >/dev/null
as_user "$BIN/pg_ctl" -D "$WORK/data" -l "$WORK/server.log" -w \
  -o "-p $PORT -c listen_addresses='' -c unix_socket_directories='$WORK' -c fsync=off" start >/dev/null
trap 'as_user "$BIN/pg_ctl" -D "$WORK/data" -m fast -w stop >/dev/null; rm -rf "$WORK"' EXIT

PSQL="$BIN/psql -X -q -v ON_ERROR_STOP=1 -h $WORK -p $PORT -U postgres"
as_user $PSQL -d postgres -c 'CREATE DATABASE fuzzseed'
as_user $PSQL -d fuzzseed -o /dev/null <<'SQL'
CREATE TABLE ints (i integer);
INSERT INTO ints SELECT g FROM generate_series(1, 20) g;
CREATE TABLE texts (id integer, body text);
INSERT INTO texts VALUES
  (1, E'line one\nline two'), (2, E'tab\there'), (3, E'back\\slash'),
  (4, 'ünïcödé ✓ 日本語'), (5, E'\r\n'), (6, NULL), (7, '');
CREATE TABLE empty_table (x integer);
CREATE TABLE edge_lines (body text);
INSERT INTO edge_lines VALUES (''), (E'\\.'), ('.'), (E'\\'), (E'\\.\n\\.');
CREATE TABLE no_columns ();
INSERT INTO no_columns DEFAULT VALUES;
CREATE SCHEMA "odd.schema name";
CREATE TABLE "odd.schema name"."MixedCase" (v text);
INSERT INTO "odd.schema name"."MixedCase" VALUES ('a'), ('b');
CREATE TABLE measurements (day date, value integer) PARTITION BY RANGE (day);
CREATE TABLE measurements_2024 PARTITION OF measurements
  FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
INSERT INTO measurements SELECT date '2024-01-01' + g, g FROM generate_series(0, 9) g;
CREATE INDEX ON ints (i);
SELECT lo_from_bytea(0, E'large\nobject\n'::bytea);
SQL

as_user "$BIN/pg_dump" -h "$WORK" -p "$PORT" -U postgres -d fuzzseed --format=custom \
  --compress=0 | cat >"$OUT/small.dump"
ls -l "$OUT/small.dump"
