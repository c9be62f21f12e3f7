#!/usr/bin/env bash
# wrk on 127.0.0.1: an axum hello handler bare, behind Rampart's ClientIpLayer +
# RateLimitLayer (in memory), and behind tower_governor. Server pinned to CPU 0 (one tokio
# thread), wrk to CPU 1. Repeats ROUNDS times, interleaving the servers, and prints each
# figure and the medians (requests/s).
#   benches/http_limiter.sh [ROUNDS=5] [DURATION=8s] [CONNECTIONS=32]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-5}"; duration="${2:-8s}"; conns="${3:-32}"
command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 2; }
bin=$(cargo bench --bench http_server --no-run --message-format=json 2>/dev/null \
  | grep -o '"executable":"[^"]*http_server[^"]*"' | tail -1 | cut -d'"' -f4)
[ -x "$bin" ] || { echo "could not build the http_server bench" >&2; exit 2; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
declare -A results
for round in $(seq "$rounds"); do
  for mode in ${MODES:-bare rampart tower_governor}; do
    taskset -c 0 "$bin" --serve "$mode" "127.0.0.1:$port" & pid=$!
    for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
    taskset -c 1 wrk -t1 -c"$conns" -d1s "http://127.0.0.1:$port/" >/dev/null # warm-up
    rps=$(taskset -c 1 wrk -t1 -c"$conns" -d"$duration" "http://127.0.0.1:$port/" | awk '/Requests\/sec/ {print $2}')
    kill "$pid"; wait "$pid" 2>/dev/null || true
    echo "round $round $mode $rps"
    results[$mode]="${results[$mode]:-} $rps"
  done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
bare=$(echo "${results[bare]}" | median)
for mode in ${MODES:-bare rampart tower_governor}; do
  m=$(echo "${results[$mode]}" | median)
  echo "median $mode $m req/s ($(awk -v m="$m" -v b="$bare" 'BEGIN {printf "%.1f", 100*m/b}')% of bare)"
done
