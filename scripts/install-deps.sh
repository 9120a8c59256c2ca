#!/usr/bin/env bash
# Installs what Lifeline's tests, demo and benchmarks need on a fresh Debian 12 machine:
# PostgreSQL (real streaming replication in the tests), etcd (the etcd store's tests) and protoc
# (for etcd-client); iproute2 (`ip netns` for the partition tests); redis-server (the Redis
# harness) and python3-redis (redis-py's Sentinel client, used against the Sentinel-compatible
# listener); prometheus-alertmanager (a real Alertmanager that the alert tests post to) and
# prometheus (its promtool tests the shipped alert rules);
# `--bench` and `--pg-bench` add what the benchmarks under bench/ compare against.
# Safe to run again: it installs only what is missing.
set -euo pipefail

packages=(postgresql protobuf-compiler etcd-server iproute2 redis-server python3-redis
  prometheus-alertmanager prometheus)
case "${1:-}" in
  --bench) packages+=(haproxy nginx wrk) ;;
  # bench/pg-failover.sh: Patroni (with etcd as its DCS) behind HAProxy, and the writer client's
  # driver for the system python3 (/usr/bin/python3, the one Patroni runs on).
  --pg-bench) packages+=(haproxy patroni etcd-server etcd-client python3-psycopg2 curl wrk) ;;
  # bench/redis-failover.sh: Redis Sentinel (`redis-server --sentinel`, so not Debian's
  # redis-sentinel package, whose service would take port 26379) beside Lifeline.
  --redis-bench) packages+=(redis-tools curl) ;;
esac

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
  # The tests start their own PostgreSQL clusters; the distribution's default one is not needed.
  if printf '%s\n' "${missing[@]}" | grep -qx postgresql; then
    $sudo_cmd pg_ctlcluster --mode fast 15 main stop 2>/dev/null || true
  fi
fi
