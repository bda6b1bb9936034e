#!/usr/bin/env bash
# Before/after of one change in the 3-node cluster: bench/jobs.sh run with
# two builds alternating (BEFORE first in each pair), PAIRS times (4). On
# this machine a run's jobs completed/s varies by 15-20% from one minute to
# the next with identical code, so one run of each says nothing; pairs taken
# a minute apart share the machine's phase, and the medians and the count
# of pairs each side won are what a change is judged by.
#
#   bench/ab.sh BEFORE_BUILD AFTER_BUILD [PAIRS]
#
# A build for the BEFORE side, e.g. of the commit before yours:
#   git worktree add /tmp/base HEAD~1
#   TROUPE_BUILD_DIR=/tmp/base/build TROUPE_BUILD_TARGETS="troupe-node troupe-job-shim troupe-loadgen troupe" \
#     bash /tmp/base/scripts/build.sh
# Environment: as bench/jobs.sh (COUNT, CONCURRENCY, ...), passed through.
# Prints one row per run (jobs completed/s, the machine's and the nodes' own
# CPU per job), then the medians and the pairs won.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BEFORE=${1:?usage: ab.sh BEFORE_BUILD AFTER_BUILD [PAIRS]}
AFTER=${2:?usage: ab.sh BEFORE_BUILD AFTER_BUILD [PAIRS]}
PAIRS=${3:-4}
for b in "$BEFORE" "$AFTER"; do
  for t in troupe-node troupe-job-shim troupe-loadgen troupe; do
    [[ -x $b/tools/$t ]] || { echo "ab.sh: $b/tools/$t is missing (build it first)" >&2; exit 2; }
  done
done
OUT=$(mktemp /tmp/troupe-ab.XXXXXX)
trap 'rm -f "$OUT"' EXIT

# One jobs.sh run -> "<jobs completed/s> <machine ms per job> <nodes' ms per job>".
run() {
  local log
  log=$("$HERE/jobs.sh" "$1" 2>&1) || { echo "$log" >&2; echo "ab.sh: jobs.sh failed with $1" >&2; exit 1; }
  local rate cpu
  rate=$(awk -F'|' '/^\| [0-9]/ { gsub(/ /, "", $7); print $7 }' <<<"$log")
  cpu=$(sed -nE 's/.* ([0-9.]+) ms busy per job, of it ([0-9.]+) ms in the three troupe-node.*/\1 \2/p' <<<"$log")
  [[ -n $rate && -n $cpu ]] || { echo "$log" >&2; echo "ab.sh: no result in jobs.sh's output" >&2; exit 1; }
  echo "$rate $cpu"
}

echo "| pair | side | time (UTC) | jobs completed/s | machine CPU per job, ms | nodes' own, ms |"
echo "|---:|---|---|---:|---:|---:|"
for i in $(seq 1 "$PAIRS"); do
  for side in before after; do
    build=$BEFORE
    [[ $side == after ]] && build=$AFTER
    res=$(run "$build")
    read -r rate machine nodes <<<"$res"
    echo "$i $side $rate $machine $nodes" >>"$OUT"
    echo "| $i | $side | $(date -u +%H:%M:%S) | $rate | $machine | $nodes |"
  done
done

# Medians per side, and in how many pairs "after" completed more jobs/s.
awk '
  # The median of column v (r, m or c) of side s, over its n runs.
  function median(v, s, n,   a, i, j, t) {
    for (i = 1; i <= n; i++) a[i] = v[s, i]
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  { side = $2; n[side]++; r[side, n[side]] = $3; m[side, n[side]] = $4; c[side, n[side]] = $5; rate[$1, side] = $3 }
  END {
    split("before after", sides, " ")
    for (k = 1; k <= 2; k++) {
      s = sides[k]
      printf "median %-6s: %d jobs completed/s, %.2f ms machine CPU per job, %.2f ms of it the nodes'\''\n", s,
        median(r, s, n[s]), median(m, s, n[s]), median(c, s, n[s])
    }
    won = 0; pairs = 0
    for (k in rate) { split(k, p, SUBSEP); if (p[2] == "after") { pairs++; if (rate[p[1], "after"] > rate[p[1], "before"]) won++ } }
    printf "after completed more jobs/s in %d of %d pairs\n", won, pairs
  }' "$OUT"
