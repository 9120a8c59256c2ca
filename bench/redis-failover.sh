#!/usr/bin/env bash
# Redis failover: Lifeline against Redis Sentinel, on the same three-node Redis 7.0 group (a master
# and two replicas on loopback ports, built as the Redis manual says: `replicaof` and `masterauth`
# in each replica's redis.conf, `requirepass` on every node, no persistence), each run on a fresh
# group, RUNS runs interleaved. A writer (bench/redis-writer.py, redis-py on the system python3)
# sends SET k<i> <i> every 10 ms, reconnecting on error, and records every acknowledged key with
# the times it was sent and acknowledged. Sentinel's writer finds the master through Sentinel
# discovery (`Sentinel([...]).master_for("cache")`); Lifeline's connects to its writer_listen.
#
#   rto         kill -9 of the master -> the first acknowledged write sent after it (at most
#               KILL_WAIT, 120 s: "none" if nothing by then); then the acknowledged keys missing on
#               the new master (lost). Lifeline with its defaults; three Sentinels (quorum 2) with
#               Debian's settings (down-after-milliseconds 30000, failover-timeout 180000: a run
#               takes over 30 s) and tuned (down-after-milliseconds 1000, failover-timeout 5000).
#               Lifeline twice: clients on its writer endpoint (lifeline), and the Sentinel
#               flavour's client code on its sentinel_listen (lifeline-discovery).
#   switchover  `lifeline switchover cache --to r2` / `SENTINEL FAILOVER cache` (tuned Sentinels)
#               with the writer running, SWITCHOVER_RUNS runs: the longest gap between two acks
#               around it, and the lost writes (acknowledged by the old master after the new one
#               was promoted, until it is made a replica).
#
#   bench/redis-failover.sh                       # RUNS=5, both scenarios
#   SCENARIOS=switchover RUNS=3 bench/redis-failover.sh
#   SENTINEL=0 bench/redis-failover.sh            # the Lifeline side only
#   LIFELINE=0 RUNS=1 bench/redis-failover.sh     # the Sentinel side only (no cargo build)
#   KEEP=1 bench/redis-failover.sh                # keep the work dir (configs, logs, acks)
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}
SWITCHOVER_RUNS=${SWITCHOVER_RUNS:-$RUNS}
SCENARIOS=${SCENARIOS:-"rto switchover"}
SENTINEL=${SENTINEL:-1}
LIFELINE=${LIFELINE:-1}
KEEP=${KEEP:-0} # 1: keep every run's directory (configs, logs, acks) and print where
KILL_WAIT=${KILL_WAIT:-120}
BASE_PORT=${BASE_PORT:-26400}
REDIS_SERVER=/usr/bin/redis-server # Debian's 7.0; Sentinel is the same binary with --sentinel
PY=/usr/bin/python3                # Debian's python3-redis is installed for the system python

[ "$LIFELINE" = 1 ] || [ "$SENTINEL" = 1 ] || { echo "LIFELINE=0 and SENTINEL=0: nothing to run" >&2; exit 1; }

scripts/install-deps.sh --redis-bench
if [ "$LIFELINE" = 1 ]; then
  cargo build --release --quiet --bin lifeline
  bin=$(realpath "${CARGO_TARGET_DIR:-target}/release/lifeline")
fi
client=$(realpath bench/redis-writer.py)

# Ports: Lifeline's nodes, admin API and endpoints, then Sentinel's nodes and Sentinels.
L_REDIS=($((BASE_PORT + 1)) $((BASE_PORT + 2)) $((BASE_PORT + 3)))
L_ADMIN=$((BASE_PORT + 10)) L_WRITER=$((BASE_PORT + 11)) L_READER=$((BASE_PORT + 12)) L_SENTINEL=$((BASE_PORT + 13))
S_REDIS=($((BASE_PORT + 21)) $((BASE_PORT + 22)) $((BASE_PORT + 23)))
S_SENT=($((BASE_PORT + 31)) $((BASE_PORT + 32)) $((BASE_PORT + 33)))
for port in "${L_REDIS[@]}" $L_ADMIN $L_WRITER $L_READER $L_SENTINEL "${S_REDIS[@]}" "${S_SENT[@]}"; do
  if ss -Hltn "sport = :$port" | grep -q .; then
    echo "port $port is in use; choose another BASE_PORT" >&2
    exit 1
  fi
done

work=$(mktemp -d /tmp/lifeline-redis-bench.XXXXXX)
export REDIS_PASSWORD LIFELINE_TOKEN=bench-token LIFELINE_ADMIN=http://127.0.0.1:$L_ADMIN
REDIS_PASSWORD=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')

run_dir=""
cleanup() {
  set +e
  teardown
  if [ "$KEEP" = 1 ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

now() { date +%s.%N; }
log() { printf '  [%s] %s\n' "$(date +%T)" "$*" >>"$work/progress.log"; }
note() { printf '%s\n' "$*" >&2; }

ours() { # pid -> a live (not zombie) child of this shell, so never a recycled pid
  local state ppid
  read -r state ppid _ < <(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
  [ "$ppid" = "$$" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# Stops everything the current run started (run_pids: nodes, Sentinels, Lifeline and the writer,
# all children of this shell) and removes its directory unless KEEP=1.
run_pids=()
teardown() {
  local pid
  { # (stderr off: no "Killed" job notices)
    for pid in "${run_pids[@]}"; do ! ours "$pid" || kill -9 "$pid" || true; done
    for pid in "${run_pids[@]}"; do wait "$pid" || true; done
  } 2>/dev/null
  run_pids=()
  if [ -n "$run_dir" ]; then
    if [ "$KEEP" = 1 ]; then note "    kept $run_dir"; else rm -rf "$run_dir"; fi
  fi
  run_dir=""
}

start_bg() { # logfile command... ; remembers the pid
  local out=$1
  shift
  "$@" >"$out" 2>&1 &
  run_pids+=("$!")
  last_pid=$!
}

new_run() {
  run_dir=$work/run-$((++run_seq))
  mkdir -p "$run_dir"
}

rcli() { REDISCLI_AUTH=$REDIS_PASSWORD timeout 2 redis-cli -h 127.0.0.1 -p "$1" "${@:2}" 2>/dev/null; } # a node
scli() { timeout 2 redis-cli -h 127.0.0.1 -p "$1" "${@:2}" 2>/dev/null; }                               # a Sentinel
role_of() { rcli "$1" info replication | tr -d '\r' | sed -n 's/^role://p'; }                    # port -> master|slave

# === the Redis group (the same for both tools, on its own ports) ===

node_ports=() node_pids=()
port_of() { [[ $1 =~ ^r[123]$ ]] && echo "${node_ports[$((${1#r} - 1))]}"; } # r2 -> its port
node_at() { # port -> r1..r3
  local i
  for i in 0 1 2; do [ "${node_ports[$i]}" = "$1" ] && echo "r$((i + 1))"; done
  return 0
}

redis_group() { # port1 port2 port3: r1 the master, r2 and r3 its replicas; waits for both links
  local i dir port deadline=$((SECONDS + 30))
  node_ports=("$@") node_pids=()
  for i in 1 2 3; do
    dir=$run_dir/r$i port=${node_ports[$((i - 1))]}
    mkdir -p "$dir"
    {
      printf 'port %s\nbind 127.0.0.1\ndir %s\ndaemonize no\nsave ""\nappendonly no\n' "$port" "$dir"
      printf 'requirepass %s\nmasterauth %s\n' "$REDIS_PASSWORD" "$REDIS_PASSWORD"
      [ "$i" = 1 ] || printf 'replicaof 127.0.0.1 %s\n' "${node_ports[0]}"
    } >"$dir/redis.conf"
    start_bg "$dir/redis.log" "$REDIS_SERVER" "$dir/redis.conf"
    node_pids+=("$last_pid")
  done
  for port in "${node_ports[1]}" "${node_ports[2]}"; do
    until [[ $(rcli "$port" info replication) == *master_link_status:up* ]]; do
      [ $SECONDS -lt $deadline ] || { note "redis: replica on $port not linked after 30s"; tail -5 "$run_dir"/r*/redis.log >&2; return 1; }
      sleep 0.1
    done
  done
  log "redis group up on ${node_ports[*]}"
}

# === Sentinel ===

s_field() { scli "$1" sentinel master cache | paste - - | awk -v f="$2" '$1 == f { print $2 }'; }
s_master() { # the master most Sentinels name
  local port
  port=$(for port in "${S_SENT[@]}"; do scli "$port" sentinel get-master-addr-by-name cache | sed -n 2p; done | sort | uniq -c | sort -rn | awk 'NR == 1 { print $2 }')
  node_at "$port"
}

sentinels_start() { # down_after_ms failover_timeout_ms: three Sentinels, quorum 2
  local i dir port deadline=$((SECONDS + 60))
  for i in 1 2 3; do
    dir=$run_dir/s$i
    mkdir -p "$dir"
    cat >"$dir/sentinel.conf" <<EOF
port ${S_SENT[$((i - 1))]}
bind 127.0.0.1
daemonize no
dir $dir
sentinel monitor cache 127.0.0.1 ${node_ports[0]} 2
sentinel auth-pass cache $REDIS_PASSWORD
sentinel down-after-milliseconds cache $1
sentinel failover-timeout cache $2
sentinel parallel-syncs cache 1
EOF
    start_bg "$dir/sentinel.log" "$REDIS_SERVER" "$dir/sentinel.conf" --sentinel
  done
  # Ready: every Sentinel sees the master, both replicas and the two other Sentinels.
  for port in "${S_SENT[@]}"; do
    until [ "$(s_field "$port" flags)" = master ] && [ "$(s_field "$port" num-slaves)" = 2 ] &&
      [ "$(s_field "$port" num-other-sentinels)" = 2 ]; do
      [ $SECONDS -lt $deadline ] || { note "sentinel on $port not ready after 60s"; tail -5 "$run_dir"/s*/sentinel.log >&2; return 1; }
      sleep 0.2
    done
  done
  log "sentinels up on ${S_SENT[*]} (down-after $1 ms, failover-timeout $2 ms)"
}

# === Lifeline ===

lifeline_start() { # Lifeline's defaults (no check_interval, failure_threshold)
  cat >"$run_dir/lifeline.toml" <<EOF
[admin]
listen = "127.0.0.1:$L_ADMIN"
state_file = "$run_dir/lifeline.redb"
token = "\${LIFELINE_TOKEN}"

[[cluster]]
name = "cache"
kind = "redis"
nodes = [
  { name = "r1", address = "127.0.0.1:${L_REDIS[0]}" },
  { name = "r2", address = "127.0.0.1:${L_REDIS[1]}" },
  { name = "r3", address = "127.0.0.1:${L_REDIS[2]}" },
]
password = "\${REDIS_PASSWORD}"
writer_listen = "127.0.0.1:$L_WRITER"
reader_listen = "127.0.0.1:$L_READER"
sentinel_listen = "127.0.0.1:$L_SENTINEL"
EOF
  start_bg "$run_dir/lifeline.log" "$bin" run -c "$run_dir/lifeline.toml"
  lifeline_pid=$last_pid
}

l_status() { "$PY" "$client" json "$LIFELINE_ADMIN/failover/status?cluster=cache" "clusters.0.$1"; }
l_events() { "$PY" "$client" events "$LIFELINE_ADMIN/failover/history?cluster=cache&limit=1000"; }

lifeline_wait_healthy() { # healthy, r1 the primary
  local deadline=$((SECONDS + 30))
  until [ "$(l_status state)" = healthy ] && [ "$(l_status primary)" = r1 ]; do
    ours "$lifeline_pid" || { note "lifeline exited"; return 1; }
    [ $SECONDS -lt $deadline ] || { note "lifeline: not healthy on r1 after 30s (state '$(l_status state)', primary '$(l_status primary)')"; return 1; }
    sleep 0.1
  done
  log "lifeline healthy"
}

show_lifeline_trouble() {
  note "    lifeline events:"
  l_events | sed 's/^/      /' >&2
  note "    lifeline log (last 15 lines):"
  tail -15 "$run_dir/lifeline.log" | sed 's/^/      /' >&2
}

primary_of() { if [ "$1" = lifeline ]; then l_status primary; else s_master; fi; } # tool -> r1..r3

# === the writer ===

writer_start() { # sentinel PORT... | direct HOST:PORT
  : >"$run_dir/acks"
  start_bg "$run_dir/writer.log" "$PY" "$client" writer "$@" --acks "$run_dir/acks"
  writer_pid=$last_pid
}
writer_stop() {
  kill -TERM "$writer_pid" 2>/dev/null || true
  wait "$writer_pid" 2>/dev/null || true
}
acks_after() { "$PY" "$client" first-ack "$run_dir/acks" "$1"; } # t -> seconds to the first ack of a write sent after t, or "none"
wait_ack_after() { # t timeout_s -> 0 once a write sent after t was acknowledged
  local deadline
  deadline=$(awk -v t="$(now)" -v d="$2" 'BEGIN { printf "%d", t + d }')
  while [ "$(acks_after "$1")" = none ]; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}
wait_writing() { # the writer's first ack, then 2 s of writes
  wait_ack_after 0 15 || { note "    no write acknowledged 15s after the writer started:"; tail -3 "$run_dir/writer.log" >&2; return 1; }
  sleep 2
}

# === scenarios ===

rows=$work/rows # scenario tool value lost acked

row() { # run tool scenario value lost/acked primary notes...
  printf '%-4s %-16s %-11s %9s %11s  %-7s %s\n' "$@"
}

setup_fail() { # run tool scenario
  row "$1" "$2" "$3" fail - - "setup failed (see above)"
  [ "$2" = lifeline ] && [ -f "$run_dir/lifeline.log" ] && show_lifeline_trouble
  teardown
}

# Sets lost and acked: acknowledged keys missing on NODE (the new master, read directly).
count_lost() { # tool node
  local result port
  lost=- acked=-
  port=$(port_of "$2") || return 0
  result=$("$PY" "$client" lost "127.0.0.1:$port" "$run_dir/acks" 2>"$run_dir/lost.log") || result="- -"
  read -r lost acked <<<"$result"
  [ "$lost" = 0 ] || note "    $1: $lost acknowledged writes missing on $2: $(tail -1 "$run_dir/lost.log")"
}

# Kills the master (r1) with the writer running; sets rto, lost, acked and primary.
measure_kill() { # tool
  local pid=${node_pids[0]} t
  rto=none lost=- acked=- primary=none
  wait_writing || { writer_stop; return; }
  ours "$pid" || { note "    $1: the master r1 is not running"; writer_stop; return; }
  kill -9 "$pid"
  { wait "$pid" || true; } 2>/dev/null # dead (and reaped) before t
  t=$(now)
  log "$1: killed r1 (pid $pid) at $t"
  if wait_ack_after "$t" "$KILL_WAIT"; then
    rto=$(acks_after "$t")
    sleep 1
  fi
  log "$1: rto $rto"
  writer_stop
  primary=$(primary_of "$1")
  primary=${primary:-none}
  count_lost "$1" "$primary"
}

lifeline_rto() { # run via(endpoint|sentinel): the writer endpoint, or Sentinel discovery through sentinel_listen
  local tool=lifeline
  [ "$2" = sentinel ] && tool=lifeline-discovery
  new_run
  log "run $1 $tool rto"
  { redis_group "${L_REDIS[@]}" && lifeline_start && lifeline_wait_healthy; } || { setup_fail "$1" "$tool" rto; return; }
  if [ "$2" = sentinel ]; then
    writer_start sentinel "$L_SENTINEL"
  else
    writer_start direct "127.0.0.1:$L_WRITER"
  fi
  measure_kill lifeline
  row "$1" "$tool" rto "$rto" "$lost/$acked" "$primary" "r1 killed; state $(l_status state)"
  echo "rto $tool $rto $lost $acked" >>"$rows"
  [ "$rto" != none ] || show_lifeline_trouble
  teardown
}

sentinel_rto() { # run flavour(default|tuned)
  local down_after=30000 failover_timeout=180000
  [ "$2" = tuned ] && down_after=1000 failover_timeout=5000
  new_run
  log "run $1 sentinel-$2 rto"
  { redis_group "${S_REDIS[@]}" && sentinels_start $down_after $failover_timeout; } || { setup_fail "$1" "sentinel-$2" rto; return; }
  writer_start sentinel "${S_SENT[@]}"
  measure_kill "sentinel-$2"
  row "$1" "sentinel-$2" rto "$rto" "$lost/$acked" "$primary" "r1 killed; down-after ${down_after}ms"
  echo "rto sentinel-$2 $rto $lost $acked" >>"$rows"
  teardown
}

# After a switchover from BEFORE: waits (30 s at most) until the tool names another primary, which
# says it is a master, and BEFORE says it is a replica; sets after and settled (the time).
settle() { # tool before
  local deadline=$((SECONDS + 30))
  settle_note=""
  while :; do
    after=$(primary_of "$1")
    if [ -n "$after" ] && [ "$after" != "$2" ] && [ "$(role_of "$(port_of "$after")")" = master ] &&
      [ "$(role_of "$(port_of "$2")")" = slave ]; then
      break
    fi
    [ $SECONDS -lt $deadline ] || { settle_note="; not settled 30s later (primary '${after}', $2 a '$(role_of "$(port_of "$2")")')"; break; }
    sleep 0.1
  done
  settled=$(now)
  after=${after:-none}
}

# With the writer running, the switchover done by `command...`: the longest gap between two acks
# from its start to a second after it settled, and the acknowledged keys missing on the new master.
measure_switchover() { # run tool command...
  local run=$1 tool=$2 before t0 t1 ok=ok gap
  shift 2
  wait_writing || { writer_stop; row "$run" "$tool" switchover fail - - "no writes"; return; }
  before=$(primary_of "$tool")
  t0=$(now)
  "$@" >"$run_dir/switchover.log" 2>&1 || ok="FAILED: $(tail -2 "$run_dir/switchover.log" | tr '\n' ' ')"
  t1=$(now)
  settle "$tool" "$before"
  log "$tool: switchover $before -> $after, command $t0..$t1, settled $settled"
  wait_ack_after "$settled" 30 || true
  sleep 1
  writer_stop
  gap=$("$PY" "$client" pause "$run_dir/acks" "$t0" "$settled")
  count_lost "$tool" "$after"
  row "$run" "$tool" switchover "$gap" "$lost/$acked" "$after" "$before -> $after; command $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')s, settled $(awk -v a="$t0" -v b="$settled" 'BEGIN { printf "%.2f", b - a }')s after its start; $ok$settle_note"
  echo "switchover $tool $gap $lost $acked" >>"$rows"
  [ "$tool" != lifeline ] || [ "$ok" = ok ] || show_lifeline_trouble
}

sentinel_failover_command() { # SENTINEL FAILOVER to the first Sentinel; fails unless it answers OK
  local answer
  answer=$(scli "${S_SENT[0]}" sentinel failover cache)
  echo "$answer"
  [ "$answer" = OK ]
}

lifeline_switchover() { # run
  new_run
  log "run $1 lifeline switchover"
  { redis_group "${L_REDIS[@]}" && lifeline_start && lifeline_wait_healthy; } || { setup_fail "$1" lifeline switchover; return; }
  writer_start direct "127.0.0.1:$L_WRITER"
  measure_switchover "$1" lifeline "$bin" switchover cache --to r2 --admin "$LIFELINE_ADMIN" # token: $LIFELINE_TOKEN
  teardown
}

sentinel_switchover() { # run: tuned Sentinels
  new_run
  log "run $1 sentinel-tuned switchover"
  { redis_group "${S_REDIS[@]}" && sentinels_start 1000 5000; } || { setup_fail "$1" sentinel-tuned switchover; return; }
  writer_start sentinel "${S_SENT[@]}"
  measure_switchover "$1" sentinel-tuned sentinel_failover_command
  teardown
}

# === main ===

if ! "$PY" -c "import redis" 2>/dev/null; then
  note "$PY cannot import redis (python3-redis): no writer, nothing to measure"
  exit 1
fi
has() { [[ " $SCENARIOS " == *" $1 "* ]]; }
has rto || RUNS=0
has switchover || SWITCHOVER_RUNS=0
run_seq=0
: >"$rows"
: >"$work/progress.log"
note "progress: tail -f $work/progress.log"
printf 'Redis %s, 1 master + 2 replicas; writer: SET every 10 ms, redis-py %s\n' \
  "$("$REDIS_SERVER" --version | sed -n 's/.* v=\([^ ]*\).*/\1/p')" "$("$PY" -c 'import redis; print(redis.__version__)')"
printf 'Lifeline%s: defaults, writer endpoint; Sentinel%s: 3 Sentinels, quorum 2, default (down-after 30000 ms, failover-timeout 180000 ms) and tuned (1000 ms, 5000 ms), Sentinel discovery\n' \
  "$([ "$LIFELINE" = 1 ] || echo ' (skipped)')" "$([ "$SENTINEL" = 1 ] || echo ' (skipped)')"
printf 'RUNS=%s SWITCHOVER_RUNS=%s, interleaved, each on a fresh group\n\n' "$RUNS" "$SWITCHOVER_RUNS"
row run tool scenario seconds lost/acked primary notes
started=$SECONDS
for run in $(seq 1 "$RUNS"); do
  if [ "$LIFELINE" = 1 ]; then
    lifeline_rto "$run" endpoint
    lifeline_rto "$run" sentinel
  fi
  if [ "$SENTINEL" = 1 ]; then
    sentinel_rto "$run" default
    sentinel_rto "$run" tuned
  fi
done
for run in $(seq 1 "$SWITCHOVER_RUNS"); do
  [ "$LIFELINE" = 1 ] && lifeline_switchover "$run"
  [ "$SENTINEL" = 1 ] && sentinel_switchover "$run"
done
printf '\n(%ss in all; "seconds" is the RTO for rto, the longest write pause for switchover)\n' $((SECONDS - started))

"$PY" - "$rows" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1]) if line.strip()]
def values(scenario, tool, column):
    return [float(r[column]) for r in rows if r[0] == scenario and r[1] == tool and r[column] not in ("none", "-", "fail")]
def med(xs):
    return statistics.median(xs) if xs else None
def fmt(x, unit="s"):
    return "-" if x is None else f"{x:.2f}{unit}" if unit else f"{x:g}"
print()
for scenario, label in (("rto", "RTO"), ("switchover", "switchover pause")):
    meds = {}
    for tool in ("lifeline", "lifeline-discovery", "sentinel-default", "sentinel-tuned"):
        n = sum(1 for r in rows if r[0] == scenario and r[1] == tool)
        if not n:
            continue
        seconds, lost = values(scenario, tool, 2), values(scenario, tool, 3)
        meds[tool] = med(seconds)
        failed = n - len(seconds)
        print(f"median {label:16} {tool:16} {fmt(meds[tool]):>7}  lost: median {fmt(med(lost), '')}, "
              f"max {fmt(max(lost) if lost else None, '')}, total {fmt(sum(lost) if lost else None, '')}"
              f"{f' ({failed} of {n} runs without a result)' if failed else ''}")
    for tool in ("sentinel-tuned", "sentinel-default"):
        if meds.get("lifeline") and meds.get(tool):
            print(f"  ratio {label} lifeline/{tool}: {meds['lifeline'] / meds[tool]:.2f}")
PY
