#!/usr/bin/env bash
# Make sure the PostgreSQL server binaries (initdb, pg_ctl) are installed, for the tests' real
# PostgreSQL server (tests/conftest.py starts and stops a throwaway one itself).
#
# Idempotent: does nothing when initdb is in PATH or /usr/lib/postgresql/*/bin. Otherwise installs
# Debian/Ubuntu's `postgresql` package (with sudo unless already root). It never starts a server:
# the package is told not to create its default cluster, so there is nothing for it to start.
set -euo pipefail

have_initdb() {
    command -v initdb >/dev/null 2>&1 && return 0
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}

if have_initdb; then
    echo "ensure-postgres: PostgreSQL server binaries found."
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-postgres: initdb not found and apt-get is not available." >&2
    echo "Install the PostgreSQL server package for your system (it provides initdb and pg_ctl)." >&2
    exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

echo "ensure-postgres: installing PostgreSQL (apt-get install -y postgresql)..."
# No default cluster: the package then has no server to start, and the tests start their own.
$SUDO mkdir -p /etc/postgresql-common
if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
    echo "create_main_cluster = false" | $SUDO tee /etc/postgresql-common/createcluster.conf >/dev/null
fi
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold postgresql

if ! have_initdb; then
    echo "ensure-postgres: postgresql installed but initdb is still missing." >&2
    exit 1
fi
echo "ensure-postgres: PostgreSQL server binaries installed."
