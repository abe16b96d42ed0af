#!/usr/bin/env bash
# bench/load.py on two checkouts of faceweb, alternating, each run on a freshly started app
# (scripts/run.py: new SQLite database, media, Redis; the worker's first photo loads its
# models), so that machine load hits both alike:
#   bench/load_compare.sh TREE_A TREE_B [ROUNDS]     e.g. a `git worktree` of an older commit
# Each tree needs .venv, node_modules and var/models (symlinks to this checkout's will do).
# Ports 8092 and 6392 must be free. Prints one bench/load.py line per run.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
run() {  # $1: tree  $2: label
    local d=/tmp/faceweb-load-$2 pid token
    rm -rf "$d"; mkdir -p "$d"
    (
        cd "$1"
        export PYTHONPATH=$1 SQLITE_PATH=$d/db.sqlite3 MEDIA_ROOT=$d/media FACEWEB_RUN_DIR=$d/var \
            REDIS_URL=redis://127.0.0.1:6392/0 FACEWEB_ADDR=127.0.0.1:8092 \
            FACEWEB_SECRET_KEY_FILE=$d/key FACEWEB_ADMIN_PASSWORD=load-compare-pass-123
        unset DEBUG
        .venv/bin/python manage.py migrate -v0
        .venv/bin/python scripts/ensure_admin.py
        token=$(.venv/bin/python manage.py drf_create_token admin | awk '{print $3}')
        setsid .venv/bin/python scripts/run.py > "$d/run.out" 2>&1 & pid=$!
        for _ in $(seq 120); do grep -q "is running" "$d/run.out" && break; sleep 1; done
        echo -n "$2: "
        "$here/.venv/bin/python" "$here/bench/load.py" --url http://127.0.0.1:8092 --token "$token" \
            --json "$d/load.json" || true
        kill -INT "$pid"; wait "$pid" || true
    )
}
for round in $(seq "${3:-2}"); do
    run "$(realpath "$1")" "a$round"
    run "$(realpath "$2")" "b$round"
done
