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
#
# A full disk needs a disk that can fill up, and only root can mount one: two
# tmpfs are mounted for test/t/019_full_disk.pl (a 64 MB one that backups and
# restores fill, and a 256 MB one that holds a cluster's data directory),
# passed to the tests as PGBAK_TEST_SMALL_FS and PGBAK_TEST_DATA_FS, and
# unmounted when this script ends, however it ends. If they cannot be
# mounted, that test is skipped, or fails under CI=true.
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

# Small file systems of their own for the full-disk test, owned by the test
# user; mounted below WORK's parent, never inside the tree that is copied.
FS_DIR=${PGBAK_TEST_FS_DIR:-/var/tmp/pgbak_ext-test-fs}
SMALL_FS="$FS_DIR/small"
DATA_FS="$FS_DIR/data"
unmount_test_fs() {
  for mounted in "$SMALL_FS" "$DATA_FS"; do
    if mountpoint -q "$mounted"; then umount "$mounted" || umount -l "$mounted"; fi
  done
  rmdir "$SMALL_FS" "$DATA_FS" "$FS_DIR" 2>/dev/null || true
}
trap unmount_test_fs EXIT
unmount_test_fs
mkdir -p "$SMALL_FS" "$DATA_FS"
fs_options="mode=0700,uid=$(id -u "$TEST_USER"),gid=$(id -g "$TEST_USER")"
if mount -t tmpfs -o "size=64m,$fs_options" pgbak_small "$SMALL_FS" &&
  mount -t tmpfs -o "size=256m,$fs_options" pgbak_data "$DATA_FS"; then
  fs_env=("PGBAK_TEST_SMALL_FS=$SMALL_FS" "PGBAK_TEST_DATA_FS=$DATA_FS")
else
  echo "test-all.sh: could not mount the tmpfs for the full-disk test (019_full_disk.pl)" >&2
  fs_env=()
fi

as_user() { runuser -u "$TEST_USER" -- env -i PATH=/usr/bin:/bin HOME="$(getent passwd "$TEST_USER" | cut -d: -f6)" LANG=C.UTF-8 ${CI:+CI="$CI"} "${fs_env[@]}" "$@"; }

echo "== build (as $TEST_USER)"
as_user make -C "$WORK" -j"$(nproc)" >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; exit 1; }
echo "== install (as root)"
make -C "$WORK" install >"$WORK/install.log" 2>&1 || { cat "$WORK/install.log"; exit 1; }

echo "== tests (as $TEST_USER)"
as_user bash "$WORK/scripts/run-tests.sh" "$WORK"
