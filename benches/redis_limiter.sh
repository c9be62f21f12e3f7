#!/usr/bin/env bash
# The Redis limiter against redis-benchmark running the same GCRA script with EVALSHA, same
# server, same concurrency, no pipelining. redis-server pinned to CPU 1, the load (either
# one) to CPU 0. Also checks that one decision is one round trip (EVALSHA calls = decisions).
#   benches/redis_limiter.sh [ROUNDS=5] [REQUESTS=200000] [CONCURRENCY=50]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-5}"; requests="${2:-200000}"; conc="${3:-50}"
bin=$(cargo bench --bench redis_limiter --no-run --message-format=json 2>/dev/null \
  | grep -o '"executable":"[^"]*redis_limiter[^"]*"' | tail -1 | cut -d'"' -f4)
[ -x "$bin" ] || { echo "could not build the redis_limiter bench" >&2; exit 2; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
taskset -c 1 redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no >/dev/null & rpid=$!
trap 'kill $rpid 2>/dev/null || true' EXIT
cli() { redis-cli -p "$port" "$@"; }
for _ in $(seq 50); do cli PING >/dev/null 2>&1 && break; sleep 0.1; done
sha=$(cli SCRIPT LOAD "$(cat crates/rampart-layers/src/rate_limit/store/gcra.lua)")
# 50/min: interval 1.2 s, burst × interval 60 s, in microseconds (what the limiter sends).
peer=(); ours=()
for round in $(seq "$rounds"); do
  cli FLUSHALL >/dev/null
  p=$(taskset -c 0 redis-benchmark -p "$port" -c "$conc" -n "$requests" -r 100000 -q \
      EVALSHA "$sha" 1 'rampart:rl:{bench|ip:__rand_int__}' 1200000 60000000 \
      | tr '\r' '\n' | awk '/requests per second/ {print $(NF-5)}' | tail -1)
  cli FLUSHALL >/dev/null; cli CONFIG RESETSTAT >/dev/null
  o=$(taskset -c 0 "$bin" --url "redis://127.0.0.1:$port/" --concurrency "$conc" --requests "$requests" | awk '{print $1}')
  calls=$(cli INFO commandstats | tr -d '\r' | awk -F'[=,:]' '/cmdstat_evalsha/ {print $3}')
  echo "round $round redis-benchmark $p rampart $o evalsha_calls $calls (decisions $((requests + 1)) incl. warm-up)"
  peer+=("$p"); ours+=("$o")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
mp=$(median "${peer[@]}"); mo=$(median "${ours[@]}")
echo "median redis-benchmark EVALSHA $mp/s, rampart RedisStore $mo/s ($(awk -v o="$mo" -v p="$mp" 'BEGIN {printf "%.1f", 100*o/p}')%)"
