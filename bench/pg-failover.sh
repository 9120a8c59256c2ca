#!/usr/bin/env bash
# PostgreSQL failover: Lifeline against Patroni + etcd + HAProxy, on the same three-node
# PostgreSQL 15 cluster (a primary and two streaming standbys on loopback ports), each run on a
# fresh cluster, RUNS runs interleaved. A writer (bench/pg-writer.py) inserts one row per
# transaction every 10 ms through the writer endpoint (Lifeline's writer_listen, HAProxy's
# frontend), reconnecting on error, and records every acknowledged id with its time.
#
#   rto         kill -9 of the primary's postmaster -> the first acknowledged write after it;
#               then the acknowledged ids missing on the new primary (lost). Lifeline with its
#               defaults (check_interval 1s, failure_threshold 3), Patroni with its defaults
#               (ttl 30, loop_wait 10, retry_timeout 10) and tuned (ttl 10, loop_wait 1,
#               retry_timeout 4); asynchronous replication, and SYNC_RUNS runs in synchronous mode.
#   stock       the cluster exactly as the manual builds it (initdb, `pg_basebackup -R`, every
#               PostgreSQL setting at its default: no application_name, wal_sender_timeout 60s)
#               under Lifeline's defaults in synchronous mode, STOCK_RUNS runs, beside Patroni
#               tuned in synchronous mode (which sets its own parameters).
#   switchover  `lifeline switchover main` / `patronictl switchover --force` with the writer
#               running: the longest gap between two acknowledged writes around it.
#   rto         ... each run's "seconds" counts from the kill to the first ack on a connection
#               opened after it (a backend of the killed postmaster may still ack a commit).
#   host        the machine of the manager and the primary is lost, synchronous mode, HOST_RUNS
#               runs: two Lifeline instances on etcd (defaults, lease_ttl 3s), the leader and
#               pg1's postmaster killed together, the writer on a libpq multi-host DSN over both
#               writer endpoints (target_session_attrs=read-write); Patroni tuned, its leader's
#               patroni and postmaster killed together. RTO to the first ack, and lost writes.
#   etcd        etcd stopped (SIGSTOP) for ETCD_STOP (60) s under the writer, synchronous mode,
#               ETCD_RUNS (1) runs: the longest write pause and what was promoted. Lifeline as in
#               host (two instances), with HTTP load (wrk) through both instances' load
#               balancers all along, its requests and errors in the notes; Patroni with its
#               defaults.
#   trap        the primary dies TRAP_AFTER (9) s after the manager started on a fresh cluster,
#               writes running (Patroni: the whole node, patroni and postmaster, since a lone
#               postmaster is restarted in place; Lifeline has no agent on the node): what each
#               tool did, promoted with N lost, or refused and why (Lifeline's failover_refused).
#
#   bench/pg-failover.sh                      # RUNS=5 SYNC_RUNS=1 STOCK_RUNS=5 TUNED=1 TRAP=1
#   SCENARIOS=stock bench/pg-failover.sh      # the standard-built synchronous cluster only
#   RUNS=3 TUNED=0 bench/pg-failover.sh
#   PATRONI=0 bench/pg-failover.sh            # the Lifeline side only
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}
SYNC_RUNS=${SYNC_RUNS:-1}
STOCK_RUNS=${STOCK_RUNS:-$RUNS}
SWITCHOVER_RUNS=${SWITCHOVER_RUNS:-$RUNS}
HOST_RUNS=${HOST_RUNS:-$RUNS}
ETCD_RUNS=${ETCD_RUNS:-1}
ETCD_STOP=${ETCD_STOP:-60}
TUNED=${TUNED:-1}
TRAP=${TRAP:-1}
PATRONI=${PATRONI:-1}
SCENARIOS=${SCENARIOS:-"rto sync stock host etcd switchover trap"}
KEEP=${KEEP:-0} # 1: keep every run's directory (logs, acks) and print where
TRAP_AFTER=${TRAP_AFTER:-9}
BASE_PORT=${BASE_PORT:-25400}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PY=/usr/bin/python3 # Debian's python3-psycopg2 is installed for the system python

scripts/install-deps.sh --pg-bench
cargo build --release --quiet --bin lifeline
bin=$(realpath "${CARGO_TARGET_DIR:-target}/release/lifeline")
client=$(realpath bench/pg-writer.py)

# Ports: Lifeline's cluster and endpoints, then Patroni's nodes, REST APIs, etcd and HAProxy.
L_PG=($((BASE_PORT + 1)) $((BASE_PORT + 2)) $((BASE_PORT + 3)))
L_ADMIN=$((BASE_PORT + 10)) L_WRITER=$((BASE_PORT + 11)) L_READER=$((BASE_PORT + 12))
# The second instance of the host scenario.
L2_ADMIN=$((BASE_PORT + 13)) L2_WRITER=$((BASE_PORT + 14)) L2_READER=$((BASE_PORT + 15))
# The etcd scenario's HTTP origin and each instance's load balancer in front of it.
L_ORIGIN=$((BASE_PORT + 16)) L_LB=$((BASE_PORT + 17)) L2_LB=$((BASE_PORT + 18))
P_PG=($((BASE_PORT + 21)) $((BASE_PORT + 22)) $((BASE_PORT + 23)))
P_REST=($((BASE_PORT + 31)) $((BASE_PORT + 32)) $((BASE_PORT + 33)))
ETCD_CLIENT=$((BASE_PORT + 40)) ETCD_PEER=$((BASE_PORT + 41)) HAPROXY_PORT=$((BASE_PORT + 50))
for port in "${L_PG[@]}" $L_ADMIN $L_WRITER $L_READER $L2_ADMIN $L2_WRITER $L2_READER $L_ORIGIN $L_LB $L2_LB "${P_PG[@]}" "${P_REST[@]}" $ETCD_CLIENT $ETCD_PEER $HAPROXY_PORT; do
  if ss -Hltn "sport = :$port" | grep -q .; then
    echo "port $port is in use; choose another BASE_PORT" >&2
    exit 1
  fi
done

work=$(mktemp -d /tmp/lifeline-pg-bench.XXXXXX)
chmod 755 "$work"
export LIFELINE_TOKEN PG_PASSWORD
LIFELINE_TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
PG_PASSWORD=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
export LIFELINE_ADMIN=http://127.0.0.1:$L_ADMIN

if [ "$(id -u)" -eq 0 ]; then
  as_pg() { runuser -u postgres -- env -C "$work" "$@"; }
  # For daemons (only through start_bg, in its subshell): exec, and setpriv execs too (runuser
  # would stay as the parent), so $! is the daemon itself.
  pg_daemon() { exec setpriv --reuid=postgres --regid=postgres --init-groups env -C "$work" HOME="$work" "$@"; }
  owner=postgres
else
  as_pg() { env -C "$work" "$@"; }
  pg_daemon() { exec env -C "$work" "$@"; }
  owner=$(id -un)
fi

run_dir=""
cleanup() {
  set +e
  teardown
  [ "$KEEP" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
log() { printf '  [%s] %s\n' "$(date +%T)" "$*" >>"$work/progress.log"; }
note() { printf '%s\n' "$*" >&2; }

# The postmaster of a data directory we created, if it is alive (its cwd is the data directory).
postmaster_of() {
  local data=$1 pid
  [ -f "$data/postmaster.pid" ] || return 1
  pid=$(head -1 "$data/postmaster.pid")
  [ -n "$pid" ] && [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$data" ] || return 1
  echo "$pid"
}

alive() { # pid -> running (a zombie counts as dead)
  local state
  state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}
wait_dead() { # pid... ; up to 10 s
  local deadline=$((SECONDS + 10)) pid
  for pid in "$@"; do
    while alive "$pid" && [ $SECONDS -lt $deadline ]; do sleep 0.05; done
  done
}

# Stops everything the current run started (run_pids: daemons and the writer, all children of
# this shell, so `wait` reaps them and no stale pid is ever signalled): writer, managers, then PostgreSQL (immediate mode:
# SIGQUIT to each postmaster of our data directories), etcd, HAProxy.
run_pids=()
teardown() {
  local pid data postmasters=()
  for pid in "${run_pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  for pid in "${run_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$run_dir" ]; then
    for data in "$run_dir"/pg*/data; do
      pid=$(postmaster_of "$data") && { kill -QUIT "$pid"; postmasters+=("$pid"); }
    done
    wait_dead "${postmasters[@]}"
    for data in "$run_dir"/pg*/data; do
      pid=$(postmaster_of "$data") && kill -9 "$pid"
    done
    [ "$KEEP" = 1 ] || rm -rf "$run_dir"
  fi
  run_pids=()
  [ "$KEEP" = 1 ] && [ -n "$run_dir" ] && note "    kept $run_dir"
  run_dir=""
}

start_bg() { # logfile command... ; remembers the pid
  local out=$1
  shift
  "$@" >"$out" 2>&1 &
  run_pids+=("$!")
  last_pid=$!
}

psql_at() { # dir port sql
  as_pg "$PG_BIN/psql" -X -Atq -v ON_ERROR_STOP=1 -h "$1" -p "$2" -U postgres -d postgres -c "$3"
}

# Standbys streaming from a primary (as `walreceiver`, or under their node names), but not
# pg_basebackup's own WAL stream (-X stream), which shows as `streaming` while a standby is copied.
STREAMING_SQL="SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' AND application_name NOT LIKE '%basebackup%'"
wait_streaming() { # socket_dir port count -> waits until COUNT standbys stream from it
  local deadline=$((SECONDS + 60)) n
  while :; do
    n=$(PGCONNECT_TIMEOUT=2 psql_at "$1" "$2" "$STREAMING_SQL" 2>/dev/null || echo 0)
    [ "$n" -ge "$3" ] && return 0
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.1
  done
}

# === the writer ===

writer_start() { # dsn
  : >"$run_dir/acks"
  start_bg "$run_dir/writer.log" "$PY" "$client" write "$1" "$run_dir/acks"
  writer_pid=$last_pid
}
writer_stop() { # (in the main shell: the writer is its child)
  kill -TERM "$writer_pid" 2>/dev/null || true
  wait "$writer_pid" 2>/dev/null || true
}
acks_after() { # t [--any] -> seconds to the first ack after t (on a connection opened after t), or "none"
  "$PY" "$client" first-ack "$run_dir/acks" "$@"
}
wait_ack_after() { # t timeout_s [--any] -> 0 once a write was acknowledged after t
  local deadline
  deadline=$(awk -v t="$(now)" -v d="$2" 'BEGIN { printf "%d", t + d }')
  while [ "$(acks_after "$1" ${3:-})" = none ]; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}

# === Lifeline's cluster ===

# initdb, pg_basebackup -R -X stream: the same cluster as crates/testkit/src/pg, built as the
# manual says (standbys stream as `walreceiver`; Lifeline names them itself).
node_conf() { # port socket_dir stock(0|1)
  cat <<EOF

# --- bench/pg-failover.sh (as crates/testkit/src/pg/conf.rs) ---
listen_addresses = '127.0.0.1'
port = $1
unix_socket_directories = '$2'
max_connections = 50
shared_buffers = '16MB'
logging_collector = off
log_line_prefix = '%m [%p] %q%a '
EOF
  [ "$3" = 1 ] || cat <<EOF
wal_log_hints = on
wal_keep_size = '64MB'
wal_sender_timeout = '2s'
wal_receiver_timeout = '2s'
wal_receiver_status_interval = '1s'
wal_retrieve_retry_interval = '200ms'
EOF
}

pg_start() { # node_dir
  as_pg "$PG_BIN/pg_ctl" start -w -t 60 -s -D "$1/data" -l "$1/postgres.log" >/dev/null
}

lifeline_cluster() { # stock(0|1)
  local i dir p1=${L_PG[0]} stock=${1:-0}
  for i in 1 2 3; do
    mkdir -p "$run_dir/pg$i"
    chown "$owner" "$run_dir/pg$i"
  done
  dir=$run_dir/pg1
  as_pg "$PG_BIN/initdb" -D "$dir/data" -U postgres -E UTF8 --locale=C --auth-local=trust \
    --auth-host=scram-sha-256 --no-sync --no-instructions >"$dir/initdb.log" 2>&1
  node_conf "$p1" "$dir" "$stock" >>"$dir/data/postgresql.conf"
  printf 'local all all trust\nlocal replication all trust\nhost all all 127.0.0.1/32 scram-sha-256\nhost replication all 127.0.0.1/32 scram-sha-256\n' >"$dir/data/pg_hba.conf"
  pg_start "$dir"
  psql_at "$dir" "$p1" "CREATE ROLE lifeline WITH LOGIN REPLICATION SUPERUSER PASSWORD '$PG_PASSWORD'"
  for i in 2 3; do
    dir=$run_dir/pg$i
    as_pg env PGPASSWORD="$PG_PASSWORD" "$PG_BIN/pg_basebackup" \
      -h 127.0.0.1 -p "$p1" -U lifeline -D "$dir/data" -R -X stream -c fast --no-sync -w
    node_conf "${L_PG[$((i - 1))]}" "$dir" "$stock" >>"$dir/data/postgresql.conf"
  done
  pg_start "$run_dir/pg2" &
  local started=$!
  pg_start "$run_dir/pg3"
  wait "$started"
  wait_streaming "$run_dir/pg1" "$p1" 2 || { note "lifeline cluster: standbys not streaming"; return 1; }
}

lifeline_start() { # sync(0|1) [name admin writer reader lb]: Lifeline's defaults (no check_interval)
  local name=${2:-} admin=${3:-$L_ADMIN} writer=${4:-$L_WRITER} reader=${5:-$L_READER} lb=${6:-}
  {
    if [ -n "$name" ]; then
      printf '[instance]\nname = "%s"\n\n[store]\nbackend = "etcd"\nendpoints = ["http://127.0.0.1:%s"]\n\n' "$name" "$ETCD_CLIENT"
    fi
    if [ -n "$lb" ]; then
      printf '[[monitor]]\nname = "web"\ntype = "http"\npath = "/health"\ninterval = "1s"\ntimeout = "500ms"\n\n'
      printf '[[pool]]\nname = "web"\nmonitor = "web"\norigins = [{ name = "o", address = "127.0.0.1:%s" }]\n\n' "$L_ORIGIN"
      printf '[[load_balancer]]\nname = "api"\nlisten = "127.0.0.1:%s"\ndefault_pools = ["web"]\n\n' "$lb"
    fi
    printf '[admin]\nlisten = "127.0.0.1:%s"\ntoken = "${LIFELINE_TOKEN}"\nstate_file = "%s/state%s.redb"\n\n' "$admin" "$run_dir" "$name"
    printf '[[cluster]]\nname = "main"\nkind = "postgres"\nnodes = [\n'
    for i in 1 2 3; do
      printf '  { name = "pg%s", dsn = "host=127.0.0.1 port=%s user=lifeline password=${PG_PASSWORD} dbname=postgres" },\n' "$i" "${L_PG[$((i - 1))]}"
    done
    printf ']\nwriter_listen = "127.0.0.1:%s"\nreader_listen = "127.0.0.1:%s"\n' "$writer" "$reader"
    [ "$1" = 1 ] && printf 'synchronous_mode = true\n'
  } >"$run_dir/lifeline$name.toml"
  start_bg "$run_dir/lifeline$name.log" "$bin" run -c "$run_dir/lifeline$name.toml"
}

l_status() { "$PY" "$client" json "$LIFELINE_ADMIN/failover/status?cluster=main" "clusters.0.$1"; }
l_events() { "$PY" "$client" events "$LIFELINE_ADMIN/failover/history?cluster=main&limit=1000"; }

lifeline_wait_healthy() {
  local deadline=$((SECONDS + 30))
  until [ "$(l_status state)" = healthy ]; do
    [ $SECONDS -lt $deadline ] || { note "lifeline: cluster not healthy after 30s (state '$(l_status state)')"; return 1; }
    sleep 0.1
  done
}

lifeline_wait_sync() { # Lifeline's synchronous_mode sets synchronous_standby_names itself
  local deadline=$((SECONDS + 30)) n
  while :; do
    n=$(psql_at "$run_dir/pg1" "${L_PG[0]}" "SELECT count(*) FROM pg_stat_replication WHERE sync_state IN ('sync', 'quorum')" 2>/dev/null || echo 0)
    [ "$n" -ge 1 ] && return 0
    [ $SECONDS -lt $deadline ] || { note "lifeline: no synchronous standby 30s after start"; return 1; }
    sleep 0.1
  done
}

L_DSN="host=127.0.0.1 port=$L_WRITER user=lifeline password=$PG_PASSWORD dbname=postgres"

lifeline_setup() { # sync stock
  run_dir=$work/run-$((++run_seq))
  mkdir -p "$run_dir"
  chown "$owner" "$run_dir"
  lifeline_cluster "${2:-0}" && lifeline_start "$1" && lifeline_wait_healthy &&
    { [ "$1" = 0 ] || lifeline_wait_sync; }
}

# === Patroni's cluster ===

patroni_yaml() { # i ttl loop_wait retry_timeout sync
  local i=$1 dir=$run_dir/pg$1
  cat <<EOF
scope: bench$run_seq
name: pg$i
log:
  level: INFO
restapi:
  listen: 127.0.0.1:${P_REST[$((i - 1))]}
  connect_address: 127.0.0.1:${P_REST[$((i - 1))]}
etcd3:
  hosts: 127.0.0.1:$ETCD_CLIENT
watchdog:
  mode: off
bootstrap:
  dcs:
    ttl: $2
    loop_wait: $3
    retry_timeout: $4
    maximum_lag_on_failover: 1048576
    synchronous_mode: $([ "$5" = 1 ] && echo true || echo false)
    postgresql:
      use_pg_rewind: false
      parameters:
        max_connections: 50
        wal_level: replica
        wal_log_hints: 'on'
        max_wal_senders: 10
        max_replication_slots: 10
        hot_standby: 'on'
        wal_keep_size: 64MB
        wal_sender_timeout: 2s
        wal_receiver_timeout: 2s
        wal_receiver_status_interval: 1s
        wal_retrieve_retry_interval: 200ms
  initdb:
    - encoding: UTF8
    - locale: C
    - auth-host: scram-sha-256
    - auth-local: trust
  pg_hba:
    - local all all trust
    - local replication all trust
    - host all all 127.0.0.1/32 scram-sha-256
    - host replication all 127.0.0.1/32 scram-sha-256
postgresql:
  listen: 127.0.0.1:${P_PG[$((i - 1))]}
  connect_address: 127.0.0.1:${P_PG[$((i - 1))]}
  data_dir: $dir/data
  bin_dir: $PG_BIN
  pgpass: $dir/pgpass
  authentication:
    superuser:
      username: postgres
      password: '$PG_PASSWORD'
    replication:
      username: replicator
      password: '$PG_PASSWORD'
  basebackup:
    - checkpoint: fast
  parameters:
    unix_socket_directories: '$dir'
    shared_buffers: 16MB
    logging_collector: 'off'
    log_line_prefix: '%m [%p] %q%a '
EOF
}

haproxy_cfg() {
  cat <<EOF
global
  maxconn 200
defaults
  mode tcp
  timeout connect 1s
  timeout client 30m
  timeout server 30m
  timeout check 1s
listen primary
  bind 127.0.0.1:$HAPROXY_PORT
  option httpchk OPTIONS /primary
  http-check expect status 200
  default-server inter 1s fall 2 rise 2 on-marked-down shutdown-sessions
  server pg1 127.0.0.1:${P_PG[0]} maxconn 100 check port ${P_REST[0]}
  server pg2 127.0.0.1:${P_PG[1]} maxconn 100 check port ${P_REST[1]}
  server pg3 127.0.0.1:${P_PG[2]} maxconn 100 check port ${P_REST[2]}
EOF
}

P_DSN="host=127.0.0.1 port=$HAPROXY_PORT user=postgres password=$PG_PASSWORD dbname=postgres"

p_leader() { # the node whose REST API says it is the primary, or nothing
  local i
  for i in 1 2 3; do
    [ "$(curl -s -o /dev/null -m 1 -w '%{http_code}' "http://127.0.0.1:${P_REST[$((i - 1))]}/primary")" = 200 ] && { echo "pg$i"; return 0; }
  done
  return 1
}

p_streaming() { # leader -> number of streaming replicas
  PGCONNECT_TIMEOUT=2 psql_at "$run_dir/$1" "${P_PG[$((${1#pg} - 1))]}" "$STREAMING_SQL" 2>/dev/null || echo 0
}

patroni_pids=()
etcd_start() { # one etcd member in $run_dir/etcd
  local deadline
  mkdir -p "$run_dir/etcd"
  start_bg "$run_dir/etcd.log" etcd --name bench --data-dir "$run_dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_CLIENT" --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER" \
    --initial-cluster "bench=http://127.0.0.1:$ETCD_PEER" --initial-cluster-state new
  etcd_pid=$last_pid
  deadline=$((SECONDS + 20))
  until curl -s -m 1 "http://127.0.0.1:$ETCD_CLIENT/health" | grep -q '"health":"true"'; do
    [ $SECONDS -lt $deadline ] || { note "etcd did not become healthy (see $run_dir/etcd.log)"; tail -5 "$run_dir/etcd.log" >&2; return 1; }
    sleep 0.1
  done
}

patroni_start() { # ttl loop_wait retry_timeout sync together(0|1)
  local i deadline
  run_dir=$work/run-$((++run_seq))
  mkdir -p "$run_dir"
  chown "$owner" "$run_dir"
  etcd_start || return 1
  haproxy_cfg >"$run_dir/haproxy.cfg"
  start_bg "$run_dir/haproxy.log" haproxy -f "$run_dir/haproxy.cfg" -db
  patroni_pids=()
  for i in 1 2 3; do
    mkdir -p "$run_dir/pg$i"
    chown "$owner" "$run_dir/pg$i"
    patroni_yaml "$i" "$1" "$2" "$3" "$4" >"$run_dir/pg$i.yml"
    chmod 644 "$run_dir/pg$i.yml"
  done
  for i in 1 2 3; do
    start_bg "$run_dir/patroni-pg$i.log" pg_daemon patroni "$run_dir/pg$i.yml"
    patroni_pids+=("$last_pid")
    if [ "$i" = 1 ] && [ "$5" = 0 ]; then # pg1 bootstraps, then the replicas join
      deadline=$((SECONDS + 60))
      until [ "$(p_leader)" = pg1 ]; do
        [ $SECONDS -lt $deadline ] || { note "patroni: pg1 did not bootstrap in 60s"; tail -20 "$run_dir/patroni-pg1.log" >&2; return 1; }
        sleep 0.2
      done
    fi
  done
}

patroni_wait_ready() { # sync -> leader streaming to both replicas, HAProxy routing
  local deadline=$((SECONDS + 90)) leader
  while :; do
    leader=$(p_leader || true)
    if [ -n "$leader" ] && [ "$(p_streaming "$leader")" -ge 2 ]; then
      if [ "$1" = 0 ] || [ "$(psql_at "$run_dir/$leader" "${P_PG[$((${leader#pg} - 1))]}" "SELECT count(*) FROM pg_stat_replication WHERE sync_state IN ('sync', 'quorum')" 2>/dev/null || echo 0)" -ge 1 ]; then
        break
      fi
    fi
    [ $SECONDS -lt $deadline ] || { note "patroni: cluster not ready after 90s (leader '${leader}')"; tail -5 "$run_dir"/patroni-pg*.log >&2; return 1; }
    sleep 0.2
  done
  # HAProxy needs `rise 2` checks to route to it.
  deadline=$((SECONDS + 20))
  until PGCONNECT_TIMEOUT=2 "$PY" -c "import psycopg2,sys; psycopg2.connect(sys.argv[1], connect_timeout=2).close()" "$P_DSN" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || { note "haproxy: no route to the primary after 20s"; return 1; }
    sleep 0.2
  done
}

# === scenarios ===

rows=$work/rows # scenario tool value lost acked

# Sets lost and acked: acknowledged ids missing on NODE (the new primary, read directly, not through
# the endpoint, which may still route a new connection to a demoted node for a moment).
count_lost() { # tool node
  local dsn result n=${2#pg}
  if [ "$1" = lifeline ]; then
    dsn="host=127.0.0.1 port=${L_PG[$((n - 1))]} user=lifeline password=$PG_PASSWORD dbname=postgres"
  else
    dsn="host=127.0.0.1 port=${P_PG[$((n - 1))]} user=postgres password=$PG_PASSWORD dbname=postgres"
  fi
  case "$2" in pg[123]) ;; *) lost=- acked=-; return ;; esac
  result=$("$PY" "$client" lost "$run_dir/acks" "$dsn" 2>"$run_dir/lost.log" || echo "- -")
  read -r lost acked <<<"$result"
  [ "$lost" = 0 ] || note "    $1: $lost acknowledged writes missing on $2: $(tail -1 "$run_dir/lost.log")"
}

# Kills the primary's postmaster with the writer running; sets rto, lost, acked and primary.
measure_kill() { # tool(lifeline|patroni) victim_node_dir
  local tool=$1 data=$2/data pid t result
  sleep 2 # the writer is writing
  rto=none lost=- acked=- primary=none
  pid=$(postmaster_of "$data") || { note "$tool: no postmaster in $data"; writer_stop; return; }
  kill -9 "$pid"
  t=$(now)
  log "$tool: killed postmaster $pid of $data at $t"
  if wait_ack_after "$t" "$KILL_WAIT"; then
    rto=$(acks_after "$t")
    sleep 1
  else
    rto=none
  fi
  writer_stop
  if [ "$tool" = lifeline ]; then primary=$(l_status primary); else primary=$(p_leader || echo none); fi
  primary=${primary:-none}
  count_lost "$tool" "$primary"
}

show_lifeline_trouble() {
  note "    lifeline events:"
  l_events | sed 's/^/      /' >&2
  note "    lifeline log (last 15 lines):"
  tail -15 "$run_dir/lifeline.log" | sed 's/^/      /' >&2
}

row() { # run tool scenario value lost acked primary notes...
  printf '%-4s %-16s %-11s %9s %11s  %-8s %s\n' "$@"
}

lifeline_rto() { # run sync stock
  local mode=async r
  [ "$2" = 1 ] && mode=sync
  [ "${3:-0}" = 1 ] && mode=$mode-stock
  if ! lifeline_setup "$2" "${3:-0}"; then
    row "$1" "lifeline" "rto-$mode" fail - - "setup failed (see above)"
    [ -f "$run_dir/lifeline.log" ] && show_lifeline_trouble
    teardown
    return
  fi
  writer_start "$L_DSN"
  KILL_WAIT=60
  measure_kill lifeline "$run_dir/pg1"
  row "$1" "lifeline" "rto-$mode" "$rto" "$lost/$acked" "$primary" "epoch $(l_status epoch), state $(l_status state)"
  echo "rto-$mode lifeline $rto $lost $acked" >>"$rows"
  if [ "$rto" = none ] || { [ "$2" = 1 ] && [ "$lost" != 0 ]; }; then show_lifeline_trouble; fi
  teardown
}

patroni_rto() { # run flavour(default|tuned) sync
  local mode=async ttl=30 loop=10 retry=10 leader
  [ "$3" = 1 ] && mode=sync
  [ "$2" = tuned ] && { ttl=10 loop=1 retry=4; }
  if ! patroni_start $ttl $loop $retry "$3" 0 || ! patroni_wait_ready "$3"; then
    row "$1" "patroni-$2" "rto-$mode" fail - - "setup failed (see above)"
    teardown
    return
  fi
  leader=$(p_leader)
  writer_start "$P_DSN"
  KILL_WAIT=90
  measure_kill patroni "$run_dir/$leader"
  local how="failed over"
  [ "$primary" = "$leader" ] && how="restarted in place"
  row "$1" "patroni-$2" "rto-$mode" "$rto" "$lost/$acked" "$primary" "$leader killed; $how"
  echo "rto-$mode patroni-$2 $rto $lost $acked" >>"$rows"
  teardown
}

# The host scenario: the manager's machine and the primary lost together.
lifeline_role() { "$PY" "$client" json "http://127.0.0.1:$1/status" "instances.0.role" 2>/dev/null || true; }

# A standard-built synchronous cluster under two Lifeline instances on etcd, lb-1 leading and
# lb-2 routing to pg1, and the writer on a multi-host DSN over both; sets leader_pid.
lifeline_ha_setup() {
  local deadline
  run_dir=$work/run-$((++run_seq))
  mkdir -p "$run_dir"
  chown "$owner" "$run_dir"
  start_bg "$run_dir/origin.log" "$bin" origin --listen "127.0.0.1:$L_ORIGIN" --name o
  { lifeline_cluster 1 && etcd_start && lifeline_start 1 lb-1 "$L_ADMIN" "$L_WRITER" "$L_READER" "$L_LB"; } || return 1
  leader_pid=$last_pid
  deadline=$((SECONDS + 20))
  until [ "$(lifeline_role "$L_ADMIN")" = leader ]; do
    [ $SECONDS -lt $deadline ] || { note "lb-1 did not lead"; return 1; }
    sleep 0.1
  done
  lifeline_start 1 lb-2 "$L2_ADMIN" "$L2_WRITER" "$L2_READER" "$L2_LB"
  { lifeline_wait_healthy && lifeline_wait_sync; } || return 1
  deadline=$((SECONDS + 20))
  until [ "$("$PY" "$client" json "http://127.0.0.1:$L2_ADMIN/failover/status?cluster=main" clusters.0.writer 2>/dev/null)" = pg1 ]; do
    [ $SECONDS -lt $deadline ] || { note "lb-2 does not route to pg1"; return 1; }
    sleep 0.1
  done
  writer_start "host=127.0.0.1,127.0.0.1 port=$L_WRITER,$L2_WRITER user=lifeline password=$PG_PASSWORD dbname=postgres target_session_attrs=read-write"
  sleep 2
}

lifeline_host() { # run
  local t rto
  if ! lifeline_ha_setup; then
    row "$1" lifeline host fail - - "setup failed (see above)"
    teardown
    return
  fi
  rto=none lost=- acked=- primary=none
  kill -9 "$leader_pid" "$(postmaster_of "$run_dir/pg1/data")"
  t=$(now)
  if wait_ack_after "$t" 60; then
    rto=$(acks_after "$t")
    sleep 1
  fi
  writer_stop
  primary=$("$PY" "$client" json "http://127.0.0.1:$L2_ADMIN/failover/status?cluster=main" clusters.0.primary 2>/dev/null || echo none)
  count_lost lifeline "${primary:-none}"
  row "$1" lifeline host "$rto" "$lost/$acked" "$primary" "lb-1 (leader) and pg1 killed; lb-2 $(lifeline_role "$L2_ADMIN")"
  echo "host lifeline $rto $lost $acked" >>"$rows"
  teardown
}

# etcd hangs for ETCD_STOP seconds under the writer: the longest write pause around it.
etcd_row() { # run tool t0 t1 primary notes
  local gap
  wait_ack_after "$4" 30 --any || true
  sleep 1
  writer_stop
  gap=$("$PY" "$client" pause "$run_dir/acks" "$3" "$4")
  count_lost "$2" "$5"
  row "$1" "$2" etcd "$gap" "$lost/$acked" "$5" "$6"
  echo "etcd $2 $gap $lost $acked" >>"$rows"
}

lifeline_etcd() { # run
  local t0 t1
  if ! lifeline_ha_setup; then
    row "$1" lifeline etcd fail - - "setup failed (see above)"
    teardown
    return
  fi
  # HTTP through both instances' load balancers for the whole outage and 10 s of recovery.
  local lb wrk_pids=()
  for lb in "$L_LB" "$L2_LB"; do
    wrk -t1 -c4 -d"$((ETCD_STOP + 10))s" "http://127.0.0.1:$lb/" >"$run_dir/wrk-$lb.txt" 2>&1 &
    wrk_pids+=("$!")
  done
  kill -STOP "$etcd_pid"
  t0=$(now)
  sleep "$ETCD_STOP"
  kill -CONT "$etcd_pid"
  t1=$(now)
  wait "${wrk_pids[@]}" || true
  etcd_row "$1" lifeline "$t0" "$t1" "$(l_status primary)" "etcd stopped ${ETCD_STOP}s; epoch $(l_status epoch) after; HTTP: $(http_errors)"
  teardown
}

http_errors() { # "N requests, E errors" over both wrk runs of the etcd scenario
  cat "$run_dir"/wrk-*.txt | awk '
    / requests in / { requests += $1 }
    /Non-2xx or 3xx responses:/ { errors += $NF }
    /Socket errors:/ { gsub(",", ""); errors += $4 + $6 + $8 + $10 }
    END { if (requests == 0) printf "no requests (is wrk installed?)"; else printf "%d requests, %d errors", requests, errors }'
}

patroni_etcd() { # run: defaults, synchronous
  local t0 t1 leader
  if ! patroni_start 30 10 10 1 0 || ! patroni_wait_ready 1; then
    row "$1" patroni etcd fail - - "setup failed (see above)"
    teardown
    return
  fi
  leader=$(p_leader)
  writer_start "$P_DSN"
  sleep 2
  kill -STOP "$etcd_pid"
  t0=$(now)
  sleep "$ETCD_STOP"
  kill -CONT "$etcd_pid"
  t1=$(now)
  sleep 2
  etcd_row "$1" patroni "$t0" "$t1" "$(p_leader || echo none)" "etcd stopped ${ETCD_STOP}s; $leader led before"
  teardown
}

patroni_host() { # run: tuned, synchronous; the leader's patroni and postmaster killed together
  local leader t n
  if ! patroni_start 10 1 4 1 0 || ! patroni_wait_ready 1; then
    row "$1" patroni-tuned host fail - - "setup failed (see above)"
    teardown
    return
  fi
  leader=$(p_leader)
  n=${leader#pg}
  writer_start "$P_DSN"
  sleep 2
  rto=none lost=- acked=- primary=none
  kill -9 "${patroni_pids[$((n - 1))]}" "$(postmaster_of "$run_dir/$leader/data")"
  t=$(now)
  wait "${patroni_pids[$((n - 1))]}" 2>/dev/null || true
  if wait_ack_after "$t" 90; then
    rto=$(acks_after "$t")
    sleep 1
  fi
  writer_stop
  primary=$(p_leader || echo none)
  count_lost patroni "$primary"
  row "$1" patroni-tuned host "$rto" "$lost/$acked" "$primary" "$leader (patroni+postmaster) killed"
  echo "host patroni-tuned $rto $lost $acked" >>"$rows"
  teardown
}

# Switchover with the writer running; the longest gap between two acks around it.
switchover_row() { # run tool before_primary t0 t1 ok after_primary
  local gap
  wait_ack_after "$5" 30 --any || true
  sleep 1
  writer_stop
  gap=$("$PY" "$client" pause "$run_dir/acks" "$4" "$5")
  count_lost "$2" "$7"
  row "$1" "$2" switchover "$gap" "$lost/$acked" "$7" "$3 -> $7; command $(awk -v a="$4" -v b="$5" 'BEGIN { printf "%.2f", b - a }')s, $6"
  echo "switchover $2 $gap $lost $acked" >>"$rows"
}

lifeline_switchover() { # run
  local t0 t1 ok=ok before lost acked
  if ! lifeline_setup 0; then
    row "$1" lifeline switchover fail - - "setup failed"
    teardown
    return
  fi
  writer_start "$L_DSN"
  sleep 2
  before=$(l_status primary)
  t0=$(now)
  "$bin" switchover main >"$run_dir/switchover.log" 2>&1 || ok="FAILED: $(tr '\n' ' ' <"$run_dir/switchover.log")"
  t1=$(now)
  switchover_row "$1" lifeline "$before" "$t0" "$t1" "$ok" "$(l_status primary)"
  [ "$ok" = ok ] || show_lifeline_trouble
  teardown
}

patroni_switchover() { # run
  local t0 t1 ok=ok before lost acked
  if ! patroni_start 30 10 10 0 0 || ! patroni_wait_ready 0; then
    row "$1" patroni switchover fail - - "setup failed"
    teardown
    return
  fi
  writer_start "$P_DSN"
  sleep 2
  before=$(p_leader)
  t0=$(now)
  patronictl -c "$run_dir/pg1.yml" switchover --force >"$run_dir/switchover.log" 2>&1 || ok="FAILED: $(tail -2 "$run_dir/switchover.log" | tr '\n' ' ')"
  t1=$(now)
  local deadline=$((SECONDS + 30)) after
  until after=$(p_leader) && [ "$after" != "$before" ]; do
    [ $SECONDS -lt $deadline ] || break
    sleep 0.1
  done
  switchover_row "$1" patroni "$before" "$t0" "$t1" "$ok" "${after:-none}"
  teardown
}

# The trap: the primary dies TRAP_AFTER seconds after the manager started on a fresh cluster (or
# at the first acknowledged write, if that comes later), with the writer running.
sleep_until() { # unix_time
  sleep "$(awk -v u="$1" -v t="$(now)" 'BEGIN { s = u - t; print (s > 0 ? s : 0) }')"
}
lifeline_trap() {
  run_dir=$work/run-$((++run_seq))
  mkdir -p "$run_dir"
  chown "$owner" "$run_dir"
  lifeline_cluster || { row 1 lifeline trap fail - - "setup failed"; teardown; return; }
  local started first t pid rto result refused
  started=$(now)
  lifeline_start 0
  writer_start "$L_DSN"
  wait_ack_after 0 30 --any || { row 1 lifeline trap fail - - "no write acknowledged 30s after start"; show_lifeline_trouble; teardown; return; }
  first=$(head -1 "$run_dir/acks" | cut -d' ' -f2)
  sleep_until "$(awk -v s="$started" -v d="$TRAP_AFTER" 'BEGIN { printf "%.6f", s + d }')"
  pid=$(postmaster_of "$run_dir/pg1/data")
  kill -9 "$pid"
  t=$(now)
  wait_ack_after "$t" 60 && { rto=$(acks_after "$t"); sleep 1; } || rto=none
  writer_stop
  count_lost lifeline "$(l_status primary)"
  refused=$(l_events | grep '^failover_refused' | head -1 || true)
  local what
  if [ "$rto" != none ]; then what="promoted $(l_status primary) with $lost lost"; else what="no promotion in 60s"; fi
  [ -n "$refused" ] && what="$what; $refused"
  row 1 lifeline trap "$rto" "$lost/$acked" "$(l_status primary)" "pg1 killed $(awk -v a="$t" -v s="$started" -v f="$first" 'BEGIN { printf "%.1fs after lifeline started (first ack at %.1fs)", a - s, f - s }'): $what"
  echo "trap lifeline $rto $lost $acked" >>"$rows"
  l_events | sed 's/^/      /' >"$run_dir/events"
  note "    lifeline events (failover_*, node_down):"
  grep -E '^ *(failover_|node_down)' "$run_dir/events" >&2 || true
  teardown
}

patroni_trap() {
  # All three members start together, as one starts a Patroni cluster; the writer starts at once.
  local started first t leader pid rto result streaming
  started=$(now)
  if ! patroni_start 30 10 10 0 1; then
    row 1 patroni trap fail - - "setup failed"
    teardown
    return
  fi
  writer_start "$P_DSN"
  wait_ack_after 0 90 --any || { row 1 patroni trap fail - - "no write acknowledged 90s after start"; teardown; return; }
  first=$(head -1 "$run_dir/acks" | cut -d' ' -f2)
  sleep_until "$(awk -v s="$started" -v d="$TRAP_AFTER" 'BEGIN { printf "%.6f", s + d }')"
  leader=$(p_leader) || { row 1 patroni trap fail - - "no leader at kill time"; teardown; return; }
  streaming=$(p_streaming "$leader")
  pid=$(postmaster_of "$run_dir/$leader/data")
  # The whole node dies: its patroni and its postmaster.
  kill -9 "${patroni_pids[$((${leader#pg} - 1))]}" "$pid"
  t=$(now)
  wait "${patroni_pids[$((${leader#pg} - 1))]}" 2>/dev/null || true
  wait_ack_after "$t" 90 && { rto=$(acks_after "$t"); sleep 1; } || rto=none
  writer_stop
  local after what
  after=$(p_leader || echo none)
  count_lost patroni "$after"
  if [ "$rto" != none ]; then what="promoted $after with $lost lost"; else
    what="no primary 90s later; $(grep -h -o -E "not healthy enough for leader race|is lagging.*|no action.*" "$run_dir"/patroni-pg*.log | sort | uniq -c | head -3 | tr '\n' ';')"
  fi
  row 1 patroni trap "$rto" "$lost/$acked" "$after" "node $leader (patroni+postmaster) killed $(awk -v a="$t" -v s="$started" -v f="$first" 'BEGIN { printf "%.1fs after patroni started (first ack at %.1fs)", a - s, f - s }') with $streaming replicas streaming: $what"
  echo "trap patroni $rto $lost $acked" >>"$rows"
  teardown
}

# === main ===

patroni_ok=$PATRONI
if [ "$patroni_ok" = 1 ]; then
  for program in patroni patronictl etcd haproxy; do
    command -v "$program" >/dev/null || { note "$program not found: the Patroni side is skipped"; patroni_ok=0; }
  done
fi
if ! "$PY" -c "import psycopg2" 2>/dev/null; then
  note "$PY cannot import psycopg2 (python3-psycopg2): no writer, nothing to measure"
  exit 1
fi

has() { [[ " $SCENARIOS " == *" $1 "* ]]; }
has rto || RUNS=0
has sync || SYNC_RUNS=0
has stock || STOCK_RUNS=0
has switchover || SWITCHOVER_RUNS=0
has host || HOST_RUNS=0
has etcd || ETCD_RUNS=0
has trap || TRAP=0
run_seq=0
: >"$rows"
printf 'PostgreSQL 15, 1 primary + 2 standbys; writer: 1 row per transaction every 10 ms through the endpoint\n'
printf 'Lifeline defaults (check_interval 1s, failure_threshold 3); Patroni defaults (ttl 30, loop_wait 10, retry_timeout 10)%s\n' \
  "$([ "$TUNED" = 1 ] && echo ' and tuned (ttl 10, loop_wait 1, retry_timeout 4)')"
printf 'RUNS=%s SYNC_RUNS=%s STOCK_RUNS=%s HOST_RUNS=%s ETCD_RUNS=%s SWITCHOVER_RUNS=%s, interleaved, each on a fresh cluster\n\n' "$RUNS" "$SYNC_RUNS" "$STOCK_RUNS" "$HOST_RUNS" "$ETCD_RUNS" "$SWITCHOVER_RUNS"
row run tool scenario "seconds" "lost/acked" primary notes
started=$SECONDS
for run in $(seq 1 "$RUNS"); do
  lifeline_rto "$run" 0
  if [ "$patroni_ok" = 1 ]; then
    patroni_rto "$run" default 0
    [ "$TUNED" = 1 ] && patroni_rto "$run" tuned 0
  fi
done
for run in $(seq 1 "$SYNC_RUNS"); do
  lifeline_rto "$run" 1
  [ "$patroni_ok" = 1 ] && patroni_rto "$run" default 1
done
for run in $(seq 1 "$STOCK_RUNS"); do
  lifeline_rto "$run" 1 1
  [ "$patroni_ok" = 1 ] && patroni_rto "$run" tuned 1
done
for run in $(seq 1 "$HOST_RUNS"); do
  lifeline_host "$run"
  [ "$patroni_ok" = 1 ] && patroni_host "$run"
done
for run in $(seq 1 "$ETCD_RUNS"); do
  lifeline_etcd "$run"
  [ "$patroni_ok" = 1 ] && patroni_etcd "$run"
done
for run in $(seq 1 "$SWITCHOVER_RUNS"); do
  lifeline_switchover "$run"
  [ "$patroni_ok" = 1 ] && patroni_switchover "$run"
done
if [ "$TRAP" = 1 ]; then
  lifeline_trap
  [ "$patroni_ok" = 1 ] && patroni_trap
fi
printf '\n(%ss in all; "seconds" is the RTO for rto-*, the longest write pause for switchover)\n' $((SECONDS - started))

"$PY" - "$rows" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1]) if line.strip()]
def values(scenario, tool, column):
    out = []
    for r in rows:
        if r[0] == scenario and r[1] == tool and r[column] not in ("none", "-"):
            out.append(float(r[column]))
    return out
def count(scenario, tool):
    return sum(1 for r in rows if r[0] == scenario and r[1] == tool)
def med(xs):
    return statistics.median(xs) if xs else None
def fmt(x, unit="s"):
    return "-" if x is None else f"{x:.2f}{unit}"
print()
tools = ["lifeline", "patroni-default", "patroni-tuned", "patroni"]
for scenario, label in (("rto-async", "RTO, async"), ("rto-sync", "RTO, sync"), ("rto-sync-stock", "RTO, sync, stock"), ("host", "RTO, host loss"), ("etcd", "pause, etcd stopped"), ("switchover", "switchover pause")):
    line = []
    meds = {}
    for tool in tools:
        n = count(scenario, tool)
        if not n:
            continue
        rto = values(scenario, tool, 2)
        lost = values(scenario, tool, 3)
        meds[tool] = med(rto)
        failed = n - len(rto)
        line.append(f"{tool} {fmt(meds[tool])} (lost: median {fmt(med(lost), '')}, max {fmt(max(lost) if lost else None, '')}"
                    f"{', ' + str(failed) + ' of ' + str(n) + ' runs without a result' if failed else ''})")
    if line:
        print(f"median {label:17} " + "; ".join(line))
    for tool, m in meds.items():
        if tool != "lifeline" and m and meds.get("lifeline"):
            print(f"  ratio lifeline/{tool}: {meds['lifeline'] / m:.2f}")
stock = med(values("rto-sync-stock", "lifeline", 2))
patroni_sync = med(values("rto-sync", "patroni-tuned", 2))
if stock and patroni_sync:
    print(f"  ratio lifeline (stock cluster, sync)/patroni-tuned (sync): {stock / patroni_sync:.2f}")
stock_lost = values("rto-sync-stock", "lifeline", 3)
if count("rto-sync-stock", "lifeline"):
    print(f"goals on the standard-built synchronous cluster: median RTO < 2s: "
          f"{'met' if stock is not None and stock < 2 else 'NOT met'}; "
          f"0 lost in every run: {'met' if len(stock_lost) == count('rto-sync-stock', 'lifeline') and max(stock_lost) == 0 else 'NOT met'}")
host = med(values("host", "lifeline", 2))
host_lost = values("host", "lifeline", 3)
if count("host", "lifeline"):
    print(f"goals on host loss (leader instance + primary, sync): median RTO < 5s: "
          f"{'met' if host is not None and host < 5 else 'NOT met'}; "
          f"0 lost in every run: {'met' if len(host_lost) == count('host', 'lifeline') and max(host_lost) == 0 else 'NOT met'}")
etcd_pause = med(values("etcd", "lifeline", 2))
if count("etcd", "lifeline"):
    print(f"goal with etcd stopped: no write pause (under 1s): {'met' if etcd_pause is not None and etcd_pause < 1 else 'NOT met'}")
rto = med(values("rto-async", "lifeline", 2))
sync_lost = values("rto-sync", "lifeline", 3)
pause = med(values("switchover", "lifeline", 2))
print(f"goals: Lifeline RTO < 3s with defaults: {'not measured' if rto is None else 'met' if rto < 3 else 'NOT met'}; "
      f"0 lost in sync mode: {'met' if sync_lost and max(sync_lost) == 0 else 'NOT met' if sync_lost else 'not measured'}; "
      f"switchover pause < 1s: {'not measured' if pause is None else 'met' if pause < 1 else 'NOT met'}")
PY
