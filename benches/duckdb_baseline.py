"""The harness's DuckDB baseline: the same questions over the same raw rows,
in memory (benches/harness.rs runs this; `pip install duckdb` provides it).

Reads one JSON object on stdin:
  {"dir": "<directory with customers.csv, transactions.csv, customer_interactions.csv>",
   "runs": 5,
   "queries": [{"id": "...", "sql": "..."}]}
loads the three CSV files (written by the harness from the stored raw rows:
header row, timestamps in UTC) into in-memory tables, then runs every query
`runs` times after one warm-up run and prints one JSON object on stdout:
  {"version": "...", "load_seconds": 1.2,
   "results": {"<id>": {"p50_ms": 12.3, "rows": 100} | {"error": "..."}}}
"""

import json
import statistics
import sys
import time

import duckdb

TABLES = {
    "customers": {
        "customer_id": "VARCHAR",
        "registration_date": "TIMESTAMPTZ",
        "country": "VARCHAR",
        "city": "VARCHAR",
        "age": "INTEGER",
        "gender": "VARCHAR",
        "acquisition_source": "VARCHAR",
        "segment": "VARCHAR",
        "is_active": "SMALLINT",
    },
    "transactions": {
        "transaction_id": "VARCHAR",
        "customer_id": "VARCHAR",
        "transaction_date": "TIMESTAMPTZ",
        "amount": "DECIMAL(18,4)",
        "product_category": "VARCHAR",
        "transaction_type": "VARCHAR",
        "payment_method": "VARCHAR",
        "is_refund": "SMALLINT",
    },
    "customer_interactions": {
        "interaction_id": "VARCHAR",
        "customer_id": "VARCHAR",
        "interaction_date": "TIMESTAMPTZ",
        "interaction_type": "VARCHAR",
        "channel": "VARCHAR",
        "duration_seconds": "INTEGER",
        "satisfaction_score": "SMALLINT",
    },
}


def load(con, directory):
    for table, columns in TABLES.items():
        cols = ", ".join(f"'{c}': '{t}'" for c, t in columns.items())
        con.execute(
            f"CREATE TABLE {table} AS SELECT * FROM read_csv('{directory}/{table}.csv', "
            f"header = true, columns = {{{cols}}})"
        )


def timed(con, sql, runs):
    con.execute(sql).fetchall()  # warm-up
    samples = []
    rows = 0
    for _ in range(runs):
        started = time.perf_counter()
        rows = len(con.execute(sql).fetchall())
        samples.append((time.perf_counter() - started) * 1000.0)
    return {"p50_ms": statistics.median(samples), "rows": rows}


def main():
    job = json.load(sys.stdin)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    started = time.perf_counter()
    load(con, job["dir"])
    out = {
        "version": duckdb.__version__,
        "load_seconds": time.perf_counter() - started,
        "results": {},
    }
    for q in job["queries"]:
        try:
            out["results"][q["id"]] = timed(con, q["sql"], job["runs"])
        except duckdb.Error as e:
            out["results"][q["id"]] = {"error": str(e).splitlines()[0]}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
