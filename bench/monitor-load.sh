#!/usr/bin/env bash
# Health-checking cost: N HTTP origins checked every second, by Lifeline and by HAProxy
# (`option httpchk`, one thread), each measured alone for DURATION seconds after a warm-up,
# RUNS times interleaved. Prints CPU (% of one core) and RSS per run, the medians and the ratios.
#
#   bench/monitor-load.sh                 # N=1000 DURATION=30 RUNS=3
#   N=2000 DURATION=20 RUNS=5 bench/monitor-load.sh
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-1000}
DURATION=${DURATION:-30}
WARMUP=${WARMUP:-5}
RUNS=${RUNS:-3}
BASE_PORT=${BASE_PORT:-21000}
ADMIN_PORT=${ADMIN_PORT:-29090}
HAPROXY_PORT=${HAPROXY_PORT:-29091}

scripts/install-deps.sh --bench
cargo build --release --quiet --bin lifeline
bin=${CARGO_TARGET_DIR:-target}/release/lifeline
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

ulimit -n "$(ulimit -Hn)"
"$bin" origin --listen "127.0.0.1:$BASE_PORT" --count "$N" --name o 2>"$work/origins.log" &
pids+=("$!")
sleep 1

# Lifeline: one http monitor, N origins in 10 pools.
{
  printf '[admin]\nlisten = "127.0.0.1:%s"\nstate_file = "%s/state.redb"\n\n' "$ADMIN_PORT" "$work"
  printf '[[monitor]]\nname = "web"\ntype = "http"\npath = "/health"\nexpected_body = "healthy"\ninterval = "1s"\ntimeout = "500ms"\n'
  for pool in $(seq 0 9); do
    printf '\n[[pool]]\nname = "pool%s"\nmonitor = "web"\norigins = [\n' "$pool"
    for i in $(seq "$pool" 10 $((N - 1))); do
      printf '  { name = "o%s", address = "127.0.0.1:%s" },\n' "$i" $((BASE_PORT + i))
    done
    printf ']\n'
  done
} >"$work/lifeline.toml"

# HAProxy: the same origins and checks, one thread.
{
  printf 'global\n  nbthread 1\n  maxconn 5000\n\ndefaults\n  mode http\n  timeout connect 500ms\n  timeout server 500ms\n  timeout client 5s\n  timeout check 500ms\n\n'
  printf 'frontend f\n  bind 127.0.0.1:%s\n  default_backend b\n\nbackend b\n  option httpchk GET /health\n  http-check expect string healthy\n  default-server check inter 1s fall 2 rise 2\n' "$HAPROXY_PORT"
  for i in $(seq 0 $((N - 1))); do
    printf '  server o%s 127.0.0.1:%s\n' "$i" $((BASE_PORT + i))
  done
} >"$work/haproxy.cfg"

# CPU seconds (user + system) of a process so far.
cpu_seconds() {
  awk -v tck="$(getconf CLK_TCK)" '{ print ($14 + $15) / tck }' "/proc/$1/stat"
}
rss_mib() { awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

measure() { # name pid -> "cpu_percent rss_mib"
  sleep "$WARMUP"
  local before after
  before=$(cpu_seconds "$2")
  sleep "$DURATION"
  after=$(cpu_seconds "$2")
  echo "$(awk -v a="$after" -v b="$before" -v d="$DURATION" 'BEGIN { printf "%.2f", (a - b) / d * 100 }') $(rss_mib "$2")"
}

run_lifeline() {
  rm -f "$work/state.redb"
  "$bin" run -c "$work/lifeline.toml" 2>"$work/lifeline.log" &
  local pid=$!
  local result
  result=$(measure lifeline "$pid")
  local checks
  checks=$(curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" | awk '/^lifeline_check_duration_seconds_count/ { s += $2 } END { print s }')
  local healthy
  healthy=$(curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" | awk '/^lifeline_origin_healthy/ { s += $2 } END { print s }')
  kill "$pid"; wait "$pid" || true
  echo "$result $checks $healthy"
}

run_haproxy() {
  haproxy -f "$work/haproxy.cfg" -db 2>"$work/haproxy.log" &
  local pid=$!
  local result
  result=$(measure haproxy "$pid")
  kill "$pid"; wait "$pid" || true
  echo "$result"
}

printf 'N=%s origins checked every 1s; %ss measured after %ss warm-up; %s runs each, interleaved\n\n' "$N" "$DURATION" "$WARMUP" "$RUNS"
printf '%-4s %-9s %12s %10s %s\n' run tool "cpu%(1core)" rss_mib notes
: >"$work/results"
for run in $(seq 1 "$RUNS"); do
  read -r cpu rss checks healthy < <(run_lifeline)
  printf '%-4s %-9s %12s %10s %s\n' "$run" lifeline "$cpu" "$rss" "checks_total=$checks healthy=$healthy/$N"
  echo "lifeline $cpu $rss" >>"$work/results"
  read -r cpu rss < <(run_haproxy)
  printf '%-4s %-9s %12s %10s\n' "$run" haproxy "$cpu" "$rss"
  echo "haproxy $cpu $rss" >>"$work/results"
done

python3 - "$work/results" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
med = {}
for tool in ("lifeline", "haproxy"):
    values = [(float(c), float(r)) for t, c, r in rows if t == tool]
    med[tool] = (statistics.median(v[0] for v in values), statistics.median(v[1] for v in values))
print()
print(f"median    lifeline: {med['lifeline'][0]:.2f}% of one core, {med['lifeline'][1]:.1f} MiB RSS")
print(f"median    haproxy:  {med['haproxy'][0]:.2f}% of one core, {med['haproxy'][1]:.1f} MiB RSS")
print(f"ratio lifeline/haproxy: cpu {med['lifeline'][0] / med['haproxy'][0]:.2f}, rss {med['lifeline'][1] / med['haproxy'][1]:.2f}")
print(f"goal (lifeline < 10% of one core, < 64 MiB): {'met' if med['lifeline'][0] < 10 and med['lifeline'][1] < 64 else 'NOT met'}")
PY
