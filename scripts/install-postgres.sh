#!/usr/bin/env bash
# Gives the scale-out tests a real PostgreSQL: installs Debian's package when it is missing, then starts a throwaway
# cluster (initdb in a temporary folder, loopback only, a free port, no password) and writes its connection string to
# $ZIMAGE_TEST_POSTGRES_FILE (default /tmp/zimage-test-postgres.conn), which the tests read, as does `source`-ing the
# line this script prints. PostgreSQL refuses to run as root, so as root the cluster runs as the 'postgres' user.
# The cluster is left running: CI ends everything when its run is over; locally, `pg_ctl -D <dir> stop` (printed).
set -euo pipefail

find_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

bin="$(find_bin)"
if [[ -z "$bin" || ! -x "$bin/initdb" ]]; then
    if [[ $(id -u) -ne 0 ]]; then
        echo "install-postgres: PostgreSQL is not installed and this is not root; run: apt-get install -y postgresql" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql >/dev/null
    bin="$(find_bin)"
fi

owner="$(id -un)"
if [[ $(id -u) -eq 0 ]]; then
    owner=postgres
    id -u "$owner" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$owner"
fi

# A port nothing listens on (bash's /dev/tcp connect fails on a closed port).
port=""
for candidate in $(seq 55432 55532); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then port=$candidate; break; fi
done
[[ -n "$port" ]] || { echo "install-postgres: no free port in 55432-55532" >&2; exit 1; }

root="$(mktemp -d /tmp/zimage-pg.XXXXXX)"
chmod 755 "$root"
mkdir -p "$root/data" "$root/socket"
chown -R "$owner" "$root"

as_owner() {
    if [[ $(id -u) -eq 0 ]]; then runuser -u "$owner" -- "$@"; else "$@"; fi
}

as_owner "$bin/initdb" -D "$root/data" -U zimage -A trust -E UTF8 --no-locale >"$root/initdb.log" 2>&1 \
    || { cat "$root/initdb.log" >&2; exit 1; }
# Durability is not what the tests measure: fsync off keeps them fast on a small CI machine.
as_owner "$bin/pg_ctl" -D "$root/data" -l "$root/postgres.log" -w -t 60 start \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $root/socket -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    >/dev/null || { cat "$root/postgres.log" >&2; exit 1; }

connection="postgres://zimage@127.0.0.1:$port/postgres"
file="${ZIMAGE_TEST_POSTGRES_FILE:-/tmp/zimage-test-postgres.conn}"
echo "$connection" >"$file"
echo "install-postgres: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') at $connection (data $root; stop: $bin/pg_ctl -D $root/data stop)" >&2
echo "export ZIMAGE_TEST_POSTGRES=$connection"
