#!/usr/bin/env bash
# serve/bench/run.sh: API latency (p50/p99) and throughput under wrk, on loopback, against the
# real MariaDB and CQL endpoint of scripts/stack. Prints a markdown table (docs/benchmarks.md).
#
#   serve/bench/run.sh [DURATION] [CONNECTIONS]      defaults: 10s, 8 connections, 1 wrk thread
#
# What it does: installs wrk if missing (scripts/stack deps), starts mariadb and cql
# (scripts/stack up; left running), builds serve in release mode, writes a benchmark database and
# keyspace (serve/examples/bench_fixture.rs: 7 batch days with 4 servers, 30 categories and 100 top
# paths each, 1.5 speed days of 2 web servers with
# every sliding window, alerts, 3 h of popularity windows), runs serve on a free port, runs wrk
# against each route in turn, and drops the database and keyspace again.
#
# The baseline in the same run: /api/openapi.json, a static answer through the same router,
# middleware and metrics, with no database behind it.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${1:-10s}
CONNECTIONS=${2:-8}
TARGET=${CARGO_TARGET_DIR:-target}
say() { printf '[bench] %s\n' "$*" >&2; }

command -v wrk >/dev/null || scripts/stack deps
scripts/stack up mariadb cql >&2
eval "$(scripts/stack env)"
CQL=${CQL_CONTACT_POINTS%%,*}

say "building serve (release) and the fixture writer"
cargo build --release -p serve --bin serve >&2
cargo build -p serve --example bench_fixture >&2

NAME=clickstream_test_serve_bench_$$   # the stack lets `clickstream` create clickstream_test* databases
WORK=$(mktemp -d)
SERVE_PID=
cleanup() {
  [[ -n $SERVE_PID ]] && kill -TERM "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null || true
  "$TARGET/debug/examples/bench_fixture" drop "$MYSQL_URL" "$CQL" "$NAME" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

say "writing the benchmark data ($NAME)"
DB_URL=$("$TARGET/debug/examples/bench_fixture" create "$MYSQL_URL" "$CQL" "$NAME")

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port) METRICS=$(free_port)
cat >"$WORK/serve.toml" <<EOF
[http]
listen = "127.0.0.1:$PORT"
[mysql]
url = "$DB_URL"
pool_size = 8
[cassandra]
contact_points = ["$CQL"]
keyspace = "$NAME"
[metrics]
listen = "127.0.0.1:$METRICS"
[log]
json = false
EOF
RUST_LOG=warn "$TARGET/release/serve" run --config "$WORK/serve.toml" 2>"$WORK/serve.log" &
SERVE_PID=$!
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$PORT/api/health" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "http://127.0.0.1:$PORT/api/health" >/dev/null || { cat "$WORK/serve.log" >&2; exit 1; }

ROUTES=(
  "/api/openapi.json|baseline: static JSON, no database"
  "/api/health|MySQL SELECT 1 + CQL system.local"
  "/api/traffic?from=2026-11-14&to=2026-11-20|7 batch days (MySQL, 168 rows)"
  "/api/traffic?from=2026-11-20&to=2026-11-22|1 batch + 2 speed days (MySQL + 4 CQL partitions, ~4300 windows)"
  "/api/alerts?from=2026-11-21&to=2026-11-22&limit=100|2 days of both alert tables (CQL)"
  "/api/popularity?points=12|newest of 35 windows + 12 history windows (CQL IN)"
  "/api/servers?points=30|newest 30 windows of 2 servers (CQL)"
  "/api/breakdown?dimension=category&from=2026-11-14&to=2026-11-20|7 batch days x 30 categories, totals (MySQL)"
  "/api/breakdown?dimension=server&day=2026-11-20&granularity=hour|1 batch day x 4 servers x 24 hours (MySQL)"
  "/api/top-paths?day=2026-11-20&limit=100|100 top paths of a day (MySQL)"
  "/api/visitors?period=week&from=2026-11-09&to=2026-11-22|2 ISO weeks of exact visitors (MySQL)"
)

# ms of a wrk latency value (e.g. 812.00us, 1.23ms, 1.01s).
to_ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'; }

say "wrk: ${DURATION} per route, ${CONNECTIONS} connections, 1 thread, after a 2 s warm-up"
echo "| route | what it reads | requests/s | p50 ms | p99 ms | errors |"
echo "| --- | --- | ---: | ---: | ---: | ---: |"
for r in "${ROUTES[@]}"; do
  path=${r%%|*} what=${r#*|}
  url="http://127.0.0.1:$PORT$path"
  status=$(curl -s -o /dev/null -w '%{http_code}' "$url")
  if [[ $status != 200 ]]; then
    echo "| \`$path\` | $what | – | – | – | answered $status before the run |"
    continue
  fi
  wrk -t1 -c"$CONNECTIONS" -d2s "$url" >/dev/null
  out=$(wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency "$url")
  rps=$(awk '/^Requests\/sec/ { printf "%.0f", $2 }' <<<"$out")
  p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' <<<"$out")")
  p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
  errors=$(awk '/Non-2xx|Socket errors/ { s = s $0 "; " } END { print (s == "" ? "0" : s) }' <<<"$out")
  echo "| \`$path\` | $what | $rps | $p50 | $p99 | $errors |"
done
say "done (serve log: warnings only)"
