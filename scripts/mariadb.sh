#!/usr/bin/env bash
# A private MariaDB server for trying the mysql storage by hand (the tests start
# their own). Nothing of the system's is touched; the server lives in
# $SWARMKIT_MARIADB_DIR (default /tmp/swarmkit-mariadb) on a free loopback port.
#
#   ./scripts/mariadb.sh start [DATABASE]   start (installing it the first time); print a DSN
#   ./scripts/mariadb.sh dsn DATABASE       create DATABASE if missing; print its DSN
#   ./scripts/mariadb.sh status             running or not (exit status 3 when stopped)
#   ./scripts/mariadb.sh stop | kill        clean shutdown | SIGKILL
#   ./scripts/mariadb.sh remove             stop and delete the directory
# Options: --dir DIR, --port PORT.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 -m swarmkit_py.testing.mariadb "$@"
