#!/usr/bin/env bash
# A single-node Apache Kafka broker (KRaft) and a PostgreSQL server on loopback, for the local
# cluster and for CI. Idempotent; versions pinned; downloads cached under $DAOLI_TOOLS.
#
#   deploy/local/infra.sh install   fetch Kafka's jars (Maven Central) and check PostgreSQL
#   deploy/local/infra.sh start     install if needed, then start both and wait until ready
#   deploy/local/infra.sh status    what runs, where
#   deploy/local/infra.sh stop      stop both (data stays in $DAOLI_LOCAL); stop-kafka, stop-postgres: one
#   deploy/local/infra.sh kill-kafka | kill-postgres   SIGKILL one (crash tests)
#   deploy/local/infra.sh start-kafka | start-postgres  start one again after a kill
#   deploy/local/infra.sh wipe      stop, then delete the data
#
# Environment (defaults):
#   DAOLI_TOOLS=$HOME/.cache/daoli-tools   cached downloads, shared between checkouts
#   DAOLI_LOCAL=<repo>/.daoli-local        data, logs and pid files of this checkout
#   DAOLI_KAFKA_PORT=19092 (controller: +1, SASL: +2)   DAOLI_PG_PORT=15432
#
# Kafka listens twice for clients. PLAINTEXT on DAOLI_KAFKA_PORT: no authentication, principal
# User:ANONYMOUS, a super user (the local cluster and most tests use it). SASL_PLAINTEXT on
# DAOLI_KAFKA_PORT+2, mechanism PLAIN, where ACLs apply (StandardAuthorizer; no ACL: denied),
# for tests of missing permissions. Its users (password: the name followed by "-password"):
#   daoli          super user
#   daoli-none     no ACL at all
#   daoli-ro       topics daoli.*: DESCRIBE, READ; groups daoli.*: DESCRIBE, READ (no WRITE)
#   daoli-nogroup  topics daoli.*: DESCRIBE, READ, WRITE (no group ACL)
#   daoli-noread   topics daoli.*: DESCRIBE, WRITE (no READ)
#   daoli-nojoin   topics daoli.*: DESCRIBE, READ, WRITE; groups daoli.*: DESCRIBE (no READ: it
#                  may look at its group's offsets but not join it)
# The ACLs are added at start (idempotent) through the PLAINTEXT listener.
set -euo pipefail

KAFKA_VERSION=4.4.0
SLF4J_VERSION=2.0.17
LOG4J_VERSION=2.25.5
PG_MAJOR=15

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
TOOLS="${DAOLI_TOOLS:-$HOME/.cache/daoli-tools}"
LOCAL="${DAOLI_LOCAL:-$ROOT/.daoli-local}"
KAFKA_PORT="${DAOLI_KAFKA_PORT:-19092}"
KAFKA_CPORT=$((KAFKA_PORT + 1))
KAFKA_SASL_PORT=$((KAFKA_PORT + 2))
KAFKA_USERS="daoli daoli-none daoli-ro daoli-nogroup daoli-noread daoli-nojoin"
PG_PORT="${DAOLI_PG_PORT:-15432}"
KAFKA_HOME="$TOOLS/kafka-$KAFKA_VERSION"
PG_BIN="/usr/lib/postgresql/$PG_MAJOR/bin"
KAFKA_DATA="$LOCAL/kafka"
PG_DATA="$LOCAL/postgres"

say() { echo "infra: $*" >&2; }
die() { say "$*"; exit 1; }

sudo_() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# Runs a PostgreSQL binary as the postgres user (initdb refuses root).
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

install_kafka() {
  if [ -f "$KAFKA_HOME/.complete" ]; then return; fi
  local need=()
  command -v java >/dev/null || need+=(default-jre-headless)
  command -v mvn >/dev/null || need+=(maven)
  if [ "${#need[@]}" -gt 0 ]; then
    sudo_ apt-get update -qq && sudo_ apt-get install -y -qq "${need[@]}" >/dev/null
  fi
  say "fetching Kafka $KAFKA_VERSION jars from Maven Central into $KAFKA_HOME"
  rm -rf "$KAFKA_HOME" && mkdir -p "$KAFKA_HOME"
  # Kafka's poms ship no slf4j binding: log4j2's is added so the broker logs.
  cat >"$KAFKA_HOME/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>daoli.local</groupId><artifactId>kafka-runtime</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-storage</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId><version>$SLF4J_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId><version>$LOG4J_VERSION</version></dependency>
  </dependencies>
</project>
EOF
  (cd "$KAFKA_HOME" && mvn -q -B dependency:copy-dependencies -DoutputDirectory=lib -DincludeScope=runtime) \
    || die "Maven could not fetch Kafka's jars (is Maven Central reachable?)"
  cat >"$KAFKA_HOME/log4j2.properties" <<'EOF'
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.apache.name = org.apache.kafka
logger.apache.level = WARN
EOF
  touch "$KAFKA_HOME/.complete"
}

install_postgres() {
  [ -x "$PG_BIN/postgres" ] && return
  say "installing PostgreSQL $PG_MAJOR (Debian)"
  sudo_ apt-get update -qq && sudo_ apt-get install -y -qq "postgresql-$PG_MAJOR" >/dev/null
  [ -x "$PG_BIN/postgres" ] || die "no PostgreSQL $PG_MAJOR binaries in $PG_BIN"
}

kafka_pid() { cat "$LOCAL/kafka.pid" 2>/dev/null || true; }
# Running, and not a zombie (a killed child nobody reaped: containers often lack an init).
alive() {
  [ -n "$1" ] && kill -0 "$1" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

start_kafka() {
  install_kafka
  if alive "$(kafka_pid)"; then say "Kafka already runs (pid $(kafka_pid))"; return; fi
  mkdir -p "$KAFKA_DATA"
  local cp="$KAFKA_HOME/lib/*" jaas u
  jaas="org.apache.kafka.common.security.plain.PlainLoginModule required"
  for u in $KAFKA_USERS; do jaas+=" user_$u=\"$u-password\""; done
  # Rewritten at each start: a data directory made by an older version of this script gets
  # the SASL listener and the authorizer too.
  cat >"$LOCAL/kafka.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$KAFKA_CPORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CPORT,SASL_PLAINTEXT://127.0.0.1:$KAFKA_SASL_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,SASL_PLAINTEXT://127.0.0.1:$KAFKA_SASL_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
sasl.enabled.mechanisms=PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=$jaas;
# ACLs bind on the SASL listener only: the principal of PLAINTEXT and of the controller
# listener, ANONYMOUS, is a super user.
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS;User:daoli
allow.everyone.if.no.acl.found=false
log.dirs=$KAFKA_DATA/logs
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
min.insync.replicas=1
default.replication.factor=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
EOF
  if [ ! -f "$KAFKA_DATA/logs/meta.properties" ]; then
    local id
    id="$(java -cp "$cp" kafka.tools.StorageTool random-uuid 2>"$LOCAL/kafka-format.log" | tail -1)" \
      || die "no cluster id from Kafka's StorageTool: $LOCAL/kafka-format.log"
    java -cp "$cp" kafka.tools.StorageTool format -t "$id" -c "$LOCAL/kafka.properties" --standalone >"$LOCAL/kafka-format.log" 2>&1 \
      || die "formatting Kafka's storage failed: $LOCAL/kafka-format.log"
  fi
  say "starting Kafka $KAFKA_VERSION on 127.0.0.1:$KAFKA_PORT"
  # The log is kept across starts (a crash's last lines stay); readiness is looked for in
  # what this start writes.
  local from
  from=$(($([ -f "$LOCAL/kafka.log" ] && wc -l <"$LOCAL/kafka.log" || echo 0) + 1))
  nohup java -Xmx1g -Xms256m -Dlog4j2.configurationFile="$KAFKA_HOME/log4j2.properties" \
    -cp "$cp" kafka.Kafka "$LOCAL/kafka.properties" >>"$LOCAL/kafka.log" 2>&1 &
  echo $! >"$LOCAL/kafka.pid"
  local i
  for i in $(seq 1 600); do
    if tail -n +"$from" "$LOCAL/kafka.log" | grep -q "Kafka Server started"; then
      add_acls
      say "Kafka ready (SASL_PLAINTEXT on 127.0.0.1:$KAFKA_SASL_PORT)"
      return
    fi
    alive "$(kafka_pid)" || die "Kafka exited: see $LOCAL/kafka.log"
    sleep 0.2
  done
  die "Kafka not ready after 120 s: see $LOCAL/kafka.log"
}

# The SASL users' ACLs (see the header), added through the PLAINTEXT listener (a super user).
# Adding an ACL that exists changes nothing; a marker in the data directory (gone on wipe)
# saves the JVM starts once this set is in.
add_acls() {
  local cp="$KAFKA_HOME/lib/*" marker="$KAFKA_DATA/acls.done" spec user args
  spec="daoli-ro --topic daoli. --group daoli. --operation Describe --operation Read
daoli-nogroup --topic daoli. --operation Describe --operation Read --operation Write
daoli-noread --topic daoli. --operation Describe --operation Write
daoli-nojoin --topic daoli. --operation Describe --operation Read --operation Write
daoli-nojoin --group daoli. --operation Describe"
  [ "$(cat "$marker" 2>/dev/null)" = "$spec" ] && return
  while read -r user args; do
    # shellcheck disable=SC2086 # $args is a list of words
    java -cp "$cp" org.apache.kafka.tools.AclCommand --bootstrap-server "127.0.0.1:$KAFKA_PORT" \
      --add --allow-principal "User:$user" --resource-pattern-type prefixed $args >>"$LOCAL/kafka-acls.log" 2>&1 \
      || die "adding the ACLs of $user failed: see $LOCAL/kafka-acls.log"
  done <<<"$spec"
  echo "$spec" >"$marker"
  say "Kafka ACLs of the SASL users added"
}

start_postgres() {
  install_postgres
  mkdir -p "$LOCAL"
  if [ ! -f "$PG_DATA/PG_VERSION" ]; then
    # A failed initdb leaves a directory initdb refuses next time.
    rm -rf "$PG_DATA" && mkdir -p "$PG_DATA"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$PG_DATA"
    # Password authentication on TCP, so a wrong password is refused as it would be in production.
    local pw="$LOCAL/pg-password"
    (umask 077 && echo "${DAOLI_PG_PASSWORD:-daoli}" >"$pw")
    [ "$(id -u)" -eq 0 ] && chown postgres: "$pw"
    as_pg "$PG_BIN/initdb" -A scram-sha-256 --pwfile="$pw" -U daoli --no-sync -D "$PG_DATA" >"$LOCAL/pg-init.log" 2>&1 \
      || die "initdb failed: $LOCAL/pg-init.log"
  fi
  if pg_running; then say "PostgreSQL already runs"; return; fi
  # Left by a killed server: PostgreSQL would take a zombie's pid in them for a live server.
  rm -f "$PG_DATA/postmaster.pid" "$PG_DATA/.s.PGSQL.$PG_PORT.lock" "$PG_DATA/.s.PGSQL.$PG_PORT"
  say "starting PostgreSQL $PG_MAJOR on 127.0.0.1:$PG_PORT"
  [ "$(id -u)" -eq 0 ] && touch "$LOCAL/postgres.log" && chown postgres: "$LOCAL/postgres.log"
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -w -t 60 -l "$LOCAL/postgres.log" \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DATA -c max_connections=400 -c fsync=on" start >/dev/null \
    || die "PostgreSQL did not start: see $LOCAL/postgres.log"
  say "PostgreSQL ready (user daoli, password in $LOCAL/pg-password)"
}

stop_kafka() {
  local pid; pid="$(kafka_pid)"
  if alive "$pid"; then
    kill "$pid" 2>/dev/null || true
    local i
    for i in $(seq 1 150); do alive "$pid" || break; sleep 0.2; done
    alive "$pid" && kill -9 "$pid" 2>/dev/null || true
    say "Kafka stopped"
  fi
  rm -f "$LOCAL/kafka.pid"
}

stop_postgres() {
  if pg_running; then
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null && say "PostgreSQL stopped"
  fi
}

pg_pid() { head -1 "$PG_DATA/postmaster.pid" 2>/dev/null || true; }

# The postmaster runs (pg_ctl status would also count a zombie left by kill -9).
pg_running() { [ -f "$PG_DATA/PG_VERSION" ] && alive "$(pg_pid)"; }

kill_postgres() {
  local pid kids
  pid="$(pg_pid)"
  alive "$pid" || { say "PostgreSQL is not running"; return 0; }
  kids="$(pgrep -P "$pid" || true)"
  kill -9 "$pid" && say "PostgreSQL killed (pid $pid)"
  # Its backends notice the postmaster is gone and exit; a restart waits for them, since
  # PostgreSQL refuses to start while they still hold its shared memory.
  local i k left
  for i in $(seq 1 100); do
    left=0
    for k in $pid $kids; do alive "$k" && left=1; done
    [ "$left" = 0 ] && return 0
    sleep 0.1
  done
  for k in $kids; do kill -9 "$k" 2>/dev/null || true; done
}

status() {
  if alive "$(kafka_pid)"; then
    echo "kafka: running, pid $(kafka_pid), bootstrap 127.0.0.1:$KAFKA_PORT (SASL_PLAINTEXT: 127.0.0.1:$KAFKA_SASL_PORT)"
  else
    echo "kafka: stopped"
  fi
  if pg_running; then
    echo "postgres: running, postgres://daoli@127.0.0.1:$PG_PORT/postgres"
  else
    echo "postgres: stopped"
  fi
}

mkdir -p "$LOCAL"
case "${1:-}" in
  install) install_kafka; install_postgres ;;
  start) start_postgres; start_kafka ;;
  start-kafka) start_kafka ;;
  start-postgres) start_postgres ;;
  stop) stop_kafka; stop_postgres ;;
  stop-kafka) stop_kafka ;;
  stop-postgres) stop_postgres ;;
  kill-kafka)
    if alive "$(kafka_pid)"; then
      pid="$(kafka_pid)"
      kill -9 "$pid"
      # Gone (its sockets closed) before this returns: a caller checks the port next.
      for _ in $(seq 1 100); do alive "$pid" || break; sleep 0.1; done
      say "Kafka killed"
    else
      say "Kafka is not running"
    fi ;;
  kill-postgres) kill_postgres ;;
  status) status ;;
  wipe) stop_kafka; stop_postgres; rm -rf "$KAFKA_DATA" "$PG_DATA" ;;
  *) sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
