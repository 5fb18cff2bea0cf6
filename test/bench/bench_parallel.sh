#!/usr/bin/env bash
# bench_parallel.sh: the backup option "jobs" (parallel export) against
# pg_dump -Fc and pg_dump -Fd -j, side by side in one run.
#
# On the cluster bench_local.sh builds (BENCH_DIR, its database "bench":
# pgbench plus wide text/jsonb rows), this adds, once:
#   bench_md5    $MD5_ROWS rows of random md5 text in four tables (40, 30,
#                20, 10 %), data that no compressor shrinks much
#   bench_small  $SMALL_TABLES tables of one row each, where a parallel
#                export has nothing to split and must not cost anything
#   bench_issue  the database issue #19 names (only if listed in DATABASES):
#                pgbench scale $ISSUE_SCALE (default 100) plus $ISSUE_ROWS
#                (default 1,000,000) rows of md5 text and jsonb, about
#                1.2 GB of raw dump
# and measures, $ROUNDS times per database ($SMALL_ROUNDS for bench_small,
# default 1: its pg_dump runs take minutes):
#   pg_dump -Fc -f file, pg_dump -Fd -j $JOBS -f dir,
#   pgbak_run with jobs 1 and with jobs $JOBS (to the 'local' storage),
#   pgbak_restore of both sets with jobs $JOBS, and pg_restore -j $JOBS of
#   the pg_dump -Fc file, each after CHECKPOINT and sync (RESTORE=0 leaves
#   them out),
# printing median wall times, ratios to pg_dump -Fc, stored sizes and the
# backup worker's peak RSS (VmHWM).
#
# Run as root after bench_local.sh built the cluster; BIN chooses the
# PostgreSQL binaries (with pgbak_ext installed) that run it:
#   bash test/bench/bench_parallel.sh
# The databases it adds are dropped at the end (KEEP_DATABASES=1 keeps
# them), so that the shared cluster stays what bench_local.sh built for the
# other benchmarks, which copy or back up all of it.
# Environment: ROUNDS, SMALL_ROUNDS, JOBS, MD5_ROWS, SMALL_TABLES, ISSUE_SCALE,
# ISSUE_ROWS, RESTORE, DATABASES, KEEP_DATABASES, BENCH_DIR,
# BENCH_USER, PORT, BIN.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
SMALL_ROUNDS=${SMALL_ROUNDS:-1}
JOBS=${JOBS:-2}
MD5_ROWS=${MD5_ROWS:-4000000}
SMALL_TABLES=${SMALL_TABLES:-20000}
ISSUE_SCALE=${ISSUE_SCALE:-100}
ISSUE_ROWS=${ISSUE_ROWS:-1000000}
RESTORE=${RESTORE:-1}
DATABASES=${DATABASES:-bench bench_md5 bench_small}
KEEP_DATABASES=${KEEP_DATABASES:-0}
BENCH_USER=${BENCH_USER:-pgbak_test}
BENCH_DIR=${BENCH_DIR:-/var/tmp/pgbak-bench}
PORT=${PORT:-55499}
BIN=${BIN:-$(pg_config --bindir)}

if [[ $(id -u) -eq 0 ]]; then
  exec runuser -u "$BENCH_USER" -- env ROUNDS="$ROUNDS" SMALL_ROUNDS="$SMALL_ROUNDS" JOBS="$JOBS" MD5_ROWS="$MD5_ROWS" \
    SMALL_TABLES="$SMALL_TABLES" ISSUE_SCALE="$ISSUE_SCALE" ISSUE_ROWS="$ISSUE_ROWS" RESTORE="$RESTORE" DATABASES="$DATABASES" KEEP_DATABASES="$KEEP_DATABASES" BENCH_DIR="$BENCH_DIR" PORT="$PORT" \
    BIN="$BIN" PATH="$BIN:/usr/bin:/bin" bash "$(readlink -f "$0")"
fi

export PGHOST=$BENCH_DIR PGPORT=$PORT
DATA=$BENCH_DIR/data
[[ -f $DATA/PG_VERSION ]] || { echo "no cluster in $DATA: run bench_local.sh first" >&2; exit 1; }
cleanup() {
  if [[ $KEEP_DATABASES != 1 ]]; then
    dropdb --if-exists bench_md5 >/dev/null 2>&1 || true
    dropdb --if-exists bench_small >/dev/null 2>&1 || true
    dropdb --if-exists bench_issue >/dev/null 2>&1 || true
    psql -X -q -d postgres -c "ALTER SYSTEM RESET max_locks_per_transaction" >/dev/null 2>&1 || true
  fi
  "$BIN/pg_ctl" -D "$DATA" -m fast stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
"$BIN/pg_ctl" -D "$DATA" -l "$BENCH_DIR/server.log" -w start >/dev/null
# pg_dump locks every table in one transaction: 20,000 tables need more
# than the default lock table.
if (($(psql -X -At -d postgres -c "SHOW max_locks_per_transaction") < 1024)); then
  psql -X -q -d postgres -c "ALTER SYSTEM SET max_locks_per_transaction = 1024"
  "$BIN/pg_ctl" -D "$DATA" -l "$BENCH_DIR/server.log" -w restart >/dev/null
fi
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "ALTER EXTENSION pgbak_ext UPDATE"

source "$(dirname "$(readlink -f "$0")")/common.sh"

exists() { [[ $(psql -X -At -d postgres -c "SELECT count(*) FROM pg_database WHERE datname = '$1'") == 1 ]]; }

if ! exists bench_md5; then
  echo "building bench_md5: $MD5_ROWS rows of random md5 text..."
  createdb bench_md5
  psql -X -q -v ON_ERROR_STOP=1 -d bench_md5 <<SQL
CREATE TABLE md5_a (id bigint, a text, b text);
CREATE TABLE md5_b (id bigint, a text, b text);
CREATE TABLE md5_c (id bigint, a text, b text);
CREATE TABLE md5_d (id bigint, a text, b text);
INSERT INTO md5_a SELECT g, md5(random()::text), md5(random()::text) FROM generate_series(1, $MD5_ROWS * 4 / 10) g;
INSERT INTO md5_b SELECT g, md5(random()::text), md5(random()::text) FROM generate_series(1, $MD5_ROWS * 3 / 10) g;
INSERT INTO md5_c SELECT g, md5(random()::text), md5(random()::text) FROM generate_series(1, $MD5_ROWS * 2 / 10) g;
INSERT INTO md5_d SELECT g, md5(random()::text), md5(random()::text) FROM generate_series(1, $MD5_ROWS / 10) g;
VACUUM ANALYZE;
SQL
fi
if ! exists bench_small; then
  echo "building bench_small: $SMALL_TABLES tables of one row..."
  createdb bench_small
  for ((first = 1; first <= SMALL_TABLES; first += 1000)); do
    psql -X -q -v ON_ERROR_STOP=1 -d bench_small -c "DO \$\$ BEGIN
      FOR i IN $first..$((first + 999 < SMALL_TABLES ? first + 999 : SMALL_TABLES)) LOOP
        EXECUTE format('CREATE TABLE t%s (id int PRIMARY KEY, v text)', i);
        EXECUTE format('INSERT INTO t%s VALUES (1, %L)', i, md5(i::text));
      END LOOP; END \$\$"
  done
fi

if [[ " $DATABASES " == *" bench_issue "* ]] && ! exists bench_issue; then
  echo "building bench_issue: pgbench scale $ISSUE_SCALE and $ISSUE_ROWS rows of md5 text and jsonb..."
  createdb bench_issue
  pgbench -i -q -s "$ISSUE_SCALE" bench_issue >/dev/null 2>&1
  psql -X -q -v ON_ERROR_STOP=1 -d bench_issue <<SQL
CREATE TABLE docs (id bigint PRIMARY KEY, digest text, doc jsonb);
INSERT INTO docs
  SELECT g, md5(random()::text),
         jsonb_build_object('id', g, 'key', md5(g::text), 'n', (random() * 1000)::int,
                            'tags', jsonb_build_array(md5(random()::text), g % 97))
  FROM generate_series(1, $ISSUE_ROWS) g;
VACUUM ANALYZE;
SQL
fi

# settle: the next restore starts from a settled machine (the previous one's
# writes are out), as in bench_restore.sh.
settle() {
  psql -X -q -d postgres -c CHECKPOINT
  sync
}

# seconds CMD...: wall time of a command.
seconds() {
  local start end
  start=$(now)
  "$@"
  end=$(now)
  awk "BEGIN {print $end - $start}"
}

ratio() { awk "BEGIN {printf \"%.3f\", $1 / $2}"; }

for db in $DATABASES; do
  size=$(psql -X -At -d postgres -c "SELECT pg_database_size('$db')")
  rounds=$ROUNDS
  [[ $db == bench_small ]] && rounds=$SMALL_ROUNDS
  echo
  echo "== $db: $((size / 1024 / 1024)) MiB, $(nproc) cores, $rounds rounds, jobs $JOBS"
  fc=() fd=() one=() many=() rone=() rmany=() rfc=()
  fc_size=0 fd_size=0 one_size=0 many_size=0 one_rss=0 many_rss=0
  for round in $(seq 1 "$rounds"); do
    rm -rf "$BENCH_DIR/p.dump" "$BENCH_DIR/p.dir"
    fc+=("$(seconds pg_dump -Fc -f "$BENCH_DIR/p.dump" "$db")")
    fc_size=$(stat -c %s "$BENCH_DIR/p.dump")
    if [[ $RESTORE == 1 && $db != bench_small ]]; then
      createdb bench_restored
      settle
      rfc+=("$(seconds pg_restore -j "$JOBS" -d bench_restored "$BENCH_DIR/p.dump")")
      dropdb bench_restored
    fi
    rm -f "$BENCH_DIR/p.dump"
    fd+=("$(seconds pg_dump -Fd -j "$JOBS" -f "$BENCH_DIR/p.dir" "$db")")
    fd_size=$(du -sb "$BENCH_DIR/p.dir" | cut -f1)
    rm -rf "$BENCH_DIR/p.dir"
    for jobs in 1 "$JOBS"; do
      timed_operation "SELECT pgbak_run('$db', 'local', '{\"jobs\": $jobs}')"
      id=$BACKUP_ID
      stored=$(psql -X -At -d postgres -c "SELECT stored_bytes FROM backup_log WHERE id = $id")
      if [[ $jobs == 1 ]]; then
        raw=$(psql -X -At -d postgres -c "SELECT raw_bytes FROM backup_log WHERE id = $id")
        one+=("$BACKUP_SECONDS") one_size=$stored
        ((BACKUP_PEAK_KIB > one_rss)) && one_rss=$BACKUP_PEAK_KIB
      else
        many+=("$BACKUP_SECONDS") many_size=$stored
        ((BACKUP_PEAK_KIB > many_rss)) && many_rss=$BACKUP_PEAK_KIB
      fi
      if [[ $RESTORE == 1 && $db != bench_small ]]; then
        settle
        timed_operation "SELECT pgbak_restore($id, 'bench_restored', '{\"jobs\": $JOBS}')"
        if [[ $jobs == 1 ]]; then rone+=("$BACKUP_SECONDS"); else rmany+=("$BACKUP_SECONDS"); fi
        dropdb bench_restored
      fi
      rm -rf "$(psql -X -At -d postgres -c "SELECT location FROM backup_log WHERE id = $id")"
    done
    printf 'round %d: -Fc %.2f s, -Fd -j%d %.2f s, pgbak jobs 1 %.2f s, jobs %d %.2f s\n' \
      "$round" "${fc[-1]}" "$JOBS" "${fd[-1]}" "${one[-1]}" "$JOBS" "${many[-1]}"
  done
  m_fc=$(printf '%s\n' "${fc[@]}" | median)
  m_fd=$(printf '%s\n' "${fd[@]}" | median)
  m_one=$(printf '%s\n' "${one[@]}" | median)
  m_many=$(printf '%s\n' "${many[@]}" | median)
  echo "raw dump (pgbak jobs 1, uncompressed): $raw bytes"
  echo "pg_dump -Fc:          ${m_fc} s, $fc_size bytes"
  echo "pg_dump -Fd -j$JOBS:      ${m_fd} s ($(ratio "$m_fd" "$m_fc") of -Fc), $fd_size bytes ($(ratio "$fd_size" "$fc_size"))"
  echo "pgbak jobs 1:         ${m_one} s ($(ratio "$m_one" "$m_fc") of -Fc), $one_size bytes ($(ratio "$one_size" "$fc_size")), peak RSS $((one_rss / 1024)) MiB"
  echo "pgbak jobs $JOBS:         ${m_many} s ($(ratio "$m_many" "$m_fc") of -Fc), $many_size bytes ($(ratio "$many_size" "$fc_size")), peak RSS $((many_rss / 1024)) MiB"
  echo "jobs $JOBS / jobs 1 wall: $(ratio "$m_many" "$m_one")"
  if ((${#rone[@]} > 0)); then
    r_one=$(printf '%s\n' "${rone[@]}" | median)
    r_many=$(printf '%s\n' "${rmany[@]}" | median)
    r_fc=$(printf '%s\n' "${rfc[@]}" | median)
    echo "pg_restore -j$JOBS of the -Fc file: ${r_fc} s"
    echo "pgbak_restore (jobs $JOBS) of the jobs 1 set: ${r_one} s ($(ratio "$r_one" "$r_fc") of pg_restore), of the jobs $JOBS set: ${r_many} s ($(ratio "$r_many" "$r_fc") of pg_restore, $(ratio "$r_many" "$r_one") of jobs 1)"
  fi
done
