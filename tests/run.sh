#!/usr/bin/env bash
# The test command. Starts a local Apache Kafka broker and PostgreSQL server on loopback
# (deploy/local/infra.sh: pinned versions, downloads cached under ~/.cache/daoli-tools), runs
# every test against them, and stops what it started, also on failure. Extra arguments go to
# the test binaries (e.g. a test name filter after `--`).
set -euo pipefail
cd "$(dirname "$0")/.."

infra=deploy/local/infra.sh
# Stop at the end only what this run started (a developer's running infra stays up).
running="$($infra status || true)"
stop=()
grep -q '^kafka: running' <<<"$running" || stop+=(kafka)
grep -q '^postgres: running' <<<"$running" || stop+=(postgres)
cleanup() {
  for s in ${stop[@]+"${stop[@]}"}; do
    "$infra" "stop-$s" || true
  done
}
trap cleanup EXIT
"$infra" start

export DAOLI_KAFKA="127.0.0.1:${DAOLI_KAFKA_PORT:-19092}"
# The broker's SASL listener, where ACLs apply (infra.sh lists its users).
export DAOLI_KAFKA_SASL="127.0.0.1:$((${DAOLI_KAFKA_PORT:-19092} + 2))"
export DAOLI_POSTGRES="postgres://daoli:${DAOLI_PG_PASSWORD:-daoli}@127.0.0.1:${DAOLI_PG_PORT:-15432}/postgres"
cargo test --workspace --locked -- --show-output "$@"
