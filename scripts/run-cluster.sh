#!/usr/bin/env bash
# run-cluster.sh BUILD_DIR - `make run`: a local 3-node cluster on loopback.
#
#   n1  cluster 127.0.0.1:7946  HTTP 127.0.0.1:8080
#   n2  cluster 127.0.0.1:7947  HTTP 127.0.0.1:8081  (seed: n1)
#   n3  cluster 127.0.0.1:7948  HTTP 127.0.0.1:8082  (seed: n1)
#
# Data lives in ./.run/nX, logs in ./.run/nX.log.  Prints `shoalctl members`
# every 2 s until Ctrl-C (or SIGTERM); then sends SIGTERM to the nodes so they
# leave the cluster gracefully, waits for them (bounded), and says how it
# went.  Set SHOAL_SECRET to use a secret of your own.
set -uo pipefail

build=${1:-build}
shoald="$build/node/shoald"
shoalctl="$build/cli/shoalctl"
run_dir=./.run
stop_wait_s=10

for b in "$shoald" "$shoalctl"; do
  [ -x "$b" ] || { echo "run-cluster: $b not found; build first (make build)" >&2; exit 1; }
done

# A port is busy if something accepts connections on it (bash's /dev/tcp
# needs no extra tool).
port_busy() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

busy=()
for p in 7946 7947 7948 8080 8081 8082; do
  port_busy "$p" && busy+=("$p")
done
if [ ${#busy[@]} -gt 0 ]; then
  echo "run-cluster: port(s) ${busy[*]} on 127.0.0.1 already in use;" \
       "is another cluster running? (try: ss -ltnp | grep -E ':(${busy[*]// /|})')" >&2
  exit 1
fi

mkdir -p "$run_dir"
rm -f "$run_dir/demo.txt"
export SHOAL_SECRET=${SHOAL_SECRET:-shoal-dev-secret}
pids=()

start_node() { # id cluster_port http_port [seed]
  local id=$1 cport=$2 hport=$3 seed=${4:-}
  local args=(--id "$id" --bind "127.0.0.1:$cport" --http "127.0.0.1:$hport"
              --data "$run_dir/$id")
  [ -n "$seed" ] && args+=(--seeds "$seed")
  "$shoald" "${args[@]}" >>"$run_dir/$id.log" 2>&1 &
  pids+=($!)
  echo "run-cluster: started $id (pid $!, cluster 127.0.0.1:$cport, http 127.0.0.1:$hport," \
       "log $run_dir/$id.log)"
}

stop_nodes() { # [exit code]
  local status=${1:-0}
  trap '' INT TERM
  echo
  echo "run-cluster: stopping nodes (SIGTERM)..."
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  local deadline=$((SECONDS + stop_wait_s)) left
  while :; do
    left=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && left=$((left + 1)); done
    [ "$left" -eq 0 ] && break
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "run-cluster: $left node(s) still running after ${stop_wait_s}s; sending SIGKILL"
      for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
      break
    fi
    sleep 0.2
  done
  local codes=() rc
  for p in "${pids[@]}"; do
    wait "$p" 2>/dev/null; rc=$?
    codes+=("$rc")
  done
  echo "run-cluster: stopped; exit codes ${codes[*]}; logs in $run_dir/n1.log .. n3.log"
  exit "$status"
}
trap stop_nodes INT TERM

# ---------------------------------------------------------------------------
# Demo workload: once all three nodes answer, call a few carts and a counter
# through every node (most calls are forwarded to the owner of the
# entity's shard), then write where the entities live and a per-node shard
# summary to $run_dir/demo.txt, which the status loop below prints under
# the member table.  Runs in the background and ends by itself (a few
# seconds); it must not delay the loop.
demo_file="$run_dir/demo.txt"
nodes_http=(127.0.0.1:8080 127.0.0.1:8081 127.0.0.1:8082)

demo_ctl() { "$shoalctl" --timeout 2000 "$@"; }

demo_summary() {
  echo "demo: 4 carts and a counter, each called through all 3 nodes"
  echo
  printf 'counter/visits = '
  demo_ctl --node "${nodes_http[0]}" invoke counter/visits get
  printf 'cart/cart-1    = '
  demo_ctl --node "${nodes_http[2]}" invoke cart/cart-1 GetItems
  echo
  echo "counter/visits journal, last entries (durable in .run/: the next make run adds to it):"
  demo_ctl --node "${nodes_http[0]}" journal counter/visits --limit 1000 |
    { read -r head; echo "  $head"; tail -n 3 | sed 's/^/  /'; }
  echo
  {
    demo_ctl --node "${nodes_http[1]}" locate counter/visits
    for i in 1 2 3 4; do # each asked through another node: same answer
      demo_ctl --node "${nodes_http[$((i % 3))]}" locate "cart/cart-$i" | tail -n +2
    done
  } | awk '{ printf "%-16s  %-5s  %-5s  %s\n", $1, $2, $3, $4 }'
  echo
  echo "shards per owner (as each node reports its own):"
  for h in "${nodes_http[@]}"; do
    demo_ctl --node "$h" shards | awk -v h="$h" '
      NR == 1 { next }
      $6 != "-" { mine++; ents += $6 }
      END { printf "  %-15s owns %3d shards, %d active entities\n", h, mine, ents }'
  done
}

demo_workload() {
  (
    for _ in $(seq 1 50); do
      ok=0
      for h in "${nodes_http[@]}"; do
        demo_ctl --node "$h" health >/dev/null 2>&1 && ok=$((ok + 1))
      done
      [ "$ok" -eq 3 ] && break
      sleep 0.2
    done
    sleep 1 # let the shard tables settle on the full view
    for h in "${nodes_http[@]}"; do
      demo_ctl --node "$h" invoke counter/visits add '{"by":1}' >/dev/null
      for i in 1 2 3 4; do
        demo_ctl --node "$h" invoke "cart/cart-$i" AddItem \
          "{\"itemId\":\"sku-${h##*:}\",\"quantity\":$i}" >/dev/null
      done
    done
    demo_summary >"$demo_file.tmp" 2>&1 && mv "$demo_file.tmp" "$demo_file"
  ) &
}
# ---------------------------------------------------------------------------

start_node n1 7946 8080
start_node n2 7947 8081 127.0.0.1:7946
start_node n3 7948 8082 127.0.0.1:7946

# Wait (bounded) until n1 answers, so the first table is not an error.
for _ in $(seq 1 50); do
  "$shoalctl" --node 127.0.0.1:8080 --timeout 500 health >/dev/null 2>&1 && break
  for p in "${pids[@]}"; do
    kill -0 "$p" 2>/dev/null || { echo "run-cluster: a node exited at start; see $run_dir/*.log" >&2; stop_nodes 1; }
  done
  sleep 0.2
done

demo_workload

while :; do
  if [ -t 1 ]; then clear; else echo "----------------------------------------"; fi
  echo "shoal: 3 local nodes ($(date +%H:%M:%S)); Ctrl-C stops them gracefully"
  echo
  "$shoalctl" --node 127.0.0.1:8080 members || echo "(n1 not answering; try --node 127.0.0.1:8081)"
  if [ -f "$demo_file" ]; then echo; cat "$demo_file"; fi
  sleep 2 &
  wait $!   # interruptible: the trap runs as soon as Ctrl-C arrives
done
