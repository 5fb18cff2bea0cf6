#!/usr/bin/env bash
# test-all.sh: sets up everything and runs all pgbak_ext tests on a fresh
# Debian bookworm machine. Run as root:
#
#   bash scripts/test-all.sh      (as root)
#
# It installs the packages, copies the tree to a work directory owned by an
# unprivileged user (initdb refuses root), builds there, installs the
# extension, and runs the unit tests (ctest), pg_regress and the TAP tests as
# that user. The last line reads "N passed, M failed".
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TEST_USER=${PGBAK_TEST_USER:-pgbak_test}
WORK=${PGBAK_TEST_DIR:-/var/tmp/pgbak_ext-test}

if [[ $(id -u) -ne 0 ]]; then
  echo "test-all.sh: run as root (it installs packages and the extension)" >&2
  exit 2
fi

bash "$SRC/scripts/install-deps.sh"

if ! id -u "$TEST_USER" >/dev/null 2>&1; then
  useradd --system --create-home --shell /bin/bash "$TEST_USER"
fi

rm -rf "$WORK"
mkdir -p "$WORK"
tar -C "$SRC" --exclude=./build --exclude=./.git --exclude=./node_modules \
  --exclude=./results --exclude=./tmp_check -cf - . | tar -C "$WORK" -xf -
chown -R "$TEST_USER:" "$WORK"

as_user() { runuser -u "$TEST_USER" -- env -i PATH=/usr/bin:/bin HOME="$(getent passwd "$TEST_USER" | cut -d: -f6)" LANG=C.UTF-8 "$@"; }

echo "== build (as $TEST_USER)"
as_user make -C "$WORK" -j"$(nproc)" >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; exit 1; }
echo "== install (as root)"
make -C "$WORK" install >"$WORK/install.log" 2>&1 || { cat "$WORK/install.log"; exit 1; }

echo "== tests (as $TEST_USER)"
as_user bash "$WORK/scripts/run-tests.sh" "$WORK"
