#!/usr/bin/env bash
# Failover under submit load: kill -9 the leader of a local 3-node troupe
# cluster KILLS times (default 20) while troupe-loadgen keeps SubmitJob calls in
# flight; each time, measure from the kill (the process reaped) until the
# first successful reply to a call sent after it (loadgen's --success-log:
# reply and send unix ns of every OK submission; replies already on their way
# at the kill don't count), then
# restart the killed node and wait until it has rejoined (the leader lists it
# alive with match_index at or past the commit index seen at its restart).
#
#   bench/failover.sh [BUILD_DIR]          (default: build)
#   SIGNAL=TERM bench/failover.sh [BUILD_DIR]   a planned stop instead of a crash
#
# With SIGNAL=TERM the leader stops cleanly (it first hands leadership to a
# follower, node/bootstrap.cpp), and what counts is what clients see: the
# longest time without any successful reply, from the signal until the
# first success of a call sent after the node exited (the stop's own
# duration is printed beside it).
#
# Environment: SIGNAL (KILL or TERM), KILLS (20), CONCURRENCY (16 in flight), SETTLE_S (1: load before
# each kill), REJOIN_TIMEOUT_S (60), QUIET_WAIT_S (as bench/compare.sh),
# KEEP_TMP=1 keeps configs, logs and the success log.
# The time to the first success includes the loadgen's retry path: a refused
# connection moves to the next node at once, "no leader" retries back off
# 5..50 ms (--max-backoff-ms 50), and a call to the dead node times out after
# --deadline-ms 2000 at worst.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"

lib_init "${1:-build}" failover
KILLS=${KILLS:-20}
CONCURRENCY=${CONCURRENCY:-16}
SETTLE_S=${SETTLE_S:-1}
REJOIN_TIMEOUT_S=${REJOIN_TIMEOUT_S:-60}
SIGNAL=${SIGNAL:-KILL}
[[ $SIGNAL == KILL || $SIGNAL == TERM ]] || { echo "SIGNAL must be KILL or TERM" >&2; exit 2; }

quiet_wait
free_ports 6
troupe_configs 3
troupe_start 3
troupe_wait_leader 60

OKLOG=$TMP/successes.txt
KILLLOG=$TMP/kills.txt
: >"$KILLLOG"
# Leader first, then the others: the loadgen moves along the list on UNAVAILABLE.
addrs=$LEADER_ADDR
for a in "${GRPC[@]}"; do [[ $a == "$LEADER_ADDR" ]] || addrs+=",$a"; done
# The load runs until the last kill's rejoin (then stopped by its pid); its
# duration is only a bound, at most the loadgen's own limit of an hour.
duration=$((KILLS * (REJOIN_TIMEOUT_S + 70) + 60))
((duration <= 3600)) || duration=3600
"$LOADGEN" --addr "$addrs" --concurrency "$CONCURRENCY" --duration-s "$duration" \
  --deadline-ms 2000 --max-backoff-ms 50 --success-log "$OKLOG" -o json >"$TMP/load.json" 2>"$TMP/load.err" &
LOADGEN_PID=$!
PIDS+=("$LOADGEN_PID")

# The first submission whose successful attempt was sent after $1 (unix ns):
# prints its reply time, or nothing. Replies to calls sent before the kill
# (already in the socket buffers) do not count.
# (awk reads to the end: exiting early would kill tail with SIGPIPE, which
# pipefail and set -e turn into the script's exit.)
first_success_after() { tail -n 5000 "$OKLOG" 2>/dev/null | awk -v t="$1" '!found && $2 > t { print $1; found = 1 }'; }
# The longest time without a successful reply from $1 (unix ns) until $2:
# replies in between sorted by time, the gaps between neighbours, the first
# one counted from $1. Prints microseconds.
longest_gap() {
  tail -n 20000 "$OKLOG" 2>/dev/null | awk -v a="$1" -v b="$2" '$1 >= a && $1 <= b { print $1 }' | sort -n |
    awk -v a="$1" 'BEGIN { prev = a; gap = 0 } { if ($1 - prev > gap) gap = $1 - prev; prev = $1 } END { printf "%d\n", gap / 1000 }'
}
status_json() { "$CLI" -a "$ALL_ADDRS" -o json cluster status 2>/dev/null || echo '{}'; }

for k in $(seq 1 "$KILLS"); do
  sleep "$SETTLE_S"
  kill -0 "$LOADGEN_PID" 2>/dev/null || { echo "loadgen exited early: $(cat "$TMP/load.err")" >&2; KEEP_TMP=1; exit 1; }
  troupe_wait_leader 60 >/dev/null
  L=$LEADER
  t_sig=$((${EPOCHREALTIME//[!0-9]/} * 1000))
  kill "-$SIGNAL" "${NODE_PID[$L]}"
  if [[ $SIGNAL == TERM ]]; then
    # A clean stop is bounded by the node (hand-off, gateways, jobs); 30 s
    # is far past it, and then it is killed.
    for _ in $(seq 1 300); do kill -0 "${NODE_PID[$L]}" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "${NODE_PID[$L]}" 2>/dev/null && echo "node $L did not stop within 30 s of SIGTERM" >&2
  fi
  wait "${NODE_PID[$L]}" 2>/dev/null || true
  # Timed once the process is reaped, by bash's own clock: no call sent after
  # this can have been served by the dead leader. Timed before the kill with
  # a forked `date`, on a loaded machine, it let calls the leader answered in
  # its last milliseconds count as failovers of 5-19 ms. (Digits only: the
  # separator of EPOCHREALTIME follows the locale.)
  t_kill=$((${EPOCHREALTIME//[!0-9]/} * 1000))
  # Bounded wait for the first success after the kill.
  first=""
  for _ in $(seq 1 600); do  # up to ~60 s
    first=$(first_success_after "$t_kill")
    [[ -n $first ]] && break
    sleep 0.1
  done
  if [[ -z $first ]]; then
    echo "kill $k (node $L): no successful submission within 60 s" >&2
    echo "$k $L $t_kill -1" >>"$KILLLOG"
  elif [[ $SIGNAL == TERM ]]; then
    gap=$(longest_gap "$t_sig" "$first")
    echo "$k $L $t_kill $gap $(( (t_kill - t_sig) / 1000 ))" >>"$KILLLOG"
    echo "stop $k: node $L exited $(( (t_kill - t_sig) / 1000000 )) ms after SIGTERM; longest time without a success $((gap / 1000)) ms"
  else
    echo "$k $L $t_kill $(( (first - t_kill) / 1000 ))" >>"$KILLLOG"
    echo "kill $k: node $L, first success after $(( (first - t_kill) / 1000000 )) ms"
  fi
  # Restart it and wait until it has rejoined.
  commit=$(status_json | jq -r '.commit_index // 0')
  troupe_start_node "$L"
  rejoined=0
  for _ in $(seq 1 $((REJOIN_TIMEOUT_S * 5))); do
    if status_json | jq -e --argjson id "$L" --argjson c "$commit" \
      '.leader_id != 0 and .leader_id != null and any(.nodes[]; .node_id == $id and .is_alive and .match_index >= $c)' >/dev/null 2>&1; then
      rejoined=1
      break
    fi
    sleep 0.2
  done
  (( rejoined )) || { echo "node $L did not rejoin within ${REJOIN_TIMEOUT_S} s; logs in $TMP" >&2; KEEP_TMP=1; exit 1; }
done

stop_pid "$LOADGEN_PID"
echo
echo "loadgen over the whole run: $(jq -c '{committed, committed_per_s, retries, errors}' "$TMP/load.json" 2>/dev/null || cat "$TMP/load.err")"
if [[ $SIGNAL == TERM ]]; then
  echo "SIGTERM's stop (signal to exit), ms: $(awk '$4 >= 0 { printf "%s%.0f", (n++ ? " " : ""), $5 / 1000 }' "$KILLLOG")"
  echo "| stops | longest time without a successful submit: median ms | max ms | min ms | no success within 60 s |"
else
  echo "| kills | time to first successful submit: median ms | max ms | min ms | no success within 60 s |"
fi
echo "|---:|---:|---:|---:|---:|"
awk '$4 >= 0 { print $4 / 1000 } ' "$KILLLOG" | sort -n | awk -v kills="$KILLS" -v failed="$(awk '$4 < 0' "$KILLLOG" | wc -l)" '
  { v[NR] = $1 }
  END {
    if (NR == 0) { printf "| %d | - | - | - | %d |\n", kills, failed; exit }
    med = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "| %d | %.0f | %.0f | %.0f | %d |\n", kills, med, v[NR], v[1], failed
  }'
echo "per kill (ms): $(awk '{ printf "%s%.0f", (NR > 1 ? " " : ""), $4 / 1000 }' "$KILLLOG")"
echo "load average at the end: $(loadavg)"
