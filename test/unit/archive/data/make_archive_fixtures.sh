#!/bin/sh
# make_archive_fixtures.sh: regenerates the pg_dump archives that
# test/unit/archive/archive_scanner_test.cpp reads, with the real pg_dump 15.
#
# The archives are committed; run this only to refresh them, then copy what
# it prints (row counts, dump ids from the pg_restore -l listing, and the data
# offsets pg_dump recorded) into kFixtureTables. It starts a throwaway
# cluster owned by pgbak_test (initdb refuses root) on a private socket,
# fills one database, dumps it the way the extension does (custom format,
# --compress=0, through a pipe), and stops the cluster.
#
# The 300000-row table makes the archives megabytes long, so they are
# committed zstd-compressed (the test decompresses them with ZstdDecompressSink).
set -eu

OUT=$(cd "$(dirname "$0")" && pwd)
BIN=/usr/lib/postgresql/15/bin
WORK=/tmp/scanfix
PORT=5522
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
mkdir -p "$WORK"
[ "$(id -u)" = 0 ] && chown "$USER_NAME" "$WORK"

as_user "$BIN/initdb" -D "$WORK/data" -U postgres --no-sync -E UTF8 --locale=C.UTF-8 >/dev/null
as_user "$BIN/pg_ctl" -D "$WORK/data" -l "$WORK/server.log" -w \
  -o "-p $PORT -c listen_addresses='' -c unix_socket_directories='$WORK' -c fsync=off" start >/dev/null
trap 'as_user "$BIN/pg_ctl" -D "$WORK/data" -m fast -w stop >/dev/null' EXIT

PSQL="$BIN/psql -X -q -v ON_ERROR_STOP=1 -h $WORK -p $PORT -U postgres"
as_user $PSQL -d postgres -c 'CREATE DATABASE scanfix'
as_user $PSQL -d scanfix -o /dev/null <<'SQL'
CREATE TABLE ints (i integer);
INSERT INTO ints SELECT g FROM generate_series(1, 1000) g;

-- COPY text escapes newlines, tabs and backslashes inside values, so every
-- raw newline in the data ends exactly one row.
CREATE TABLE texts (id integer, body text);
INSERT INTO texts VALUES
  (1, E'line one\nline two'),
  (2, E'tab\there'),
  (3, E'back\\slash'),
  (4, 'ünïcödé ✓ 日本語'),
  (5, E'\n'),
  (6, E'\r\n'),
  (7, NULL),
  (8, ''),
  (9, E'multi\n\n\nnewlines\\n');

CREATE TABLE empty_table (x integer);

-- Lines that look like COPY's end marker ("\.") or are empty but are rows:
-- a one-column table with '', a literal backslash-dot and a backslash, and a
-- table without columns, whose rows are empty lines.
CREATE TABLE edge_lines (body text);
INSERT INTO edge_lines VALUES (''), (E'\\.'), ('.'), (E'\\'), (E'\\.\n\\.');
CREATE TABLE no_columns ();
INSERT INTO no_columns DEFAULT VALUES;
INSERT INTO no_columns DEFAULT VALUES;

CREATE SCHEMA "odd.schema name";
CREATE TABLE "odd.schema name"."MixedCase" (v text);
INSERT INTO "odd.schema name"."MixedCase" VALUES ('a'), ('b'), ('c');

CREATE TABLE measurements (day date, value integer) PARTITION BY RANGE (day);
CREATE TABLE measurements_2023 PARTITION OF measurements
  FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
CREATE TABLE measurements_2024 PARTITION OF measurements
  FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
INSERT INTO measurements SELECT date '2023-01-01' + g, g FROM generate_series(0, 500) g;

SELECT lo_from_bytea(0, E'large\nobject\nwith newlines\n'::bytea);

CREATE SEQUENCE counter;
SELECT nextval('counter') FROM generate_series(1, 42);

CREATE MATERIALIZED VIEW ints_summary AS SELECT count(*) AS n FROM ints;

-- Periodic values keep the compressed fixture small.
CREATE TABLE big (i integer, label text);
INSERT INTO big SELECT g % 1000, repeat('x', g % 7) FROM generate_series(1, 300000) g;
SQL

echo "expected rows:"
as_user $PSQL -d scanfix -At -F ' ' <<'SQL'
SELECT 'ints', count(*) FROM ints
UNION ALL SELECT 'texts', count(*) FROM texts
UNION ALL SELECT 'empty_table', count(*) FROM empty_table
UNION ALL SELECT 'edge_lines', count(*) FROM edge_lines
UNION ALL SELECT 'no_columns', count(*) FROM no_columns
UNION ALL SELECT 'MixedCase', count(*) FROM "odd.schema name"."MixedCase"
UNION ALL SELECT 'measurements_2023', count(*) FROM measurements_2023
UNION ALL SELECT 'measurements_2024', count(*) FROM measurements_2024
UNION ALL SELECT 'big', count(*) FROM big;
SQL

DUMP="$BIN/pg_dump -h $WORK -p $PORT -U postgres -d scanfix"
# Through a pipe, as the extension runs it: the TOC has no data offsets.
as_user $DUMP --format=custom --compress=0 | cat | zstd -q -19 -o "$OUT/custom.dump.zst" -f
# Written to a file: pg_dump seeks back and fills in the data offsets.
as_user $DUMP --format=custom --compress=0 -f "$WORK/seekable.dump"
zstd -q -19 -c "$WORK/seekable.dump" >"$OUT/seekable.dump.zst"
echo "data offsets recorded by pg_dump in seekable.dump:"
as_user "$BIN/pg_restore" --verbose -f - "$WORK/seekable.dump" 2>/dev/null |
  grep -A1 '^-- Data for Name: ' | grep -v '^--$'
as_user "$BIN/pg_restore" -l "$WORK/seekable.dump" | grep -E 'TABLE DATA|BLOBS'
as_user $DUMP --format=custom --compress=1 | cat | zstd -q -19 -o "$OUT/compressed.dump.zst" -f
as_user $DUMP --format=plain | cat | zstd -q -19 -o "$OUT/plain.sql.zst" -f
ls -l "$OUT"
