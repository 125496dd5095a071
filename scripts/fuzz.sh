#!/usr/bin/env bash
# Run every libFuzzer target in BUILD for SECS seconds each, from the
# checked-in seed corpus; new inputs go to a scratch corpus, crashes fail.
set -euo pipefail
build=${1:-build-fuzz}; secs=${2:-20}
root=$(cd "$(dirname "$0")/.." && pwd)
shopt -s nullglob
fuzzers=("$build"/tests/fuzz/fuzz_*)
[ ${#fuzzers[@]} -gt 0 ] || { echo "fuzz: no fuzz targets built in $build"; exit 1; }
for f in "${fuzzers[@]}"; do
  [ -x "$f" ] || continue
  name=$(basename "$f")
  seeds="$root/tests/fuzz/corpus/$name"
  work="$build/fuzz-corpus/$name"; mkdir -p "$work" "$build/fuzz-artifacts"
  echo "fuzz: $name for ${secs}s"
  "$f" -max_total_time="$secs" -max_len=65536 -print_final_stats=1 \
       -artifact_prefix="$build/fuzz-artifacts/$name-" "$work" ${seeds:+$( [ -d "$seeds" ] && echo "$seeds")} 2>&1 \
    | grep -E '^(stat::number_of_executed_runs|stat::new_units_added|==|SUMMARY|Done)' || true
  crashes=("$build/fuzz-artifacts/$name-"*)   # nullglob: empty when clean
  if [ ${#crashes[@]} -gt 0 ]; then
    echo "fuzz: $name FOUND A CRASH: ${crashes[*]}"; exit 1
  fi
done
echo "fuzz: all targets clean"
