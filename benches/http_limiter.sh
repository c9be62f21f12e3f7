#!/usr/bin/env bash
# wrk on 127.0.0.1: an axum hello handler bare, behind Rampart's ClientIpLayer +
# RateLimitLayer (in memory), and behind tower_governor without and with its x-ratelimit-*
# headers. Every limiter gets the same quota (GCRA, 10^9/s, burst 10^9, keyed by peer IP), far
# above what one core can serve, so no request may be refused: the run fails if wrk reports
# any non-2xx/3xx response or socket error, or if a server does not send the headers its
# variant promises (checked with curl before each measured run).
# Server pinned to CPU 0 (one tokio thread), wrk to CPU 1; the servers interleave, ROUNDS
# times. Prints per run requests/s, non-2xx count and the server's CPU time per request (from
# /proc: on a shared machine the server rarely gets its whole core, so CPU per request is the
# steadier measure of its capacity), then medians.
#   benches/http_limiter.sh [ROUNDS=5] [DURATION=8s] [CONNECTIONS=32]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-5}"; duration="${2:-8s}"; conns="${3:-32}"
modes="${MODES:-bare identity rampart rampart_client_ip tower_governor tower_governor_headers}"
command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 2; }
command -v curl >/dev/null || { echo "curl not found: apt-get install curl" >&2; exit 2; }
bin=$(cargo bench --bench http_server --no-run --message-format=json 2>/dev/null \
  | grep -o '"executable":"[^"]*http_server[^"]*"' | tail -1 | cut -d'"' -f4)
[ -x "$bin" ] || { echo "could not build the http_server bench" >&2; exit 2; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
tck=$(getconf CLK_TCK)
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
# The response header names (lower case) each variant must send on a 200.
expected() {
  case "$1" in
    rampart|rampart_client_ip|rampart_around) echo "ratelimit-policy ratelimit" ;;
    tower_governor_headers|tower_governor_headers_around) echo "x-ratelimit-limit x-ratelimit-remaining" ;;
    *) echo "" ;;
  esac
}
fail() { echo "FAIL: $*" >&2; exit 1; }
declare -A rps cpr ratio
for round in $(seq "$rounds"); do
  for mode in $modes; do
    taskset -c 0 "$bin" --serve "$mode" "127.0.0.1:$port" & pid=$!
    for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
    head=$(curl -sS -D - -o /dev/null "http://127.0.0.1:$port/" | tr -d '\r' | tr 'A-Z' 'a-z')
    grep -q '^http/1.1 200' <<<"$head" || { kill "$pid"; fail "$mode: first response not 200: $head"; }
    for h in $(expected "$mode"); do
      grep -q "^$h:" <<<"$head" || { kill "$pid"; fail "$mode: no $h header: $head"; }
    done
    taskset -c 1 wrk -t1 -c"$conns" -d1s "http://127.0.0.1:$port/" >/dev/null # warm-up
    t0=$(cpu "$pid")
    out=$(taskset -c 1 wrk -t1 -c"$conns" -d"$duration" "http://127.0.0.1:$port/")
    t1=$(cpu "$pid")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    r=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    n=$(awk '/requests in/ {print $1}' <<<"$out")
    # wrk prints these lines only when the count is not zero.
    bad=$(awk '/Non-2xx or 3xx responses/ {print $NF}' <<<"$out"); bad=${bad:-0}
    sock=$(grep 'Socket errors' <<<"$out" || true)
    us=$(awk -v t=$((t1 - t0)) -v n="$n" -v k="$tck" 'BEGIN {printf "%.2f", t * 1e6 / k / n}')
    echo "round $round $mode $r req/s, $n requests, $bad non-2xx, server CPU $us us/request"
    [ "$bad" = 0 ] || fail "$mode answered $bad of $n requests with a non-2xx/3xx status"
    [ -z "$sock" ] || fail "$mode: $sock"
    rps[$mode]="${rps[$mode]:-} $r"; cpr[$mode]="${cpr[$mode]:-} $us"
    # Paired with bare in the same round (bare runs first in a round): steadier than the
    # ratio of medians when the machine's speed drifts between rounds.
    [ "$mode" = bare ] && round_bare=$r
    [ -n "${round_bare:-}" ] && ratio[$mode]="${ratio[$mode]:-} $(awk -v r="$r" -v b="$round_bare" 'BEGIN {printf "%.4f", r / b}')"
  done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
maximum() { tr ' ' '\n' | grep . | sort -n | tail -1; }
bare_r=$(echo "${rps[bare]:-}" | median); bare_c=$(echo "${cpr[bare]:-}" | median)
bare_max=$(echo "${rps[bare]:-}" | maximum)
for mode in $modes; do
  r=$(echo "${rps[$mode]}" | median); c=$(echo "${cpr[$mode]}" | median)
  p=$(echo "${ratio[$mode]:-}" | median); x=$(echo "${rps[$mode]}" | maximum)
  # Best round against bare's best round: on a machine whose speed jumps between phases, the
  # fastest of many short runs is the steadiest estimate of what each server can do.
  awk -v m="$mode" -v r="$r" -v c="$c" -v br="$bare_r" -v bc="$bare_c" -v p="${p:-0}" \
      -v x="$x" -v bx="$bare_max" 'BEGIN {
    printf "median %-30s %9.0f req/s (%5.1f%% of bare; paired per round %5.1f%%; best round %5.1f%% of bare best)  %6.2f us CPU/request (capacity %5.1f%% of bare)\n", m, r, 100*r/br, 100*p, 100*x/bx, c, 100*bc/c }'
done
