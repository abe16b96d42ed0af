#!/usr/bin/env bash
# scripts/quietly.sh "what it does" COMMAND [ARG...]: run a setup step with its output kept in
# var/log/setup.log; print one line, and on failure the last lines of that output.
set -uo pipefail
what=$1
shift
mkdir -p var/log
log=var/log/setup.log
printf 'setup: %s ... ' "$what"
start=$SECONDS
echo "=== $(date '+%F %T') $what: $*" >>"$log"
if "$@" >>"$log" 2>&1; then
    echo "done ($((SECONDS - start)) s)"
else
    status=$?
    echo "FAILED"
    echo "--- the last lines of $log:" >&2
    tail -n 25 "$log" >&2
    exit "$status"
fi
