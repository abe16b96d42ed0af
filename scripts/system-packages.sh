#!/usr/bin/env bash
# The system packages faceweb needs on Debian 12 and Ubuntu 22.04/24.04, for `make run` or
# `make test` (which call this first):
#   scripts/system-packages.sh python       print the Python (3.11 to 3.13) to build .venv with
#   scripts/system-packages.sh run|test     install what is missing when run as root; otherwise
#                                           stop, printing the one command that installs it
# PYTHON=/path/to/python3.x chooses the interpreter.
set -euo pipefail

supported() {  # is $1 a Python from 3.11 to 3.13?
    command -v "$1" >/dev/null 2>&1 &&
        "$1" -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))' 2>/dev/null
}

find_python() {
    if [[ -n "${PYTHON:-}" ]]; then
        supported "$PYTHON" && "$PYTHON" -c 'import sys; print(sys.executable)'
        return
    fi
    for candidate in python3 python3.11 python3.12 python3.13; do
        if supported "$candidate"; then "$candidate" -c 'import sys; print(sys.executable)'; return; fi
    done
}

if [[ "${1:-}" == python ]]; then
    find_python || true
    exit 0
fi
case "${1:-}" in
    run | test) purpose=$1 ;;
    *) echo "usage: $0 python|run|test" >&2; exit 2 ;;
esac

missing=()
python=$(find_python || true)
if [[ -z "$python" ]]; then
    if [[ -n "${PYTHON:-}" ]]; then
        echo "setup: PYTHON=$PYTHON is not a Python 3.11, 3.12 or 3.13" >&2
        exit 1
    fi
    # Debian 12 and Ubuntu 24.04 ship a supported python3; Ubuntu 22.04's is 3.10.
    if command -v python3 >/dev/null; then missing+=(python3.11 python3.11-venv); else missing+=(python3 python3-venv); fi
elif ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
    # Debian's Pythons leave venv's pip bootstrap to a package of its own.
    missing+=("$(basename "$(realpath "$python")")-venv")
fi
command -v npm >/dev/null || missing+=(nodejs npm)
# The tests start their own Redis; `make run` starts one unless REDIS_URL points at a Redis.
if [[ $purpose == test || -z "${REDIS_URL:-}" ]]; then
    command -v redis-server >/dev/null || missing+=(redis-server)
fi

# The tests run a second time on a throwaway PostgreSQL (scripts/with-postgres.sh).
if [[ $purpose == test ]] && ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    missing+=(postgresql)
fi

snap=""
if [[ $purpose == test ]] && ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null \
        && [[ -z "${FACEWEB_CHROMIUM:-}" ]]; then
    # The browser tests drive the system's Chromium: a Debian package on Debian, a snap on Ubuntu.
    if grep -qs '^ID=ubuntu' /etc/os-release; then snap="chromium"; else missing+=(chromium); fi
fi

((${#missing[@]})) || [[ -n $snap ]] || exit 0

apt_line="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
snap_line="snap install chromium"
if [[ $(id -u) != 0 ]]; then
    echo "setup: missing system packages. Install them with:" >&2
    if ((${#missing[@]})); then echo "    sudo sh -c '$apt_line'" >&2; fi
    if [[ -n $snap ]]; then echo "    sudo $snap_line" >&2; fi
    echo "then run make $purpose again." >&2
    exit 1
fi
echo "setup: installing the system packages ${missing[*]}${snap:+ (snap) $snap}"
log=$(mktemp)
if ((${#missing[@]})); then
    if ! { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
            --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        echo "setup: apt-get failed (above); run it yourself: $apt_line" >&2
        exit 1
    fi
fi
if [[ -n $snap ]] && ! $snap_line >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "setup: could not install Chromium ($snap_line failed); or set FACEWEB_CHROMIUM" >&2
    exit 1
fi
rm -f "$log"
