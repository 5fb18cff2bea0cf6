#!/usr/bin/env bash
# install-deps.sh: installs everything pgbak_ext needs to build and test on
# Debian bookworm with PostgreSQL 15. Run as root; safe to run again.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export DEBIAN_FRONTEND=noninteractive
APT_GET="apt-get -y -q -o Dpkg::Use-Pty=0"

# libexpat1-dev reads S3's XML answers. clang with libclang-rt-14-dev
# (libFuzzer and the sanitizer runtimes) builds the fuzz harnesses of
# test/fuzz/, which check our JSON parser against nlohmann-json3-dev.
packages=(build-essential cmake pkg-config git
          libcurl4-openssl-dev libzstd-dev libssl-dev libexpat1-dev libgtest-dev
          libipc-run-perl zstd clang-format curl
          clang libclang-rt-14-dev nlohmann-json3-dev
          postgresql-15 postgresql-client-15 postgresql-contrib
          awscli age)

missing=()
# promtool (from prometheus) checks pgbak_metrics() output in the tests.
for p in "${packages[@]}" postgresql-server-dev-15 prometheus; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The S3 test stack runs on Node.js; a machine may already have a newer one
# (with its own npm) than Debian's, which is then left alone.
command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)

if ((${#missing[@]} == 0)); then
  echo "install-deps: all packages present"
else
  $APT_GET update
  $APT_GET install "${packages[@]}"
  $APT_GET install --no-install-recommends prometheus
  command -v node >/dev/null && command -v npm >/dev/null || $APT_GET install nodejs npm
  # The server headers must match the installed server exactly; unpinned, apt
  # would upgrade the server binaries along with them.
  server_version=$(dpkg-query -W -f='${Version}' postgresql-15)
  if ! $APT_GET install "postgresql-server-dev-15=${server_version}"; then
    echo "install-deps: postgresql-server-dev-15=${server_version} not available, installing unpinned" >&2
    $APT_GET install postgresql-server-dev-15
  fi
fi

# The S3 test stack (test/s3: s3rver behind a SigV4-verifying proxy) comes
# from npm, pinned by its package-lock.json. npm ci starts from scratch, so
# it runs only when the lock changed since the last successful install.
s3_dir="$SRC/test/s3"
stamp="$s3_dir/node_modules/.pgbak-package-lock.sha256"
lock_sum=$(sha256sum "$s3_dir/package-lock.json" | cut -d' ' -f1)
if [[ -f $stamp && $(cat "$stamp") == "$lock_sum" ]]; then
  echo "install-deps: test/s3 node modules present"
else
  npm_log=$(mktemp)
  if ! (cd "$s3_dir" && npm ci --no-audit --no-fund --loglevel=error </dev/null >"$npm_log" 2>&1); then
    cat "$npm_log" >&2
    rm -f "$npm_log"
    echo "install-deps: npm ci in test/s3 failed" >&2
    exit 1
  fi
  rm -f "$npm_log"
  echo "$lock_sum" >"$stamp"
  echo "install-deps: test/s3 node modules installed"
fi
echo "install-deps: done"
