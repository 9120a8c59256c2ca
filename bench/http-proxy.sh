#!/usr/bin/env bash
# The HTTP load balancer side by side with HAProxy and nginx, each on one thread, in front of the
# same two origins (nginx answering a fixed small body: the cheapest origin there is).
#
#   a) throughput and latency: wrk -t1 -c64 for DURATION s against Lifeline, HAProxy, nginx and
#      straight at one origin (the reference), RUNS times interleaved, each run starting with the
#      next tool so that none always goes first; req/s, p50 and p99, and each proxy's user and
#      system CPU time per request (from /proc: the steadiest figure on a noisy machine).
#   b) kill -9 of one origin under load: wrk for FAIL_SECONDS s per proxy, the origin killed after
#      3 s and started again after 6 s; client-visible errors (non-2xx + socket errors) for
#      Lifeline, HAProxy as commonly set up (retries 3, option redispatch, checks every 1 s),
#      HAProxy without retries or redispatch, and nginx (proxy_next_upstream error timeout).
#      For Lifeline also how long the restarted origin takes to be back in rotation.
#   c) memory: RSS of Lifeline and HAProxy with 1,000 origins in one pool (checked every 5 s)
#      under the same wrk load.
#   d) the slow-upload attack: ATTACKERS connections each announce a 1 MB POST and send a byte of
#      it a second (bench/slow-upload.py, reconnecting when cut) while wrk measures real traffic
#      for DURATION s, in front of two `lifeline origin`s (which, unlike nginx's `return`, read
#      request bodies); ATTACK_RUNS runs. wrk's req/s and errors beside HAProxy's and nginx's, what
#      each proxy did to the attackers, and for Lifeline the origins ejected (the attack used to
#      take both out within a second).
#
# Every proxy passes Host on and adds X-Forwarded-For and X-Forwarded-Proto, as commonly set up
# (HAProxy `option forwardfor`, nginx `proxy_set_header`), so that the origins parse the same
# headers behind each; Lifeline also adds `Forwarded` and answers with `X-Origin`.
#
# CPUs (the reference machine has 2 cores): every proxy runs on cpu 0, alone; wrk and the
# origins share cpu 1. The reference run puts wrk on cpu 0 instead, so that it measures what
# client and origin can do without a proxy in between. Override with PROXY_CPU / LOAD_CPU.
#
#   bench/http-proxy.sh                          # DURATION=10 RUNS=8 FAIL_RUNS=3 ATTACK_RUNS=3
#   DURATION=5 RUNS=3 PARTS=a bench/http-proxy.sh
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
RUNS=${RUNS:-8} # a multiple of the 4 tools: each goes first equally often
FAIL_RUNS=${FAIL_RUNS:-3}
FAIL_SECONDS=${FAIL_SECONDS:-10}
CONNECTIONS=${CONNECTIONS:-64}
N_MANY=${N_MANY:-1000}
ATTACKERS=${ATTACKERS:-60}
ATTACK_RUNS=${ATTACK_RUNS:-3}
PARTS=${PARTS:-abcd}
BASE_PORT=${BASE_PORT:-28000}
MANY_PORT=${MANY_PORT:-31000}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}

ORIGIN1=$((BASE_PORT + 1))
ORIGIN2=$((BASE_PORT + 2))
LIFELINE_PORT=$((BASE_PORT + 10))
ADMIN_PORT=$((BASE_PORT + 11))
HAPROXY_PORT=$((BASE_PORT + 20))
HAPROXY_PLAIN_PORT=$((BASE_PORT + 21))
NGINX_PORT=$((BASE_PORT + 30))
UPLOAD_ORIGIN=$((BASE_PORT + 50)) # and the next port
UPLOAD_LIFELINE=$((BASE_PORT + 52))
UPLOAD_ADMIN=$((BASE_PORT + 53))
UPLOAD_HAPROXY=$((BASE_PORT + 54))
UPLOAD_NGINX=$((BASE_PORT + 55))

scripts/install-deps.sh --bench
cargo build --release --quiet --bin lifeline
bin=$(realpath "${CARGO_TARGET_DIR:-target}/release/lifeline")
work=$(mktemp -d)
mkdir -p "$work/tmp"
pids=()
cleanup() {
  local status=$?
  if [ "$status" -ne 0 ]; then
    for log in "$work"/*.log "$work"/*.err; do
      [ -s "$log" ] && { echo "--- $log"; tail -5 "$log"; }
    done
  fi
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

forget_pid() { # a process that is gone: its PID may be reused, so cleanup must not kill it
  local kept=() pid
  for pid in "${pids[@]}"; do [ "$pid" = "$1" ] || kept+=("$pid"); done
  pids=("${kept[@]}")
}

ulimit -n "$(ulimit -Hn)"
# Prefixes that pin a command (as arrays, so that `$!` is the command's own PID).
on_proxy_cpu=(taskset -c "$PROXY_CPU")
on_load_cpu=(taskset -c "$LOAD_CPU")
rss_mib() { awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
# RSS of a process and its children (nginx's master and worker).
tree_rss_mib() {
  local total=0 pid
  for pid in $1 $(pgrep -P "$1" || true); do
    total=$((total + $(awk '/VmRSS/ { print $2 }' "/proc/$pid/status")))
  done
  awk -v kib="$total" 'BEGIN { printf "%.1f", kib / 1024 }'
}

# User and system CPU ticks of a process and its children (nginx's master and worker).
tree_cpu_ticks() {
  local user=0 system=0 pid fields
  for pid in $1 $(pgrep -P "$1" || true); do
    # Fields after "pid (comm) ": utime and stime are the 12th and 13th.
    read -r -a fields <<<"$(sed 's/.*) //' "/proc/$pid/stat")"
    user=$((user + fields[11]))
    system=$((system + fields[12]))
  done
  echo "$user $system"
}
clock_ticks=$(getconf CLK_TCK)

wait_for() { # deadline_seconds command...: retries the command every 0.1 s
  local deadline=$(($(date +%s) + $1)); shift
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then echo "timed out waiting for: $*" >&2; return 1; fi
    sleep 0.1
  done
}
answers_200() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/")" = 200 ]; }

# Temp paths nginx would otherwise want under /var/lib/nginx.
nginx_common() {
  printf 'error_log %s/%s.err warn;\npid %s/%s.pid;\n' "$work" "$1" "$work" "$1"
  printf 'events { worker_connections 8192; }\n'
}
nginx_http_common() {
  printf '  access_log off;\n  client_body_temp_path %s/tmp/body;\n  proxy_temp_path %s/tmp/proxy;\n' "$work" "$work"
  printf '  fastcgi_temp_path %s/tmp/fcgi;\n  uwsgi_temp_path %s/tmp/uwsgi;\n  scgi_temp_path %s/tmp/scgi;\n' "$work" "$work" "$work"
  printf '  keepalive_requests 1000000;\n  keepalive_timeout 75s;\n'
}

# --- origins: nginx, one process each (no master, so that kill -9 kills the origin) ----------
origin_pid=()
start_origin() { # index port
  local conf="$work/origin$1.conf"
  {
    printf 'daemon off;\nmaster_process off;\nworker_processes 1;\n'
    nginx_common "origin$1"
    printf 'http {\n'
    nginx_http_common
    printf '  server {\n    listen 127.0.0.1:%s;\n' "$2"
    printf '    location = /health { return 200 "healthy\\n"; }\n'
    printf '    location / { default_type text/plain; return 200 "hello from origin%s\\n"; }\n  }\n}\n' "$1"
  } >"$conf"
  "${on_load_cpu[@]}" nginx -p "$work" -e "$work/origin$1.err" -c "$conf" &
  origin_pid[$1]=$!
  pids+=("$!")
  wait_for 10 answers_200 "$2"
}

# --- the proxies, all in front of ORIGIN1 and ORIGIN2, round robin ---------------------------
write_lifeline_config() { # file listen_port admin_port monitor_interval origins...
  local file=$1 port=$2 admin=$3 interval=$4; shift 4
  {
    printf '[admin]\nlisten = "127.0.0.1:%s"\nstate_file = "%s/state-%s.redb"\n\n' "$admin" "$work" "$port"
    printf '[[monitor]]\nname = "web"\ntype = "http"\npath = "/health"\nexpected_body = "healthy"\n'
    printf 'interval = "%s"\ntimeout = "500ms"\nretries = 2\nrise = 2\n\n' "$interval"
    printf '[[pool]]\nname = "origins"\nmonitor = "web"\norigins = [\n'
    local i=0 address
    for address in "$@"; do
      i=$((i + 1))
      printf '  { name = "origin%s", address = "%s" },\n' "$i" "$address"
    done
    printf ']\n\n[[load_balancer]]\nname = "bench"\nlisten = "127.0.0.1:%s"\n' "$port"
    printf 'default_pools = ["origins"]\nretries = 2\ntry_timeout = "1s"\n'
  } >"$file"
}

write_haproxy_config() { # file port redispatch(yes|no) interval origins...
  local file=$1 port=$2 redispatch=$3 interval=$4; shift 4
  {
    printf 'global\n  nbthread 1\n  maxconn 5000\n\n'
    printf 'defaults\n  mode http\n  option http-keep-alive\n  http-reuse always\n'
    printf '  timeout connect 1s\n  timeout client 30s\n  timeout server 30s\n  timeout check 500ms\n\n'
    printf 'frontend f\n  bind 127.0.0.1:%s\n  option forwardfor\n' "$port"
    printf '  http-request set-header X-Forwarded-Proto http\n  default_backend b\n\n'
    printf 'backend b\n  balance roundrobin\n  option httpchk GET /health\n  http-check expect string healthy\n'
    if [ "$redispatch" = yes ]; then
      printf '  retries 3\n  option redispatch\n'
    else
      printf '  retries 0\n'
    fi
    printf '  default-server check inter %s fall 2 rise 2\n' "$interval"
    local i=0 address
    for address in "$@"; do
      i=$((i + 1))
      printf '  server origin%s %s\n' "$i" "$address"
    done
  } >"$file"
}

write_nginx_proxy_config() { # file port [name origin_port1 origin_port2]
  {
    printf 'daemon off;\nworker_processes 1;\n'
    nginx_common "${3:-nginx-proxy}"
    printf 'http {\n'
    nginx_http_common
    printf '  upstream origins {\n    server 127.0.0.1:%s;\n    server 127.0.0.1:%s;\n' "${4:-$ORIGIN1}" "${5:-$ORIGIN2}"
    printf '    keepalive 64;\n    keepalive_requests 1000000;\n  }\n'
    printf '  server {\n    listen 127.0.0.1:%s;\n    location / {\n      proxy_pass http://origins;\n' "$2"
    printf '      proxy_http_version 1.1;\n      proxy_set_header Connection "";\n'
    printf '      proxy_set_header Host $http_host;\n'
    printf '      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n'
    printf '      proxy_set_header X-Forwarded-Proto $scheme;\n'
    printf '      proxy_next_upstream error timeout;\n    }\n  }\n}\n'
  } >"$1"
}

declare -A proxy_pid proxy_port
start_proxies() {
  write_lifeline_config "$work/lifeline.toml" "$LIFELINE_PORT" "$ADMIN_PORT" 1s \
    "127.0.0.1:$ORIGIN1" "127.0.0.1:$ORIGIN2"
  "${on_proxy_cpu[@]}" "$bin" run -c "$work/lifeline.toml" --threads 1 2>"$work/lifeline.log" &
  proxy_pid[lifeline]=$!; proxy_port[lifeline]=$LIFELINE_PORT; pids+=("$!")

  write_haproxy_config "$work/haproxy.cfg" "$HAPROXY_PORT" yes 1s "127.0.0.1:$ORIGIN1" "127.0.0.1:$ORIGIN2"
  "${on_proxy_cpu[@]}" haproxy -f "$work/haproxy.cfg" -db 2>"$work/haproxy.log" &
  proxy_pid[haproxy]=$!; proxy_port[haproxy]=$HAPROXY_PORT; pids+=("$!")

  write_haproxy_config "$work/haproxy-plain.cfg" "$HAPROXY_PLAIN_PORT" no 1s "127.0.0.1:$ORIGIN1" "127.0.0.1:$ORIGIN2"
  "${on_proxy_cpu[@]}" haproxy -f "$work/haproxy-plain.cfg" -db 2>"$work/haproxy-plain.log" &
  proxy_pid[haproxy-plain]=$!; proxy_port[haproxy-plain]=$HAPROXY_PLAIN_PORT; pids+=("$!")

  write_nginx_proxy_config "$work/nginx-proxy.conf" "$NGINX_PORT"
  "${on_proxy_cpu[@]}" nginx -p "$work" -e "$work/nginx-proxy.err" -c "$work/nginx-proxy.conf" &
  proxy_pid[nginx]=$!; proxy_port[nginx]=$NGINX_PORT; pids+=("$!")

  proxy_port[direct]=$ORIGIN1
  local tool
  for tool in lifeline haproxy haproxy-plain nginx; do
    wait_for 20 answers_200 "${proxy_port[$tool]}"
  done
}

# wrk's summary as "req_per_s p50_ms p99_ms non2xx socket_errors".
parse_wrk() {
  python3 - "$1" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
unit = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}
def pct(p):
    m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s|m)\s*$" % p, text, re.M)
    return float(m.group(1)) * unit[m.group(2)] if m else float("nan")
rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
errors = sum(int(x) for x in sock.groups()) if sock else 0
print(f"{float(rps.group(1)) if rps else 0:.0f} {pct(50):.3f} {pct(99):.3f} "
      f"{int(non2xx.group(1)) if non2xx else 0} {errors}")
PY
}

load() { # port seconds output [cpu]
  taskset -c "${4:-$LOAD_CPU}" wrk -t1 -c"$CONNECTIONS" -d"$2"s --latency "http://127.0.0.1:$1/" >"$3" 2>&1
}

results="$work/results"
: >"$results"

# --- a) throughput and latency ---------------------------------------------------------------
part_a() {
  printf '\n== a) throughput: wrk -t1 -c%s -d%ss, proxies on cpu %s, wrk + origins on cpu %s; %s runs, interleaved\n' \
    "$CONNECTIONS" "$DURATION" "$PROXY_CPU" "$LOAD_CPU" "$RUNS"
  printf '%-4s %-9s %10s %9s %9s %7s %8s %8s\n' run tool req/s p50_ms p99_ms errors user_us sys_us
  local run tool cpu before after user_us sys_us tools=(lifeline haproxy nginx direct)
  for run in $(seq 1 "$RUNS"); do
    # Rotated: a tool's place in the run (after which other load, how long since its own last
    # run) is the same for every tool over the runs.
    local first=$(((run - 1) % ${#tools[@]}))
    for tool in "${tools[@]:first}" "${tools[@]:0:first}"; do
      cpu=$LOAD_CPU
      [ "$tool" = direct ] && cpu=$PROXY_CPU
      load "${proxy_port[$tool]}" "$WARMUP" "$work/warmup.txt" "$cpu"
      before=""
      [ "$tool" != direct ] && before=$(tree_cpu_ticks "${proxy_pid[$tool]}")
      load "${proxy_port[$tool]}" "$DURATION" "$work/wrk.txt" "$cpu"
      read -r rps p50 p99 non2xx sockerr < <(parse_wrk "$work/wrk.txt")
      user_us=- sys_us=-
      if [ -n "$before" ]; then
        after=$(tree_cpu_ticks "${proxy_pid[$tool]}")
        read -r user_us sys_us < <(awk -v b="$before" -v a="$after" -v hz="$clock_ticks" \
          -v n="$((rps * DURATION))" 'BEGIN { split(b, x); split(a, y); if (n < 1) n = 1;
            printf "%.2f %.2f\n", (y[1] - x[1]) * 1e6 / hz / n, (y[2] - x[2]) * 1e6 / hz / n }')
      fi
      printf '%-4s %-9s %10s %9s %9s %7s %8s %8s\n' "$run" "$tool" "$rps" "$p50" "$p99" \
        $((non2xx + sockerr)) "$user_us" "$sys_us"
      echo "a $tool $rps $p50 $p99 $user_us $sys_us" >>"$results"
    done
  done
  for tool in lifeline haproxy nginx; do
    echo "rss $tool $(tree_rss_mib "${proxy_pid[$tool]}")" >>"$results"
  done
}

# --- b) kill -9 of one origin under load ------------------------------------------------------
# Microseconds since the epoch, into REPLY, without a fork.
now_us() { REPLY=${EPOCHREALTIME/[.,]/}; }

# Seconds since $1 (microseconds since the epoch), to 0.01 s, into REPLY.
since() {
  local start=$1
  now_us
  local centis=$(((REPLY - start) / 10000))
  printf -v REPLY '%d.%02d' $((centis / 100)) $((centis % 100))
}

# Lifeline: when the restarted origin is healthy in /status and answers through the proxy again.
# It polls every 0.1 s and starts only curl (pinned with the load) and sleep, so that watching
# costs the proxy under test next to nothing: this run's req/s stays comparable with the others'.
watch_recovery() { # restarted_at_us out
  local restarted=$1 healthy="" answered="" deadline=$(($1 + 4000000))
  while now_us && ((REPLY < deadline)); do
    local status headers
    if [ -z "$healthy" ]; then
      status=$("${on_load_cpu[@]}" curl -s "http://127.0.0.1:$ADMIN_PORT/status" || true)
      # origin1's object in /status (an origin's object holds no other object).
      if [[ $status =~ \{[^{}]*\"name\":\"origin1\"[^{}]*\} ]] &&
        [[ ${BASH_REMATCH[0]} == *'"health":"healthy"'* ]]; then
        since "$restarted"
        healthy=$REPLY
      fi
    fi
    if [ -z "$answered" ]; then
      # Two requests: round robin sends one of them to origin1 once it is back.
      headers=$("${on_load_cpu[@]}" curl -s -D - -o /dev/null -o /dev/null \
        "http://127.0.0.1:$LIFELINE_PORT/" "http://127.0.0.1:$LIFELINE_PORT/" || true)
      if [[ ${headers,,} == *'x-origin: origin1'* ]]; then
        since "$restarted"
        answered=$REPLY
      fi
    fi
    [ -n "$healthy" ] && [ -n "$answered" ] && break
    sleep 0.1
  done
  echo "${healthy:-never} ${answered:-never}" >"$2"
}

part_b() {
  printf '\n== b) kill -9 of origin1 after 3 s, restarted after 6 s, wrk -c%s for %ss; %s runs\n' \
    "$CONNECTIONS" "$FAIL_SECONDS" "$FAIL_RUNS"
  printf '%-4s %-14s %8s %8s %10s %s\n' run tool non2xx sockerr req/s notes
  local run tool restarted notes
  for run in $(seq 1 "$FAIL_RUNS"); do
    for tool in lifeline haproxy haproxy-plain nginx; do
      # Both origins up and back in every proxy's rotation (checks rise after 2 x 1 s).
      sleep 3
      wait_for 10 answers_200 "${proxy_port[$tool]}"
      load "${proxy_port[$tool]}" "$FAIL_SECONDS" "$work/wrk.txt" &
      local wrk_pid=$!
      sleep 3
      kill -9 "${origin_pid[1]}"
      wait "${origin_pid[1]}" 2>/dev/null || true
      forget_pid "${origin_pid[1]}"
      sleep 3
      start_origin 1 "$ORIGIN1"
      now_us
      restarted=$REPLY
      notes=""
      if [ "$tool" = lifeline ]; then
        watch_recovery "$restarted" "$work/recovery.txt"
        read -r healthy answered <"$work/recovery.txt"
        notes="origin1 healthy in /status after ${healthy}s, answering after ${answered}s (2 intervals = 2s)"
        echo "recovery $healthy $answered" >>"$results"
      fi
      wait "$wrk_pid"
      read -r rps _ _ non2xx sockerr < <(parse_wrk "$work/wrk.txt")
      printf '%-4s %-14s %8s %8s %10s %s\n' "$run" "$tool" "$non2xx" "$sockerr" "$rps" "$notes"
      echo "b $tool $non2xx $sockerr" >>"$results"
    done
  done
}

# --- c) memory with 1,000 origins -------------------------------------------------------------
part_c() {
  printf '\n== c) memory: %s origins in one pool (one `lifeline origin --count %s` process), checks every 5 s, wrk -c%s for %ss\n' \
    "$N_MANY" "$N_MANY" "$CONNECTIONS" "$DURATION"
  "${on_load_cpu[@]}" "$bin" origin --listen "127.0.0.1:$MANY_PORT" --count "$N_MANY" --name o 2>"$work/many.log" &
  pids+=("$!")
  wait_for 20 answers_200 $((MANY_PORT + N_MANY - 1))
  local addresses=() i
  for i in $(seq 0 $((N_MANY - 1))); do addresses+=("127.0.0.1:$((MANY_PORT + i))"); done
  local port=$((BASE_PORT + 40)) admin=$((BASE_PORT + 41)) pid
  printf '%-9s %10s %9s %9s %9s %s\n' tool req/s p50_ms p99_ms rss_mib notes

  write_lifeline_config "$work/many.toml" "$port" "$admin" 5s "${addresses[@]}"
  "${on_proxy_cpu[@]}" "$bin" run -c "$work/many.toml" --threads 1 2>"$work/lifeline-many.log" &
  pid=$!; pids+=("$pid")
  wait_for 30 curl -sf "http://127.0.0.1:$admin/ready"
  local idle
  idle=$(rss_mib "$pid")
  load "$port" "$DURATION" "$work/wrk.txt"
  read -r rps p50 p99 _ _ < <(parse_wrk "$work/wrk.txt")
  printf '%-9s %10s %9s %9s %9s %s\n' lifeline "$rps" "$p50" "$p99" "$(rss_mib "$pid")" "idle before load: $idle MiB"
  echo "c lifeline $(rss_mib "$pid")" >>"$results"
  kill "$pid"; wait "$pid" || true
  forget_pid "$pid"

  write_haproxy_config "$work/many.cfg" "$port" yes 5s "${addresses[@]}"
  "${on_proxy_cpu[@]}" haproxy -f "$work/many.cfg" -db 2>"$work/haproxy-many.log" &
  pid=$!; pids+=("$pid")
  wait_for 30 answers_200 "$port"
  sleep 6 # every server checked once
  idle=$(rss_mib "$pid")
  load "$port" "$DURATION" "$work/wrk.txt"
  read -r rps p50 p99 _ _ < <(parse_wrk "$work/wrk.txt")
  printf '%-9s %10s %9s %9s %9s %s\n' haproxy "$rps" "$p50" "$p99" "$(rss_mib "$pid")" "idle before load: $idle MiB"
  echo "c haproxy $(rss_mib "$pid")" >>"$results"
  kill "$pid"; wait "$pid" || true
  forget_pid "$pid"
}

# --- d) the slow-upload attack under load ----------------------------------------------------
part_d() {
  printf '\n== d) slow-upload attack: %s connections, 1 MB announced, a byte a second, while wrk -c%s measures %ss; %s runs\n' \
    "$ATTACKERS" "$CONNECTIONS" "$DURATION" "$ATTACK_RUNS"
  "${on_load_cpu[@]}" "$bin" origin --listen "127.0.0.1:$UPLOAD_ORIGIN" --count 2 --name u 2>"$work/upload-origins.log" &
  pids+=("$!")
  wait_for 20 answers_200 $((UPLOAD_ORIGIN + 1))
  local o1="127.0.0.1:$UPLOAD_ORIGIN" o2="127.0.0.1:$((UPLOAD_ORIGIN + 1))"
  declare -A port pid
  write_lifeline_config "$work/upload.toml" "$UPLOAD_LIFELINE" "$UPLOAD_ADMIN" 1s "$o1" "$o2"
  "${on_proxy_cpu[@]}" "$bin" run -c "$work/upload.toml" --threads 1 2>"$work/lifeline-upload.log" &
  pid[lifeline]=$!; port[lifeline]=$UPLOAD_LIFELINE; pids+=("$!")
  write_haproxy_config "$work/upload.cfg" "$UPLOAD_HAPROXY" yes 1s "$o1" "$o2"
  "${on_proxy_cpu[@]}" haproxy -f "$work/upload.cfg" -db 2>"$work/haproxy-upload.log" &
  pid[haproxy]=$!; port[haproxy]=$UPLOAD_HAPROXY; pids+=("$!")
  write_nginx_proxy_config "$work/nginx-upload.conf" "$UPLOAD_NGINX" nginx-upload "$UPLOAD_ORIGIN" $((UPLOAD_ORIGIN + 1))
  "${on_proxy_cpu[@]}" nginx -p "$work" -e "$work/nginx-upload.err" -c "$work/nginx-upload.conf" &
  pid[nginx]=$!; port[nginx]=$UPLOAD_NGINX; pids+=("$!")
  local tool run attack
  for tool in lifeline haproxy nginx; do wait_for 20 answers_200 "${port[$tool]}"; done
  printf '%-4s %-9s %10s %9s %7s %s\n' run tool req/s p99_ms errors "attackers (status:count, closed)"
  for run in $(seq 1 "$ATTACK_RUNS"); do
    for tool in lifeline haproxy nginx; do
      "${on_load_cpu[@]}" python3 bench/slow-upload.py "127.0.0.1:${port[$tool]}" \
        $((WARMUP + DURATION + 1)) --connections "$ATTACKERS" >"$work/attack.txt" &
      attack=$!
      sleep "$WARMUP"
      load "${port[$tool]}" "$DURATION" "$work/wrk.txt"
      wait "$attack"
      read -r rps _ p99 non2xx sockerr < <(parse_wrk "$work/wrk.txt")
      local notes
      notes=$(cat "$work/attack.txt")
      printf '%-4s %-9s %10s %9s %7s %s\n' "$run" "$tool" "$rps" "$p99" $((non2xx + sockerr)) "$notes"
      echo "d $tool $rps $p99 $((non2xx + sockerr))" >>"$results"
    done
  done
  local ejected
  ejected=$(curl -s "http://127.0.0.1:$UPLOAD_ADMIN/events?limit=10000" | grep -o '"kind":"origin_ejected"' | wc -l || true)
  echo "ejected $ejected" >>"$results"
}

if [[ $PARTS == *a* || $PARTS == *b* ]]; then
  start_origin 1 "$ORIGIN1"
  start_origin 2 "$ORIGIN2"
  start_proxies
fi
[[ $PARTS == *a* ]] && part_a
[[ $PARTS == *b* ]] && part_b
[[ $PARTS == *c* ]] && part_c
[[ $PARTS == *d* ]] && part_d

printf '\n== summary\n'
python3 - "$results" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
def med(part, tool, column):
    values = [float(r[column]) for r in rows if r[0] == part and r[1] == tool]
    return statistics.median(values) if values else None

if any(r[0] == "a" for r in rows):
    a = {t: (med("a", t, 2), med("a", t, 3), med("a", t, 4)) for t in ("lifeline", "haproxy", "nginx", "direct")}
    rss = {r[1]: r[2] for r in rows if r[0] == "rss"}
    def cpu(tool, column):
        values = [float(r[column]) for r in rows if r[0] == "a" and r[1] == tool and r[column] != "-"]
        return f"{statistics.median(values):.2f}" if values else "-"
    print("a) medians             req/s    p50_ms    p99_ms   rss_mib  user_us   sys_us  (CPU per request)")
    for tool, (rps, p50, p99) in a.items():
        print(f"   {tool:<14} {rps:>10.0f} {p50:>9.3f} {p99:>9.3f} {rss.get(tool, '-'):>9} "
              f"{cpu(tool, 5):>8} {cpu(tool, 6):>8}")
    l = a["lifeline"]
    for other in ("haproxy", "nginx", "direct"):
        o = a[other]
        print(f"   lifeline/{other:<8} req/s {l[0] / o[0]:.2f}  p50 {l[1] / o[1]:.2f}  p99 {l[2] / o[2]:.2f}")
    # Runs are interleaved, so each run's ratio compares tools under the same machine load;
    # on a noisy machine their median is the steadier figure.
    def runs(tool, column):
        return [float(r[column]) for r in rows if r[0] == "a" and r[1] == tool]
    paired = {
        name: [x / y for x, y in zip(runs("lifeline", column), runs("haproxy", column))]
        for name, column in (("req/s", 2), ("p99", 4))
    }
    for name, ratios in paired.items():
        print(f"   lifeline/haproxy per run, {name:<5}: median {statistics.median(ratios):.2f}  "
              f"runs {[round(x, 2) for x in ratios]}")
    met = (l[0] >= a["haproxy"][0] and l[2] <= a["haproxy"][2]
           and statistics.median(paired["req/s"]) >= 1 and statistics.median(paired["p99"]) <= 1)
    print(f"   goal (req/s >= haproxy's, p99 <= haproxy's, in medians and per run): "
          f"{'met' if met else 'NOT met'}")

if any(r[0] == "b" for r in rows):
    print("b) client-visible errors per run (median; non-2xx + socket errors)")
    for tool in ("lifeline", "haproxy", "haproxy-plain", "nginx"):
        totals = [int(r[2]) + int(r[3]) for r in rows if r[0] == "b" and r[1] == tool]
        print(f"   {tool:<14} median {statistics.median(totals):>7.0f}   runs {totals}")
    rec = [r for r in rows if r[0] == "recovery"]
    ok = all(r[1] != "never" and float(r[1]) <= 2.0 for r in rec)
    print(f"   lifeline: origin1 healthy again after {[r[1] for r in rec]} s, answering after "
          f"{[r[2] for r in rec]} s; within 2 monitor intervals (2 s): {'yes' if ok else 'NO'}")

if any(r[0] == "d" for r in rows):
    print("d) under the slow-upload attack (medians)  req/s    p99_ms   errors")
    d = {t: (med("d", t, 2), med("d", t, 3), med("d", t, 4)) for t in ("lifeline", "haproxy", "nginx")}
    for tool, (rps, p99, errors) in d.items():
        print(f"   {tool:<36} {rps:>8.0f} {p99:>9.3f} {errors:>8.0f}")
    for other in ("haproxy", "nginx"):
        print(f"   lifeline/{other:<8} req/s {d['lifeline'][0] / d[other][0]:.2f}  p99 {d['lifeline'][1] / d[other][1]:.2f}")
    ejected = [r[1] for r in rows if r[0] == "ejected"]
    print(f"   lifeline: origins ejected during the attack: {ejected[0] if ejected else '?'}")

if any(r[0] == "c" for r in rows):
    c = {r[1]: float(r[2]) for r in rows if r[0] == "c"}
    print(f"c) RSS with 1,000 origins under load: lifeline {c['lifeline']:.1f} MiB, haproxy {c['haproxy']:.1f} MiB, "
          f"ratio {c['lifeline'] / c['haproxy']:.2f}")
PY
