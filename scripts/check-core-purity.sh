#!/usr/bin/env bash
# The sans-IO cores (membership/swim*.c except the swim_io adapter, and
# sharding/) must not include uv.h, nng or lmdb.h, nor read the clock or
# call rand(): the simulator relies on it.  Comments are stripped first
# (gcc -fpreprocessed keeps #include lines but drops comments).
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(ls membership/swim*.[ch] sharding/*.[ch] 2>/dev/null | grep -v '_io' || true)
[ -n "$files" ] || { echo "no core files found"; exit 1; }
status=0
for f in $files; do
  bad=$(gcc -fpreprocessed -dD -E -x c "$f" 2>/dev/null |
        grep -nE '#include *[<"](uv\.h|nng/|lmdb\.h|sh_time\.h)|\b(clock_gettime|gettimeofday|time\(|rand\(|random\()' || true)
  if [ -n "$bad" ]; then
    echo "core purity violated in $f:"; echo "$bad"; status=1
  fi
done
[ $status -eq 0 ] && echo "core purity: $(echo "$files" | wc -w) files clean"
exit $status
