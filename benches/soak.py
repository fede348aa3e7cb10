#!/usr/bin/env python3
"""Soak benchmark (not a test): dashboard-style polling plus steady ingest
against a running ltv-pipes, for a fixed time, reporting latency percentiles,
error counts and the server's RSS over time (memory should stay flat).

    python3 benches/soak.py --base http://127.0.0.1:7181 --token $TOKEN \
        --pid $(pgrep -f 'ltv-pipes serve') --minutes 30

Pollers imitate open dashboards: each cycles through the CLV pipes with the
filters a dashboard sends (date windows, country, segment, as_of), with
If-None-Match, every --poll-secs. Writers post single transactions and
50-row NDJSON batches at a steady rate, so answers change and caches move.
Standard library only.
"""

import argparse
import json
import random
import statistics
import threading
import time
import urllib.error
import urllib.request

CALLS = [
    "/v0/pipes/ltv_overview.json",
    "/v0/pipes/ltv_overview.json?country=US",
    "/v0/pipes/customer_ltv.json?limit=20",
    "/v0/pipes/customer_ltv.json?start_date=2024-01-01%2000:00:00&country=US&limit=20",
    "/v0/pipes/ltv_by_cohort.json",
    "/v0/pipes/ltv_by_cohort.json?segment=premium",
    "/v0/pipes/customer_retention_analysis.json",
    "/v0/pipes/customer_segmentation_summary.json",
    "/v0/pipes/ltv_influencing_factors.json",
    "/v0/pipes/ltv_forecast.json?limit=20",
    "/v0/pipes/ltv_overview.json?as_of=2025-12-31",
]


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.latencies = {"poll": [], "write": []}
        self.statuses = {}

    def add(self, kind, status, seconds):
        with self.lock:
            self.latencies[kind].append(seconds)
            key = f"{kind} {status}"
            self.statuses[key] = self.statuses.get(key, 0) + 1


def request(base, token, path, body=None, etag=None):
    req = urllib.request.Request(base + path, data=body, method="POST" if body else "GET")
    req.add_header("Authorization", f"Bearer {token}")
    if etag:
        req.add_header("If-None-Match", etag)
    started = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            resp.read()
            return resp.status, resp.headers.get("ETag"), time.monotonic() - started
    except urllib.error.HTTPError as e:
        e.read()
        return e.code, None, time.monotonic() - started
    except Exception:  # connection refused, reset, timeout
        return "conn-error", None, time.monotonic() - started


def poller(args, stats, stop, seed):
    rng = random.Random(seed)
    etags = {}
    while not stop.is_set():
        for path in rng.sample(CALLS, len(CALLS)):
            status, etag, secs = request(args.base, args.token, path, etag=etags.get(path))
            if etag:
                etags[path] = etag
            stats.add("poll", status, secs)
        stop.wait(args.poll_secs)


def writer(args, stats, stop, seed):
    rng = random.Random(seed)
    n = 0
    while not stop.is_set():
        rows = 1 if n % 2 == 0 else 50
        lines = []
        for _ in range(rows):
            n += 1
            customer = args.customer_id.format(rng.randrange(1, args.customers + 1))
            lines.append(json.dumps({
                "transaction_id": f"soak-{seed}-{n}",
                "customer_id": customer,
                "transaction_date": "2026-09-30 12:00:00",
                "amount": round(rng.uniform(5, 300), 2),
            }))
        body = ("\n".join(lines) + "\n").encode()
        status, _, secs = request(args.base, args.token, "/v0/events?name=transactions", body=body)
        stats.add("write", status, secs)
        stop.wait(args.write_secs)


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def percentile(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", default="http://127.0.0.1:7181")
    ap.add_argument("--token", required=True)
    ap.add_argument("--pid", type=int, help="the server's pid, for RSS")
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--dashboards", type=int, default=8)
    ap.add_argument("--poll-secs", type=float, default=5)
    ap.add_argument("--writers", type=int, default=2)
    ap.add_argument("--write-secs", type=float, default=0.5)
    ap.add_argument("--customers", type=int, default=1000, help="customers written to: ids 1..N")
    ap.add_argument("--customer-id", default="cust_{:07d}", help="id format (the demo's by default)")
    args = ap.parse_args()

    stats, stop = Stats(), threading.Event()
    threads = [threading.Thread(target=poller, args=(args, stats, stop, i)) for i in range(args.dashboards)]
    threads += [threading.Thread(target=writer, args=(args, stats, stop, 1000 + i)) for i in range(args.writers)]
    for t in threads:
        t.start()
    end = time.monotonic() + args.minutes * 60
    rss = []
    while time.monotonic() < end:
        if args.pid:
            rss.append((round(args.minutes * 60 - (end - time.monotonic())), rss_kb(args.pid)))
        time.sleep(min(30, max(0.1, end - time.monotonic())))
    stop.set()
    for t in threads:
        t.join()

    print(f"soak: {args.minutes} min, {args.dashboards} dashboards every {args.poll_secs} s, "
          f"{args.writers} writers every {args.write_secs} s")
    for kind, values in stats.latencies.items():
        print(f"{kind:>5}: {len(values)} requests, p50 {percentile(values, 50) * 1000:.1f} ms, "
              f"p99 {percentile(values, 99) * 1000:.1f} ms, max {max(values, default=0) * 1000:.1f} ms")
    print("statuses:", json.dumps(dict(sorted(stats.statuses.items()))))
    if rss:
        print("rss_kb over time (s, kB):", rss)
        first, last = rss[0][1], rss[-1][1]
        if first and last:
            print(f"rss first {first} kB, last {last} kB, max {max(r for _, r in rss if r)} kB")


if __name__ == "__main__":
    main()
