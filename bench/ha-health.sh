#!/usr/bin/env bash
# Shared health on etcd: three Lifeline instances checking the same N HTTP origins every second.
#
#   1. Idle: how many writes etcd takes per second when nothing changes (etcd's revision grows by
#      one per write), and each instance's CPU and RSS meanwhile.
#   2. Propagation: FLIPS times, one origin is made to fail its checks and then to pass them
#      again; each time the leader decides, and each follower logs how long the decision took to
#      reach its routing (`applied the leader's health decisions`, lag_ms). Prints p50 and p99
#      over every follower and decision.
#
#   bench/ha-health.sh                    # N=1000 DURATION=30 FLIPS=20
#   N=200 DURATION=10 FLIPS=5 bench/ha-health.sh
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-1000}
DURATION=${DURATION:-30}
FLIPS=${FLIPS:-20}
BASE_PORT=${BASE_PORT:-23000}
ADMIN_PORT=${ADMIN_PORT:-29190}
ETCD_PORT=${ETCD_PORT:-29379}

scripts/install-deps.sh --bench
cargo build --release --quiet --bin lifeline
bin=${CARGO_TARGET_DIR:-target}/release/lifeline
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)"

etcd --name bench --data-dir "$work/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
  --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
  --initial-cluster "bench=http://127.0.0.1:$((ETCD_PORT + 1))" 2>"$work/etcd.log" &
pids+=("$!")
"$bin" origin --listen "127.0.0.1:$BASE_PORT" --count "$N" --name o 2>"$work/origins.log" &
pids+=("$!")
until curl -sf "http://127.0.0.1:$ETCD_PORT/health" >/dev/null; do sleep 0.2; done

# The same config on every instance but for its name and admin port: N origins in 10 pools.
config() { # name admin_port
  printf '[instance]\nname = "%s"\n\n[store]\nbackend = "etcd"\nendpoints = ["http://127.0.0.1:%s"]\nprefix = "/bench"\n\n' "$1" "$ETCD_PORT"
  printf '[admin]\nlisten = "127.0.0.1:%s"\n\n' "$2"
  printf '[[monitor]]\nname = "web"\ntype = "http"\npath = "/health"\nexpected_body = "healthy"\ninterval = "1s"\ntimeout = "500ms"\n'
  for pool in $(seq 0 9); do
    printf '\n[[pool]]\nname = "pool%s"\nmonitor = "web"\nminimum_origins = 1\norigins = [\n' "$pool"
    for i in $(seq "$pool" 10 $((N - 1))); do
      printf '  { name = "o%s", address = "127.0.0.1:%s" },\n' "$i" $((BASE_PORT + i))
    done
    printf ']\n'
  done
}

revision() {
  curl -s -X POST "http://127.0.0.1:$ETCD_PORT/v3/kv/range" -d '{"key":"AA=="}' |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["header"]["revision"])'
}
healthy() { # admin_port
  curl -s "http://127.0.0.1:$1/metrics" | awk '/^lifeline_origin_healthy/ { s += $2 } END { print s + 0 }'
}
cpu_seconds() { awk -v tck="$(getconf CLK_TCK)" '{ print ($14 + $15) / tck }' "/proc/$1/stat"; }
rss_mib() { awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
# Follower lb-N's "applied" log lines since its mark, and how many.
applied_lines() { tail -n +$(($(cat "$work/lb-$1.mark") + 1)) "$work/lb-$1.log" | grep "applied the leader's health decisions"; }
applied_since() { applied_lines "$1" | wc -l; }

instance_pids=()
for n in 1 2 3; do
  config "lb-$n" $((ADMIN_PORT + n)) >"$work/lb-$n.toml"
  "$bin" --log-format json run -c "$work/lb-$n.toml" 2>"$work/lb-$n.log" &
  pids+=("$!")
  instance_pids+=("$!")
  # lb-1 leads: the others start once it does.
  [ "$n" -eq 1 ] && until curl -s "http://127.0.0.1:$((ADMIN_PORT + 1))/status" | grep -q '"role":"leader"'; do sleep 0.2; done
done
# Every instance routes every origin as healthy, and has checked each itself: its own view in
# etcd lists all of them healthy.
own_view_healthy() { # instance
  curl -s -X POST "http://127.0.0.1:$ETCD_PORT/v3/kv/range" \
    -d "{\"key\":\"$(printf '/bench/keys/health/views/%s' "$1" | base64 -w0)\"}" |
    python3 -c 'import base64, json, sys
kvs = json.load(sys.stdin).get("kvs", [])
view = json.loads(base64.b64decode(kvs[0]["value"])) if kvs else {"origins": {}}
print(sum(1 for seen in view["origins"].values() if seen["health"] == "healthy"))'
}
for n in 1 2 3; do
  until [ "$(healthy $((ADMIN_PORT + n)))" -eq "$N" ]; do sleep 0.5; done
  deadline=$((SECONDS + 120))
  until [ "$(own_view_healthy "lb-$n")" -eq "$N" ]; do
    [ $SECONDS -lt $deadline ] || { echo "lb-$n never shared all $N origins as healthy" >&2; exit 1; }
    sleep 0.5
  done
done
sleep 3 # let the start-up writes (each instance's first view) settle

printf '%s origins checked every 1 s by 3 instances on one etcd\n\n' "$N"
r0=$(revision)
cpu0=(); for pid in "${instance_pids[@]}"; do cpu0+=("$(cpu_seconds "$pid")"); done
sleep "$DURATION"
r1=$(revision)
printf 'idle, %s s: etcd writes %s (%s/s; goal < 20/s)\n' "$DURATION" $((r1 - r0)) \
  "$(awk -v w=$((r1 - r0)) -v d="$DURATION" 'BEGIN { printf "%.2f", w / d }')"
for i in 0 1 2; do
  pid=${instance_pids[$i]}
  printf '  lb-%s: %s%% of one core, %s MiB RSS\n' $((i + 1)) \
    "$(awk -v a="$(cpu_seconds "$pid")" -v b="${cpu0[$i]}" -v d="$DURATION" 'BEGIN { printf "%.2f", (a - b) / d * 100 }')" \
    "$(rss_mib "$pid")"
done

r0=$(revision)
missed=0
: >"$work/lags"
for flip in $(seq 1 "$FLIPS"); do
  port=$((BASE_PORT + (flip * 37) % N))
  for status in 503 200; do
    for n in 2 3; do wc -l <"$work/lb-$n.log" >"$work/lb-$n.mark"; done
    curl -s -X POST "http://127.0.0.1:$port/_control?status=$status&delay_ms=0" >/dev/null
    # Each follower applies the decision (counted apart, so one applying twice hides nothing).
    for n in 2 3; do
      reached=0
      for _ in $(seq 1 100); do
        [ "$(applied_since "$n")" -ge 1 ] && { reached=1; break; }
        sleep 0.1
      done
      [ "$reached" = 1 ] || missed=$((missed + 1))
    done
    # Only what this decision caused.
    for n in 2 3; do
      applied_lines "$n" >>"$work/lags" || true
    done
  done
done
r1=$(revision)
printf '\npropagation, %s origins failed and recovered: etcd writes %s; decisions a follower did not apply within 10 s: %s\n' "$FLIPS" $((r1 - r0)) "$missed"
python3 -c '
import json, statistics, sys
lags = sorted(json.loads(line)["fields"]["lag_ms"] for line in sys.stdin)
if not lags:
    sys.exit("no decision reached a follower")
p = lambda q: lags[min(len(lags) - 1, int(q * len(lags)))]
print(f"  leader decision to follower routing: {len(lags)} samples, p50 {p(0.5)} ms, p99 {p(0.99)} ms, max {lags[-1]} ms (goal p99 < 100 ms)")
' <"$work/lags"
