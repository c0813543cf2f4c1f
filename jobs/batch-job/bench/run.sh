#!/usr/bin/env bash
# Batch-layer benchmark (docs/benchmarks.md): one day of generated traffic,
#   1. HDFS master copy -> MySQL with batch-job (events/s, peak RSS), and
#   2. the same four reports computed by DuckDB from the same raw log lines,
# in the same run, then checks that both give the same numbers.
#
#   jobs/batch-job/bench/run.sh [LINES]      (default 10000000; needs scripts/stack up hdfs mariadb)
#   BENCH_REUSE=1 jobs/batch-job/bench/run.sh   reuse the input a previous run generated (same LINES)
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
cd "$REPO"
LINES=${1:-10000000}
DAY=2026-11-20
WORK=${BENCH_DIR:-/tmp/clickstream-batch-bench}
CACHE_DIR=${CLICKSTREAM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/clickstream}
VENV=$CACHE_DIR/duckdb-venv
DUCKDB_VERSION=${DUCKDB_VERSION:-2.0.0}
say() { printf '[bench] %s\n' "$*" >&2; }
eval "$(scripts/stack env)"
mkdir -p "$WORK"

if ! "$VENV/bin/python" -c "import duckdb, sys; sys.exit(duckdb.__version__ != '$DUCKDB_VERSION')" 2>/dev/null; then
  say "installing duckdb==$DUCKDB_VERSION into $VENV"
  python3 -m venv "$VENV" && "$VENV/bin/pip" install -q "duckdb==$DUCKDB_VERSION"
fi
say "building (release)"
cargo build --release -q -p batch-job --bin batch-job --example bench_master
MASTER=$HDFS_URL/bench/master
if [[ ${BENCH_REUSE:-0} == 1 && -s $WORK/access.log ]]; then
  say "reusing $WORK/access.log and $MASTER"
else
  say "generating $LINES lines for $DAY -> $WORK/access.log and $MASTER"
  target/release/examples/bench_master --lines "$LINES" --log "$WORK/access.log" --master "$MASTER" --day "$DAY"
fi

DB=clickstream_test_bench
mariadb --no-defaults -h127.0.0.1 -uclickstream -pclickstream -e "DROP DATABASE IF EXISTS $DB; CREATE DATABASE $DB"
DB_URL=${MYSQL_URL%/*}/$DB
target/release/batch-job --mysql-url "$DB_URL" migrate >/dev/null

sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
say "batch-job run --date $DAY (HDFS -> MySQL)"
/usr/bin/time -v -o "$WORK/batch.time" target/release/batch-job --source "$MASTER" --mysql-url "$DB_URL" run --date "$DAY" --no-progress | tee "$WORK/batch.out"
say "duckdb on the raw lines"
/usr/bin/time -v -o "$WORK/duckdb.time" "$VENV/bin/python" jobs/batch-job/bench/duckdb_reports.py "$WORK/access.log" >"$WORK/duckdb.json" 2>"$WORK/duckdb.err"
cat "$WORK/duckdb.err" >&2

wall() { awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$1"; }
rss() { awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$1"; }
EVENTS=$(grep -o '[0-9]* events read' "$WORK/batch.out" | cut -d' ' -f1)
UNIQUE=$(grep -o '[0-9]* unique' "$WORK/batch.out" | cut -d' ' -f1)
BW=$(wall "$WORK/batch.time"); DW=$(wall "$WORK/duckdb.time")

say "comparing MySQL with DuckDB"
q() { mariadb --no-defaults -h127.0.0.1 -uclickstream -pclickstream -N -B "$DB" -e "$1"; }
q "SELECT day, requests, unique_visitors, success_requests, failure_requests, bytes_sent FROM daily_traffic" >"$WORK/mysql.daily"
q "SELECT day, hour, requests, unique_visitors, bytes_sent FROM hourly_traffic WHERE requests > 0 ORDER BY day, hour" >"$WORK/mysql.hourly"
q "SELECT day, status, requests FROM daily_status_codes ORDER BY day, status" >"$WORK/mysql.status"
"$VENV/bin/python" - "$WORK" <<'PY'
import json, sys
w = sys.argv[1]
d = json.load(open(f"{w}/duckdb.json"))
rows = lambda f: [l.split("\t") for l in open(f"{w}/{f}").read().splitlines()]
daily = [[r["day"], r["requests"], r["unique_visitors"], r["success"], r["failure"], r["bytes"]] for r in d["daily"]]
hourly = [[r["day"], r["hour"], r["requests"], r["unique_visitors"], r["bytes"]] for r in d["hourly"]]
status = [[r["day"], r["status"], r["requests"]] for r in d["status"]]
norm = lambda t: [[str(x) for x in r] for r in t]
for name, a, b in [("daily", daily, rows("mysql.daily")), ("hourly", hourly, rows("mysql.hourly")), ("status", status, rows("mysql.status"))]:
    assert norm(a) == b, f"{name} differs:\nduckdb {norm(a)[:5]}\nmysql  {b[:5]}"
print("[bench] MySQL and DuckDB agree on every daily, hourly and status row", file=sys.stderr)
PY
printf '\n| what | wall time | events/s | peak RSS |\n| --- | ---: | ---: | ---: |\n'
printf '| batch-job: HDFS (%s files) -> MySQL, %s events read, %s unique | %.2f s | %.0f | %s MiB |\n' \
  "$(grep -o '[0-9]* files read' "$WORK/batch.out" | cut -d' ' -f1)" "$EVENTS" "$UNIQUE" "$BW" "$(echo "$EVENTS / $BW" | bc -l)" "$(rss "$WORK/batch.time")"
printf '| DuckDB %s: raw log lines -> the four reports | %.2f s | %.0f | %s MiB |\n' \
  "$DUCKDB_VERSION" "$DW" "$(echo "$UNIQUE / $DW" | bc -l)" "$(rss "$WORK/duckdb.time")"
printf '\nbatch-job is %.2fx faster than DuckDB end to end\n' "$(echo "$DW / $BW" | bc -l)"
