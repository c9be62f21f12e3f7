#!/usr/bin/env bash
# Secret scanning throughput, rampart against its peers, all in the same run on the same files.
#
#   crates/rampart-check/benches/scan_peers.sh [SOURCE_DIR] [SUBSET_MB]
#
# SOURCE_DIR (default ~/.cargo/registry/src) is copied to a temporary directory (so it does not
# change under the run) and read once to warm the page cache. rampart, ripsecrets and `rg`
# searching rampart's own literal keywords run over all of it; the slow peers (detect-secrets,
# secretlint) over a SUBSET_MB (default 8) subset, where rampart and rg run again for a
# like-for-like figure. Peers not installed are skipped:
#   cargo install ripsecrets; pip install detect-secrets;
#   npm install secretlint @secretlint/secretlint-rule-preset-recommend (in $SECRETLINT_DIR)
# Prints one line per tool: wall seconds, CPU seconds, MB/s (wall), MB per CPU-second, peak RSS.
set -euo pipefail
cd "$(dirname "$0")/../../.."
SRC="${1:-$HOME/.cargo/registry/src}"
SUBSET_MB="${2:-8}"
RAMPART="${RAMPART:-target/release/rampart}"
SECRETLINT_DIR="${SECRETLINT_DIR:-}"
[ -x "$RAMPART" ] || cargo build --release -p rampart
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cp -r "$SRC" "$WORK/full"
mkdir -p "$WORK/subset"
total=0
for d in "$WORK"/full/*/*/; do
  [ "$total" -ge $((SUBSET_MB * 1000000)) ] && break
  size=$(du -sb "$d" | cut -f1)
  # Whole crates, none bigger than a quarter of the subset.
  [ "$size" -gt $((SUBSET_MB * 250000)) ] && continue
  cp -r "$d" "$WORK/subset/"
  total=$((total + size))
done
"$RAMPART" scan --print-literals > "$WORK/literals.txt"
# rg and rampart skip the same things (.gitignore'd files, binaries); size what they read.
bytes_of() { rg --files "$1" -0 | xargs -0 cat | wc -c; }

measure() { # name corpus command...
  local name="$1" corpus="$2"; shift 2
  local mb; mb=$(awk -v b="$(bytes_of "$corpus")" 'BEGIN{printf "%.1f", b/1e6}')
  /usr/bin/time -o "$WORK/time.txt" -f "%e %U %S %M" "$@" >/dev/null 2>&1 || true
  read -r wall user sys rss < <(tail -n 1 "$WORK/time.txt")
  awk -v n="$name" -v mb="$mb" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" 'BEGIN{
    cpu=u+s; printf "%-34s %7.1f MB %7.2f s %7.2f cpu-s %8.1f MB/s %8.1f MB/cpu-s %7.1f MiB\n",
      n, mb, w, cpu, mb/w, mb/(cpu>0?cpu:0.01), r/1024 }'
}

rg -c -F -i -f "$WORK/literals.txt" "$WORK/full" >/dev/null || true   # warm the cache
printf "%-34s %10s %9s %13s %13s %17s %11s\n" tool corpus wall cpu speed per-cpu "peak RSS"
measure "rg -i -F (rampart's literals)" "$WORK/full" rg -c -F -i -f "$WORK/literals.txt" "$WORK/full"
measure "rampart scan" "$WORK/full" "$RAMPART" scan "$WORK/full" --no-progress --format json
measure "rampart scan --threads 1" "$WORK/full" "$RAMPART" scan "$WORK/full" --no-progress --format json --threads 1
if command -v ripsecrets >/dev/null; then
  measure "ripsecrets" "$WORK/full" ripsecrets "$WORK/full"
fi
measure "rg (subset)" "$WORK/subset" rg -c -F -i -f "$WORK/literals.txt" "$WORK/subset"
measure "rampart scan (subset)" "$WORK/subset" "$RAMPART" scan "$WORK/subset" --no-progress --format json
if command -v ripsecrets >/dev/null; then
  measure "ripsecrets (subset)" "$WORK/subset" ripsecrets "$WORK/subset"
fi
if command -v detect-secrets >/dev/null; then
  # Run from the work directory: inside a git repository detect-secrets skips outside paths.
  measure "detect-secrets (subset)" "$WORK/subset" \
    bash -c "cd '$WORK' && detect-secrets scan --all-files subset"
fi
if [ -n "$SECRETLINT_DIR" ] && [ -x "$SECRETLINT_DIR/node_modules/.bin/secretlint" ]; then
  echo '{"rules":[{"id":"@secretlint/secretlint-rule-preset-recommend"}]}' > "$WORK/secretlintrc.json"
  measure "secretlint (subset)" "$WORK/subset" \
    bash -c "cd '$SECRETLINT_DIR' && node_modules/.bin/secretlint --secretlintrc '$WORK/secretlintrc.json' '$WORK/subset/**/*'"
fi
