# common.sh: helpers shared by the benchmarks (sourced, not run).

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# timed_operation SQL: runs SQL, which queues one operation and returns its
# id (pgbak_run, pgbak_base_backup), and waits for it in one session (as a
# user would), sampling the worker's peak RSS from /proc meanwhile: reading
# /proc costs nothing, unlike polling with psql, which would steal CPU from
# the operation being measured. Sets BACKUP_ID, BACKUP_SECONDS and
# BACKUP_PEAK_KIB; exits if the operation did not succeed.
timed_operation() {
  local queue_sql=$1 start end waiter pid='' hwm status
  start=$(now)
  BACKUP_ID=$(psql -X -At -d postgres -c "$queue_sql")
  psql -X -At -d postgres -c "SELECT pgbak_wait($BACKUP_ID, 3600)" >"$BENCH_DIR/status" &
  waiter=$!
  BACKUP_PEAK_KIB=0
  while kill -0 "$waiter" 2>/dev/null; do
    if [[ -z $pid ]]; then
      pid=$(pgrep -u "$(id -u)" -f "pgbak worker for operation ${BACKUP_ID}( |\$)" | head -1 || true)
    elif [[ -r /proc/$pid/status ]]; then
      hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
      ((${hwm:-0} > BACKUP_PEAK_KIB)) && BACKUP_PEAK_KIB=$hwm
    fi
    sleep 0.05
  done
  wait "$waiter"
  end=$(now)
  status=$(cat "$BENCH_DIR/status")
  if [[ $status != succeeded ]]; then
    echo "operation $BACKUP_ID ($queue_sql) ended $status:" >&2
    psql -X -At -d postgres -c "SELECT error_message, error_detail FROM backup_log WHERE id = $BACKUP_ID" >&2
    exit 1
  fi
  BACKUP_SECONDS=$(awk "BEGIN {print $end - $start}")
}

# timed_backup DB STORAGE: timed_operation of one pgbak_run to STORAGE.
timed_backup() { timed_operation "SELECT pgbak_run('$1', '$2')"; }
