#!/usr/bin/env bash
# Run a command against a throwaway PostgreSQL: a fresh cluster in a temporary folder (Debian's
# postgresql package; as the `postgres` user when run as root), listening on 127.0.0.1 on a
# free port, with DATABASE_URL pointing at it; stopped and deleted afterwards.
#   scripts/with-postgres.sh .venv/bin/python -m pytest
set -euo pipefail
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [[ -z "$bin" ]]; then
    echo "PostgreSQL is not installed: apt-get install postgresql" >&2
    exit 1
fi
dir=$(mktemp -d /tmp/faceweb-postgres.XXXXXX)
as=()
if [[ $(id -u) == 0 ]]; then
    chown postgres "$dir"
    as=(runuser -u postgres --)
fi
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
stop() {
    "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap stop EXIT
"${as[@]}" "$bin/initdb" -D "$dir/data" -U faceweb --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
# Durability is not what the tests check: no fsync, and enough connections for the workers.
"${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -o \
    "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
export DATABASE_URL="postgres://faceweb@127.0.0.1:$port/faceweb"
"$@"
