#!/usr/bin/env bash
# bench/run.sh BUILD_DIR - run every benchmark against the binaries in
# BUILD_DIR; each one updates its own section of bench/RESULTS.md.
# Benchmarks are never part of `make test`.
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
status=0
for b in "$here"/membership.py "$here"/entities.py "$here"/persist.py; do
  echo "bench: $(basename "$b")"
  PYTHONDONTWRITEBYTECODE=1 python3 "$b" "$build" || { echo "bench: $(basename "$b") FAILED"; status=1; }
done
exit $status
