#!/usr/bin/env bash
# install-deps.sh: installs everything pgbak_ext needs to build and test on
# Debian bookworm with PostgreSQL 15. Run as root; safe to run again.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
APT_GET="apt-get -y -q -o Dpkg::Use-Pty=0"

packages=(build-essential cmake pkg-config git
          libcurl4-openssl-dev libzstd-dev libssl-dev libgtest-dev
          libipc-run-perl zstd clang-format curl
          postgresql-15 postgresql-client-15 postgresql-contrib)

missing=()
# promtool (from prometheus) checks pgbak_metrics() output in the tests.
for p in "${packages[@]}" postgresql-server-dev-15 prometheus; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all packages present"
  exit 0
fi

$APT_GET update
$APT_GET install "${packages[@]}"
$APT_GET install --no-install-recommends prometheus
# The server headers must match the installed server exactly; unpinned, apt
# would upgrade the server binaries along with them.
server_version=$(dpkg-query -W -f='${Version}' postgresql-15)
if ! $APT_GET install "postgresql-server-dev-15=${server_version}"; then
  echo "install-deps: postgresql-server-dev-15=${server_version} not available, installing unpinned" >&2
  $APT_GET install postgresql-server-dev-15
fi
echo "install-deps: done"
