#!/usr/bin/env bash
# The sans-IO cores (membership/swim*.c except the swim_io adapter, and later
# sharding/ring*, stab*, hoff* except hoff_io) must not include uv.h, nng or
# lmdb.h, nor read the clock or call rand(): the simulator relies on it.
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(ls membership/swim*.[ch] sharding/*.[ch] 2>/dev/null | grep -v '_io' || true)
[ -n "$files" ] || { echo "no core files found"; exit 1; }
bad=$(grep -nE '#include *[<"](uv\.h|nng/|lmdb\.h|sh_time\.h)|\b(clock_gettime|gettimeofday|time\(|rand\(|random\()' $files || true)
if [ -n "$bad" ]; then
  echo "core purity violated:"; echo "$bad"; exit 1
fi
echo "core purity: $(echo "$files" | wc -w) files clean"
