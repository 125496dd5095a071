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
# Demo workload hook.  A later issue adds a demo workload (entity calls
# through the API while the cluster runs).  It is called once, after the
# nodes are up, and must return immediately (start background work and add
# its pids to `pids` if it needs stopping).  Empty for now.
demo_workload() {
  :
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
  sleep 2 &
  wait $!   # interruptible: the trap runs as soon as Ctrl-C arrives
done
