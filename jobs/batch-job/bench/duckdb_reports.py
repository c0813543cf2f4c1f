"""The four batch reports computed by DuckDB straight from raw access-log lines:
what an analyst might do instead of running the pipeline. Prints the reports as
JSON (for the comparison with MySQL) and the timing on stderr.

    python duckdb_reports.py access.log > duckdb.json
"""
import json
import sys
import time

import duckdb

# Apache combined format: client, ident, user, [time], "request", status, bytes, "referer", "agent".
LINE_RE = r'^(\S+) \S+ \S+ \[([^\]]+)\] "(?:[^"\\]|\\.)*" (\d{3}) (\S+)'


def main(path: str) -> None:
    t0 = time.perf_counter()
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        f"""
        CREATE TABLE ev AS
        SELECT lower(m.client) AS client,
               strptime(m.ts, '%d/%b/%Y:%H:%M:%S %z') AS ts,
               CAST(m.status AS INTEGER) AS status,
               CASE WHEN m.bytes = '-' THEN 0 ELSE CAST(m.bytes AS BIGINT) END AS bytes
        FROM (
            SELECT regexp_extract(line, '{LINE_RE}', ['client', 'ts', 'status', 'bytes']) AS m
            FROM read_csv(?, columns = {{'line': 'VARCHAR'}}, delim = '\x1f', quote = '', escape = '',
                          header = false, auto_detect = false)
        )
        WHERE m.client <> ''
        """,
        [path],
    )
    con.execute("CREATE TABLE ev2 AS SELECT client, CAST(ts AS DATE) AS day, hour(ts) AS hour, status, bytes FROM ev")
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
    total = time.perf_counter() - t0
    rows = con.execute("SELECT count(*) FROM ev2").fetchone()[0]
    print(
        f"duckdb {duckdb.__version__}: {rows} lines parsed in {t_parse:.2f}s, four reports in {total - t_parse:.2f}s, "
        f"total {total:.2f}s ({rows / total:,.0f} lines/s)",
        file=sys.stderr,
    )
    json.dump(out, sys.stdout, default=int)


if __name__ == "__main__":
    main(sys.argv[1])
