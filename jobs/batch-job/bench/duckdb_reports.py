"""The batch reports computed by DuckDB straight from raw access-log lines:
what an analyst might do instead of running the pipeline. Prints the reports as
JSON (for the comparison with MySQL) and the timing on stderr.

    python duckdb_reports.py [--top-paths N] access.log > duckdb.json

reads every web server's log that bench_master wrote for `--log access.log`
(`access.web1.log`, `access.web2.log`, ...): the web server of a line is the
name between the stem and the extension of its file, as the spool agent's
`source_host` is the server the log came from. Path and category are derived
from the request line by the rules of lib/logparse (request.rs, category.rs),
written in SQL below.
"""
import argparse
import glob
import json
import os
import sys
import time

import duckdb

# Apache combined format: client, ident, user, [time], "request", status, bytes, "referer", "agent".
LINE_RE = r'^(\S+) \S+ \S+ \[([^\]]+)\] "(?:[^"\\]|\\.)*" (\d{3}) (\S+)'
# The path of the usual request, `METHOD /path[?query] HTTP/x` without escapes
# (a separate one-group regex: a request group in LINE_RE makes it 3x slower).
SIMPLE_PATH_RE = r'^\S+ \S+ \S+ \[[^\]]+\] "[A-Za-z_-]{1,32} ([^ ?"\\]+)(?:\?[^ "\\]*)? HTTP/[^ "\\]*" '
# Any other request line, escapes included, for request_path().
REQUEST_RE = r'^\S+ \S+ \S+ \[[^\]]+\] "((?:[^"\\]|\\.)*)"'
# What Rust's str::trim_end removes (Unicode White_Space; the line has no \n).
TRAILING_WS = r"[\t\x0B\f\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}]+$"

MACROS = rf"""
-- fields.rs `unescape`: only \" and \\ are undone inside the quoted request line.
CREATE MACRO unescape(s) AS CASE WHEN contains(s, '\') THEN regexp_replace(s, '\\(["\\])', '\1', 'g') ELSE s END;
-- request.rs `parse_request`: tokens split on ' ' (empty ones dropped); the
-- first must be a method of 1..32 letters, '-' or '_', followed by a target;
-- nothing after it (HTTP/0.9) or a last token starting with HTTP/ (a target
-- with spaces runs up to that token, trimmed); anything else is method
-- UNKNOWN with path '-'. `rem` is what follows the method, '' when the line
-- is not METHOD TARGET...
CREATE MACRO request_rest(r) AS regexp_extract(r, '^ *[A-Za-z_-]{{1,32}} +([^ ](?:.*[^ ])?) *$', 1);
CREATE MACRO spaced_target(t) AS CASE WHEN contains(t, ' ') THEN regexp_replace(t, '{TRAILING_WS}', '') ELSE t END;
CREATE MACRO request_target(rem) AS
    CASE WHEN rem = '' THEN NULL
         WHEN NOT contains(rem, ' ') THEN rem
         WHEN starts_with(regexp_extract(rem, '[^ ]+$'), 'HTTP/') THEN spaced_target(rtrim(regexp_extract(rem, '(?s)^(.*) [^ ]+$', 1), ' '))
         ELSE NULL END;
-- The path is the target up to the first '?' (no decoding, no normalisation).
CREATE MACRO request_path(r) AS coalesce(split_part(request_target(request_rest(unescape(r))), '?', 1), '-');
-- category.rs, default rule (marker `category`, default `uncategorized`):
-- absolute-form targets lose scheme and host (origin_stripped); then the
-- segment after the first `category` segment if that is not empty, else the
-- first non-empty segment of a path starting with '/'; ASCII lower-cased.
CREATE MACRO origin_stripped(p) AS
    CASE WHEN starts_with(p, 'http://') OR starts_with(p, 'https://')
         THEN coalesce(nullif(regexp_extract(p, '(?s)^https?://[^/]*(/.*)$', 1), ''), '/') ELSE p END;
CREATE MACRO after_marker(p) AS
    CASE WHEN contains(p, '/category') THEN regexp_extract(p, '(?s)^.*?/category(?:$|/([^/]*))', 1) ELSE '' END;
-- Rust's to_ascii_lowercase: lower() when the text is ASCII (translate() is slow).
CREATE MACRO ascii_lower(s) AS
    CASE WHEN strlen(s) = length(s) THEN lower(s) ELSE translate(s, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') END;
CREATE MACRO category_of(p, after_marker, first_segment) AS
    CASE WHEN after_marker <> '' THEN ascii_lower(after_marker)
         WHEN first_segment = '' OR NOT starts_with(p, '/') THEN 'uncategorized'
         ELSE ascii_lower(first_segment) END;
"""


def server_logs(log: str) -> list[str]:
    base, ext = os.path.splitext(log)
    files = sorted(glob.glob(glob.escape(base) + ".*" + glob.escape(ext)))
    if not files:
        sys.exit(f"no {base}.SERVER{ext} files")
    return files


def main(log: str, top_paths: int) -> None:
    files = server_logs(log)
    base, ext = os.path.splitext(log)
    t0 = time.perf_counter()
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(MACROS)
    # Per line: the server from the file name, the fields from the line, the
    # path and category by the parser's rules.
    con.execute(
        f"""
        CREATE TABLE ev2 AS
        WITH lines AS (
            SELECT filename, line, regexp_extract(line, '{LINE_RE}', ['client', 'ts', 'status', 'bytes']) AS m,
                   regexp_extract(line, '{SIMPLE_PATH_RE}', 1) AS simple_path
            FROM read_csv(?, columns = {{'line': 'VARCHAR'}}, delim = '\x1f', quote = '', escape = '',
                          header = false, auto_detect = false, filename = true)
        ), fields AS (
            SELECT substr(filename, {len(base) + 2}, length(filename) - {len(base) + 1 + len(ext)}) AS server,
                   lower(m.client) AS client,
                   strptime(m.ts, '%d/%b/%Y:%H:%M:%S %z') AS ts,
                   CAST(m.status AS INTEGER) AS status,
                   coalesce(CAST(nullif(m.bytes, '-') AS BIGINT), 0) AS bytes,
                   CASE WHEN simple_path <> '' THEN simple_path ELSE request_path(regexp_extract(line, '{REQUEST_RE}', 1)) END AS path
            FROM lines WHERE m.client <> ''
        ), paths AS (
            SELECT *, origin_stripped(path) AS p FROM fields
        ), segments AS (
            SELECT *, after_marker(p) AS marked, split_part(ltrim(p, '/'), '/', 1) AS first_segment FROM paths
        )
        SELECT server, client, CAST(ts AS DATE) AS day, hour(ts) AS hour, status, bytes, path,
               category_of(p, marked, first_segment) AS category
        FROM segments
        """,
        [files],
    )
    t_parse = time.perf_counter() - t0
    out = {}
    out["daily"] = [
        {"day": str(d), "requests": r, "unique_visitors": u, "success": s, "failure": f, "bytes": b}
        for d, r, u, s, f, b in con.execute(
            """SELECT day, count(*), count(DISTINCT client), count(*) FILTER (status < 400),
                      count(*) FILTER (status >= 400), sum(bytes)
               FROM ev2 GROUP BY day ORDER BY day"""
        ).fetchall()
    ]
    out["status"] = [
        {"day": str(d), "status": s, "requests": n}
        for d, s, n in con.execute("SELECT day, status, count(*) FROM ev2 GROUP BY ALL ORDER BY ALL").fetchall()
    ]
    out["status_class"] = [
        {"day": str(d), "class": c, "requests": n}
        for d, c, n in con.execute("SELECT day, status // 100, count(*) FROM ev2 GROUP BY ALL ORDER BY ALL").fetchall()
    ]
    out["weekday"] = [
        {"isodow": w, "days": n, "sum_unique_visitors": s}
        for w, n, s in con.execute(
            """SELECT isodow(day), count(*), sum(u) FROM
               (SELECT day, count(DISTINCT client) AS u FROM ev2 GROUP BY day) GROUP BY 1 ORDER BY 1"""
        ).fetchall()
    ]
    out["hourly"] = [
        {"day": str(d), "hour": h, "requests": r, "unique_visitors": u, "bytes": b}
        for d, h, r, u, b in con.execute(
            "SELECT day, hour, count(*), count(DISTINCT client), sum(bytes) FROM ev2 GROUP BY ALL ORDER BY ALL"
        ).fetchall()
    ]
    # Per web server and per category: each day, and each hour of the day
    # (24 rows for every value seen that day, zeros included).
    traffic = """count(*) AS requests, count(DISTINCT client) AS unique_visitors, count(*) FILTER (status < 400) AS success,
                 count(*) FILTER (status >= 400) AS failure, sum(bytes) AS bytes"""
    by_dimension = lambda keys: f"""
        SELECT {keys}, 'server' AS dimension, server AS value, {traffic} FROM ev2 GROUP BY ALL
        UNION ALL
        SELECT {keys}, 'category', category, {traffic} FROM ev2 GROUP BY ALL"""
    con.execute(f"CREATE TABLE dim_daily AS {by_dimension('day')}")
    cols = ["requests", "unique_visitors", "success", "failure", "bytes"]
    out["dimension_daily"] = [
        {"day": str(r[0]), "dimension": r[1], "value": r[2], **dict(zip(cols, r[3:]))}
        for r in con.execute("SELECT * FROM dim_daily ORDER BY day, dimension, value").fetchall()
    ]
    out["dimension_hourly"] = [
        {"day": str(r[0]), "hour": r[1], "dimension": r[2], "value": r[3], **dict(zip(cols, r[4:]))}
        for r in con.execute(
            f"""WITH h AS ({by_dimension('day, hour')})
                SELECT d.day, g.hour, d.dimension, d.value, coalesce(h.requests, 0), coalesce(h.unique_visitors, 0),
                       coalesce(h.success, 0), coalesce(h.failure, 0), coalesce(h.bytes, 0)
                FROM dim_daily d CROSS JOIN range(24) g(hour)
                LEFT JOIN h ON h.day = d.day AND h.hour = g.hour AND h.dimension = d.dimension AND h.value = d.value
                ORDER BY d.day, d.dimension, d.value, g.hour"""
        ).fetchall()
    ]
    # Top paths: by requests, ties by path (byte order), the first N of each day.
    out["top_paths"] = [
        {"day": str(d), "rank": k, "path": p, "requests": r, "success": s, "failure": f, "bytes": b}
        for d, k, p, r, s, f, b in con.execute(
            """SELECT day, row_number() OVER (PARTITION BY day ORDER BY count(*) DESC, path) AS rank, path, count(*),
                      count(*) FILTER (status < 400), count(*) FILTER (status >= 400), sum(bytes)
               FROM ev2 GROUP BY day, path QUALIFY rank <= ? ORDER BY day, rank""",
            [top_paths],
        ).fetchall()
    ]
    # Exact unique visitors over each ISO week (Monday first) and calendar month.
    out["weekly_visitors"] = [
        {"week_start": str(w)[:10], "iso_year": y, "iso_week": k, "days_reported": n, "requests": r, "unique_visitors": u}
        for w, y, k, n, r, u in con.execute(
            """SELECT date_trunc('week', day), isoyear(day), week(day), count(DISTINCT day), count(*), count(DISTINCT client)
               FROM ev2 GROUP BY ALL ORDER BY ALL"""
        ).fetchall()
    ]
    out["monthly_visitors"] = [
        {"month_start": str(m)[:10], "days_reported": n, "requests": r, "unique_visitors": u}
        for m, n, r, u in con.execute(
            """SELECT date_trunc('month', day), count(DISTINCT day), count(*), count(DISTINCT client)
               FROM ev2 GROUP BY ALL ORDER BY ALL"""
        ).fetchall()
    ]
    total = time.perf_counter() - t0
    rows = con.execute("SELECT count(*) FROM ev2").fetchone()[0]
    print(
        f"duckdb {duckdb.__version__}: {rows} lines of {len(files)} server logs parsed in {t_parse:.2f}s, "
        f"reports in {total - t_parse:.2f}s, total {total:.2f}s ({rows / total:,.0f} lines/s)",
        file=sys.stderr,
    )
    json.dump(out, sys.stdout, default=int)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("log", help="the --log path given to bench_master (reads its per-server files)")
    ap.add_argument("--top-paths", type=int, default=100, help="paths kept per day (the batch job's reports.top_paths)")
    a = ap.parse_args()
    main(a.log, a.top_paths)
