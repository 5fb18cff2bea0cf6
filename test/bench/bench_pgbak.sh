#!/usr/bin/env bash
# bench_pgbak.sh: the pgbak command against the stock tools, side by side,
# on two databases: the one bench_local.sh builds (pgbench and prose-like
# text, which compresses well) and one of random md5 text (which does not).
#
# For each database, once: pg_dump -Fc to a file and one pgbak_run to the
# local storage. Then, $ROUNDS times, alternating, each from a settled
# machine (CHECKPOINT, sync):
#   restore: createdb + pg_restore -j $JOBS of the pg_dump -Fc file   (baseline)
#            createdb + pgbak restore SET --jobs $JOBS                 (reads back,
#                                   checks, stages, then runs pg_restore -j)
#   fetch:   zstd -d of the set's data object to a file                (baseline)
#            pgbak fetch SET DIR --no-sync   (checks every object, fills in
#                                   data offsets; zstd does not fsync either)
# and prints median wall times, ratios, and the peak RSS of pgbak
# (/usr/bin/time).
#
#   bash test/bench/bench_local.sh      # once: builds the cluster
#   bash test/bench/bench_pgbak.sh      # ROUNDS=3 JOBS=2 RANDOM_ROWS=3000000
set -euo pipefail

ROUNDS=${ROUNDS:-3}
JOBS=${JOBS:-2}
RANDOM_ROWS=${RANDOM_ROWS:-3000000}
BENCH_USER=${BENCH_USER:-pgbak_test}
BENCH_DIR=${BENCH_DIR:-/var/tmp/pgbak-bench}
PORT=${PORT:-55499}
BIN=$(pg_config --bindir)

if [[ $(id -u) -eq 0 ]]; then
  exec runuser -u "$BENCH_USER" -- env ROUNDS="$ROUNDS" JOBS="$JOBS" RANDOM_ROWS="$RANDOM_ROWS" \
    BENCH_DIR="$BENCH_DIR" PORT="$PORT" PATH="$BIN:/usr/bin:/bin" bash "$(readlink -f "$0")"
fi

export PGHOST=$BENCH_DIR PGPORT=$PORT
DATA=$BENCH_DIR/data
[[ -f $DATA/PG_VERSION ]] || { echo "run test/bench/bench_local.sh first" >&2; exit 2; }
[[ -x $BIN/pgbak ]] || { echo "pgbak is not installed in $BIN (make install)" >&2; exit 2; }
cleanup() { "$BIN/pg_ctl" -D "$DATA" -m fast stop >/dev/null 2>&1 || true; }
trap cleanup EXIT
"$BIN/pg_ctl" -D "$DATA" -l "$BENCH_DIR/server.log" -w start >/dev/null

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
settle() {
  psql -X -q -d postgres -c CHECKPOINT
  sync
}
ratio() { awk "BEGIN {printf \"%.3f\", $1 / $2}"; }
# peak_rss FILE: the peak RSS in MiB that /usr/bin/time -f %M wrote to FILE.
peak_rss() { awk '{printf "%.0f", $1 / 1024}' "$1"; }

psql -X -q -d postgres -c "ALTER EXTENSION pgbak_ext UPDATE" >/dev/null
if [[ -z $(psql -X -At -d postgres -c "SELECT 1 FROM pg_database WHERE datname = 'bench_random'") ]]; then
  echo "building bench_random: $RANDOM_ROWS rows of md5 text..."
  createdb bench_random
  psql -X -q -d bench_random -c "CREATE TABLE r (id int PRIMARY KEY, a text, b text, c text);
    INSERT INTO r SELECT g, md5(random()::text), md5(random()::text) || md5(random()::text),
      md5(random()::text) FROM generate_series(1, $RANDOM_ROWS) g;"
fi
root=$(psql -X -At -d postgres -c "SELECT pgbak_local_path()")
work=$BENCH_DIR/pgbak-cli
mkdir -p "$work"
summary=()
for db in bench bench_random; do
  pg_dump -Fc -f "$BENCH_DIR/ref.dump" "$db"
  id=$(psql -X -At -d postgres -c "SELECT pgbak_run('$db')")
  [[ $(psql -X -At -d postgres -c "SELECT pgbak_wait($id)") == succeeded ]] || exit 1
  set_dir=$(psql -X -At -d postgres -c "SELECT location FROM backup_log WHERE id = $id")
  size=$(($(psql -X -At -d "$db" -c "SELECT pg_database_size('$db')") / 1024 / 1024))
  stored=$(($(stat -c %s "$set_dir/data.dump.zst") / 1024 / 1024))
  echo "== $db: $size MiB database, data object $stored MiB, -j $JOBS, $ROUNDS rounds"
  ref=() cli=() unzstd=() fetch=() rss=0
  for round in $(seq 1 "$ROUNDS"); do
    dropdb --if-exists r_ref
    settle
    start=$(now)
    createdb r_ref
    pg_restore -j "$JOBS" -d r_ref "$BENCH_DIR/ref.dump"
    ref+=("$(awk "BEGIN {print $(now) - $start}")")
    dropdb r_ref

    dropdb --if-exists r_cli
    settle
    start=$(now)
    createdb r_cli
    /usr/bin/time -f %M -o "$work/rss" pgbak restore "$set_dir" --storage "file://$root" \
      --dbname r_cli --jobs "$JOBS" --work-dir "$work" >/dev/null
    cli+=("$(awk "BEGIN {print $(now) - $start}")")
    rss=$(( $(peak_rss "$work/rss") > rss ? $(peak_rss "$work/rss") : rss ))
    dropdb r_cli

    settle
    start=$(now)
    zstd -q -d "$set_dir/data.dump.zst" -o "$work/zstd.dump"
    unzstd+=("$(awk "BEGIN {print $(now) - $start}")")
    rm -f "$work/zstd.dump"

    settle
    start=$(now)
    /usr/bin/time -f %M -o "$work/rss" pgbak fetch "$set_dir" "$work/fetched" \
      --storage "file://$root" --no-sync >/dev/null
    fetch+=("$(awk "BEGIN {print $(now) - $start}")")
    rss=$(( $(peak_rss "$work/rss") > rss ? $(peak_rss "$work/rss") : rss ))
    rm -rf "$work/fetched"

    printf 'round %d: pg_restore -j %d %.2f s, pgbak restore %.2f s; zstd -d %.2f s, pgbak fetch %.2f s\n' \
      "$round" "$JOBS" "${ref[-1]}" "${cli[-1]}" "${unzstd[-1]}" "${fetch[-1]}"
  done
  r=$(printf '%s\n' "${ref[@]}" | median)
  c=$(printf '%s\n' "${cli[@]}" | median)
  z=$(printf '%s\n' "${unzstd[@]}" | median)
  f=$(printf '%s\n' "${fetch[@]}" | median)
  summary+=("$db: pgbak restore --jobs $JOBS $c s vs pg_restore -j $JOBS $r s (ratio $(ratio "$c" "$r")); pgbak fetch $f s vs zstd -d $z s (ratio $(ratio "$f" "$z")); pgbak peak RSS $rss MiB")
  rm -f "$BENCH_DIR/ref.dump"
done
rmdir "$work" 2>/dev/null || true
echo
printf '%s\n' "${summary[@]}"
