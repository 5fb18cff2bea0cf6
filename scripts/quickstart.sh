#!/usr/bin/env bash
# quickstart.sh: from a fresh Debian bookworm machine to a first backup.
#
#   bash scripts/quickstart.sh      (as root)
#
# Installs the packages, builds and installs pgbak_ext, starts a throwaway
# PostgreSQL 15 cluster (owned by an unprivileged user, port 5499, in
# /var/tmp/pgbak-quickstart) with the extension preloaded, creates a sample
# database "myapp", backs it up to the embedded 'local' storage and prints
# backup_log. The cluster keeps running so that you can look around; the last
# lines say how to connect and how to stop it.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEMO_USER=${PGBAK_DEMO_USER:-pgbak_demo}
DEMO_DIR=${PGBAK_DEMO_DIR:-/var/tmp/pgbak-quickstart}
PORT=${PGBAK_DEMO_PORT:-5499}

if [[ $(id -u) -ne 0 ]]; then
  echo "quickstart.sh: run as root (it installs packages and the extension)" >&2
  exit 2
fi

bash "$SRC/scripts/install-deps.sh"
BIN=$(pg_config --bindir)
id -u "$DEMO_USER" >/dev/null 2>&1 || useradd --system --create-home --shell /bin/bash "$DEMO_USER"

# Build in a copy owned by nobody special, then install as root.
BUILD=$(mktemp -d)
tar -C "$SRC" --exclude=./build --exclude=./.git -cf - . | tar -C "$BUILD" -xf -
make -C "$BUILD" -j"$(nproc)" >"$BUILD/build.log" 2>&1 || { cat "$BUILD/build.log"; exit 1; }
make -C "$BUILD" install >/dev/null
rm -rf "$BUILD"

as_demo() { runuser -u "$DEMO_USER" -- env PATH="$BIN:/usr/bin:/bin" PGHOST="$DEMO_DIR" PGPORT="$PORT" "$@"; }

if [[ -f $DEMO_DIR/data/postmaster.pid ]]; then
  as_demo pg_ctl -D "$DEMO_DIR/data" -m fast stop >/dev/null || true
fi
rm -rf "$DEMO_DIR"
mkdir -p "$DEMO_DIR"
chown "$DEMO_USER:" "$DEMO_DIR"
as_demo initdb -D "$DEMO_DIR/data" -A peer >/dev/null
cat >>"$DEMO_DIR/data/postgresql.conf" <<EOF
# pgbak_ext
shared_preload_libraries = 'pgbak_ext'
pgbak.database = 'postgres'
port = $PORT
unix_socket_directories = '$DEMO_DIR'
listen_addresses = ''
EOF
as_demo pg_ctl -D "$DEMO_DIR/data" -l "$DEMO_DIR/server.log" -w start >/dev/null

as_demo createdb myapp
as_demo pgbench -i -q -s 1 myapp >/dev/null 2>&1
as_demo psql -X -q -d postgres -c "CREATE EXTENSION pgbak_ext"
id=$(as_demo psql -X -At -d postgres -c "SELECT pgbak_run('myapp')")
echo "queued backup $id; waiting for it..."
status=$(as_demo psql -X -At -d postgres -c "SELECT pgbak_wait($id, 600)")
as_demo psql -X -d postgres -c "\\x on" -c "SELECT * FROM backup_log ORDER BY id DESC"
echo "backup $id: $status"
echo "files:"
as_demo find "$(as_demo psql -X -At -d postgres -c "SELECT location FROM backup_log WHERE id = $id")" -type f -printf '  %p (%s bytes)\n'
cat <<EOF

Connect:  runuser -u $DEMO_USER -- psql -h $DEMO_DIR -p $PORT postgres
Stop:     runuser -u $DEMO_USER -- $BIN/pg_ctl -D $DEMO_DIR/data stop
EOF
[[ $status == succeeded ]]
