#!/usr/bin/env bash
# Batch-layer benchmark (docs/benchmarks.md): one day of generated traffic
# from four web servers,
#   1. HDFS master copy -> MySQL with batch-job (events/s, peak RSS), and
#   2. the same reports computed by DuckDB from the same raw log lines (one
#      log per web server: access.web1.log ... access.web4.log),
# in the same run, then checks that both give the same numbers.
#
#   jobs/batch-job/bench/run.sh [LINES]      (default 10000000; needs scripts/stack up hdfs mariadb)
#   BENCH_REUSE=1 jobs/batch-job/bench/run.sh   reuse the input a previous run generated (same LINES)
#   TOP_PATHS=N                                 paths per day in daily_top_paths (reports.top_paths, default 100)
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
cd "$REPO"
LINES=${1:-10000000}
DAY=2026-11-20
WORK=${BENCH_DIR:-/tmp/clickstream-batch-bench}
CACHE_DIR=${CLICKSTREAM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/clickstream}
VENV=$CACHE_DIR/duckdb-venv
DUCKDB_VERSION=${DUCKDB_VERSION:-2.0.0}
TOP_PATHS=${TOP_PATHS:-100}
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
if [[ ${BENCH_REUSE:-0} == 1 && -s $WORK/access.web1.log ]]; then
  say "reusing $WORK/access.*.log and $MASTER"
else
  say "generating $LINES lines for $DAY -> $WORK/access.web{1..4}.log and $MASTER"
  rm -f "$WORK"/access.*.log   # DuckDB reads every access.SERVER.log
  target/release/examples/bench_master --lines "$LINES" --servers 4 --log "$WORK/access.log" --master "$MASTER" --day "$DAY"
fi
printf '[reports]\ntop_paths = %d\n' "$TOP_PATHS" >"$WORK/batch-job.toml"

DB=clickstream_test_bench
mariadb --no-defaults -h127.0.0.1 -uclickstream -pclickstream -e "DROP DATABASE IF EXISTS $DB; CREATE DATABASE $DB"
DB_URL=${MYSQL_URL%/*}/$DB
target/release/batch-job --mysql-url "$DB_URL" migrate >/dev/null

sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
say "batch-job run --date $DAY (HDFS -> MySQL)"
/usr/bin/time -v -o "$WORK/batch.time" target/release/batch-job --config "$WORK/batch-job.toml" --source "$MASTER" --mysql-url "$DB_URL" \
  run --date "$DAY" --no-progress | tee "$WORK/batch.out"
say "duckdb on the raw lines"
/usr/bin/time -v -o "$WORK/duckdb.time" "$VENV/bin/python" jobs/batch-job/bench/duckdb_reports.py --top-paths "$TOP_PATHS" "$WORK/access.log" \
  >"$WORK/duckdb.json" 2>"$WORK/duckdb.err"
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
# Values and paths as hex: any byte survives the tab-separated output.
q "SELECT day, dimension, HEX(value), requests, unique_visitors, success_requests, failure_requests, bytes_sent
   FROM daily_dimension_traffic" >"$WORK/mysql.dimension_daily"
q "SELECT day, hour, dimension, HEX(value), requests, unique_visitors, success_requests, failure_requests, bytes_sent
   FROM hourly_dimension_traffic" >"$WORK/mysql.dimension_hourly"
q 'SELECT day, `rank`, HEX(path), requests, success_requests, failure_requests, bytes_sent FROM daily_top_paths ORDER BY day, `rank`' \
  >"$WORK/mysql.top_paths"
q "SELECT week_start, iso_year, iso_week, days_reported, requests, unique_visitors FROM weekly_visitors ORDER BY week_start" >"$WORK/mysql.weekly"
q "SELECT month_start, days_reported, requests, unique_visitors FROM monthly_visitors ORDER BY month_start" >"$WORK/mysql.monthly"
"$VENV/bin/python" - "$WORK" <<'PY'
import json, sys
w = sys.argv[1]
d = json.load(open(f"{w}/duckdb.json"))
def mysql(name, hex_col=None):
    rows = [l.split("\t") for l in open(f"{w}/mysql.{name}").read().splitlines()]
    for r in rows:
        if hex_col is not None:
            r[hex_col] = bytes.fromhex(r[hex_col]).decode()
    return rows
duck = lambda name, keys: [[str(r[k]) for k in keys] for r in d[name]]
traffic = ["requests", "unique_visitors", "success", "failure", "bytes"]
checks = [  # name, DuckDB rows, MySQL rows, compared in order (else as sorted sets of rows)
    ("daily", duck("daily", ["day", *traffic]), mysql("daily"), True),
    ("hourly", duck("hourly", ["day", "hour", "requests", "unique_visitors", "bytes"]), mysql("hourly"), True),
    ("status", duck("status", ["day", "status", "requests"]), mysql("status"), True),
    ("per server/category daily", duck("dimension_daily", ["day", "dimension", "value", *traffic]), mysql("dimension_daily", 2), False),
    ("per server/category hourly", duck("dimension_hourly", ["day", "hour", "dimension", "value", *traffic]), mysql("dimension_hourly", 3), False),
    ("top paths", duck("top_paths", ["day", "rank", "path", "requests", "success", "failure", "bytes"]), mysql("top_paths", 2), True),
    ("weekly visitors", duck("weekly_visitors", ["week_start", "iso_year", "iso_week", "days_reported", "requests", "unique_visitors"]), mysql("weekly"), True),
    ("monthly visitors", duck("monthly_visitors", ["month_start", "days_reported", "requests", "unique_visitors"]), mysql("monthly"), True),
]
bad = False
for name, a, b, ordered in checks:
    if not ordered:
        a, b = sorted(a), sorted(b)
    if a != b:
        bad = True
        diff = [(x, y) for x, y in zip(a, b) if x != y][:5]
        print(f"[bench] {name} differs: {len(a)} DuckDB rows, {len(b)} MySQL rows; first differences (DuckDB, MySQL): {diff}", file=sys.stderr)
if bad:
    sys.exit(1)
print("[bench] MySQL and DuckDB agree on every row: " + ", ".join(f"{name} {len(a)}" for name, a, _, _ in checks), file=sys.stderr)
PY
printf '\n| what | wall time | events/s | peak RSS |\n| --- | ---: | ---: | ---: |\n'
printf '| batch-job: HDFS (%s files) -> MySQL, %s events read, %s unique | %.2f s | %.0f | %s MiB |\n' \
  "$(grep -o '[0-9]* files read' "$WORK/batch.out" | cut -d' ' -f1)" "$EVENTS" "$UNIQUE" "$BW" "$(echo "$EVENTS / $BW" | bc -l)" "$(rss "$WORK/batch.time")"
printf '| DuckDB %s: raw log lines -> the same reports | %.2f s | %.0f | %s MiB |\n' \
  "$DUCKDB_VERSION" "$DW" "$(echo "$UNIQUE / $DW" | bc -l)" "$(rss "$WORK/duckdb.time")"
printf '\nbatch-job is %.2fx faster than DuckDB end to end\n' "$(echo "$DW / $BW" | bc -l)"
