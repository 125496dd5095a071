#!/usr/bin/env bash
# chaos/run.sh BUILD_DIR short|long [chaos_run.py flags...]
#
#   short  one 40 s run, one faulty node at a time (what CTest runs)
#   long   one 10 min run, up to two faulty nodes at a time (`make chaos`)
#
# The seed is $CHAOS_SEED if set, else drawn from the clock; it is printed
# first, and a failure prints the command that replays it.  A build
# configured with -DSANITIZE=ON is detected and run with SHOAL_SANITIZED=1
# (every bound x3).  Exit status: chaos_run.py's (0 pass, 1 violation,
# 2 harness error).
set -euo pipefail
build=${1:?usage: chaos/run.sh BUILD_DIR short|long [flags]}
mode=${2:-short}
shift $(( $# >= 2 ? 2 : 1 ))
here=$(cd "$(dirname "$0")" && pwd)
shoald="$build/node/shoald"
[ -x "$shoald" ] || { echo "chaos: no $shoald (build it first: make build)" >&2; exit 2; }
case "$mode" in
  short) args=(--mode short --duration 40) ;;
  long)  args=(--mode long --duration 600) ;;
  *) echo "chaos: mode must be short or long, not '$mode'" >&2; exit 2 ;;
esac
if grep -q '^SANITIZE:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null; then
  export SHOAL_SANITIZED=1
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
fi
[ -n "${CHAOS_SEED:-}" ] && args+=(--seed "$CHAOS_SEED")
export PYTHONDONTWRITEBYTECODE=1
exec python3 "$here/chaos_run.py" --shoald "$shoald" "${args[@]}" "$@"
