#!/usr/bin/env bash
# A local network run as operators run it: N datacenters x the seven services, each service its
# own process, on one Kafka broker and one PostgreSQL server (deploy/local/infra.sh).
#
#   deploy/local/cluster.sh up [N]    start the broker and the server if needed, write the
#                                     network's files (first time: `daoli cluster-config`), and
#                                     start every service not running
#   deploy/local/cluster.sh watch     a supervisor in the foreground: restarts every service that
#                                     exits (a crash, a failure it stopped on) every 2 s; Ctrl-C ends it
#   deploy/local/cluster.sh status    each process (pid, ready?) and each datacenter's height
#   deploy/local/cluster.sh down      SIGTERM every service (SIGKILL after 10 s); infra keeps running
#   deploy/local/cluster.sh kill DC SERVICE   SIGKILL one service (crash tests); `up` restarts it
#   deploy/local/cluster.sh wipe      down, then delete the network's files (its topics and
#                                     schemas stay on the broker and server, named by chain id)
# deploy/local/up, status and down call this.
#
# Environment (defaults):
#   DAOLI_BIN=<repo>/target/release/daoli (built with cargo build --release -p daoli if absent)
#   DAOLI_LOCAL=<repo>/.daoli-local      the network goes to $DAOLI_LOCAL/cluster
#   DAOLI_BASE_PORT=18000                datacenter i: BASE+100i .. BASE+100i+22
#   DAOLI_KAFKA_PORT=19092  DAOLI_PG_PORT=15432 (as infra.sh)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
LOCAL="${DAOLI_LOCAL:-$ROOT/.daoli-local}"
NET="$LOCAL/cluster"
BIN="${DAOLI_BIN:-$ROOT/target/release/daoli}"
BASE="${DAOLI_BASE_PORT:-18000}"
KAFKA="127.0.0.1:${DAOLI_KAFKA_PORT:-19092}"
export DAOLI_POSTGRES_URL="${DAOLI_POSTGRES_URL:-postgres://daoli:daoli@127.0.0.1:${DAOLI_PG_PORT:-15432}/postgres}"
SERVICES=(clock-beacon miner-pool lot-drawing kernel-buffer ibft-trustees ledger lottery)

say() { echo "cluster: $*" >&2; }
die() { say "$*"; exit 1; }

# A live process (the container may leave killed ones as zombies: those are not alive).
alive() {
  local pid="$1"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null
}

dcs() { ls -d "$NET"/dc* 2>/dev/null | sed 's#.*/dc##' | sort -n; }

# The pid a service was started with, if that process still runs that service (a pid file that
# outlived a reboot may name an unrelated process: never signal that one).
pid_of() {
  local pid
  pid="$(cat "$NET/dc$1/$2.pid" 2>/dev/null || true)"
  [ -n "$pid" ] && tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "$NET/dc$1/$2.toml" && echo "$pid"
  true
}

start_one() {
  local i="$1" s="$2" dir="$NET/dc$1"
  if alive "$(pid_of "$i" "$s")"; then return; fi
  # setsid: a service outlives this shell, and a Ctrl-C here does not reach it.
  setsid "$BIN" service --config "$dir/$s.toml" >>"$dir/$s.log" 2>&1 </dev/null &
  echo $! >"$dir/$s.pid"
}

up() {
  local n="${1:-3}"
  if [ ! -x "$BIN" ]; then
    say "building $BIN (cargo build --release -p daoli)"
    (cd "$ROOT" && cargo build --release --locked -p daoli)
  fi
  "$ROOT/deploy/local/infra.sh" start
  if [ ! -f "$NET/genesis.json" ]; then
    mkdir -p "$NET"
    "$BIN" cluster-config --datacenters "$n" --dir "$NET" --base-port "$BASE" --kafka "$KAFKA"
  fi
  for i in $(dcs); do
    for s in "${SERVICES[@]}"; do start_one "$i" "$s"; done
  done
  say "started; clients on 127.0.0.1:$((BASE + 20)) (+100 per datacenter); logs in $NET/dc*/<service>.log"
}

status() {
  [ -f "$NET/genesis.json" ] || { say "no network in $NET (run up)"; return 1; }
  local down=0
  for i in $(dcs); do
    local line="dc$i:"
    for s in "${SERVICES[@]}"; do
      local k=0 pid; pid="$(pid_of "$i" "$s")"
      for x in "${SERVICES[@]}"; do [ "$x" = "$s" ] && break; k=$((k + 1)); done
      local admin=$((BASE + 100 * i + 10 + k))
      if ! alive "$pid"; then
        line+=" $s=DOWN"; down=$((down + 1))
      elif curl -fsS "http://127.0.0.1:$admin/readyz" >/dev/null 2>&1; then
        line+=" $s=ready"
      else
        line+=" $s=starting"
      fi
    done
    local h
    h="$(timeout 5 "$BIN" chain status --endpoint "http://127.0.0.1:$((BASE + 100 * i + 20))" 2>/dev/null | grep -o 'height [0-9]*' | head -1 || true)"
    echo "$line ${h:-height ?}"
  done
  [ "$down" -eq 0 ]
}

down() {
  local pids=()
  for i in $(dcs); do
    for s in "${SERVICES[@]}"; do
      local pid; pid="$(pid_of "$i" "$s")"
      if alive "$pid"; then kill -TERM "$pid" 2>/dev/null || true; pids+=("$pid"); fi
    done
  done
  for _ in $(seq 100); do
    local left=0
    for p in "${pids[@]}"; do alive "$p" && left=$((left + 1)); done
    [ "$left" -eq 0 ] && break
    sleep 0.1
  done
  for p in "${pids[@]}"; do alive "$p" && kill -KILL "$p" 2>/dev/null || true; done
  rm -f "$NET"/dc*/*.pid
  say "stopped ${#pids[@]} service processes"
}

# Restarts what exited, as Kubernetes would (services stop with exit 1 when their store or
# bus fails and rely on a supervisor to start them again).
watch() {
  [ -f "$NET/genesis.json" ] || die "no network in $NET (run up)"
  say "supervising the services in $NET (Ctrl-C ends this, not them)"
  while true; do
    for i in $(dcs); do
      for s in "${SERVICES[@]}"; do
        if ! alive "$(pid_of "$i" "$s")"; then
          say "dc$i $s is not running: starting it"
          start_one "$i" "$s"
        fi
      done
    done
    sleep 2
  done
}

case "${1:-}" in
  up) up "${2:-3}" ;;
  watch) watch ;;
  status) status ;;
  down) down ;;
  kill) pid="$(pid_of "$2" "$3")"; alive "$pid" || die "dc$2 $3 is not running"; kill -KILL "$pid"; say "killed dc$2 $3 ($pid)" ;;
  wipe) down; rm -rf "$NET"; say "removed $NET" ;;
  *) sed -n '2,20p' "$0"; exit 2 ;;
esac
