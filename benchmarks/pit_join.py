"""Benchmark of the point-in-time join against a raw exact DuckDB ASOF query and pandas.

    python benchmarks/pit_join.py --size S   # 10k keys, 1M feature rows/view, 100k entity rows
    python benchmarks/pit_join.py --size M   # 100k keys, 10M feature rows/view, 1M entity rows

Data (deterministic, generated once into benchmarks/.data/, git-ignored): two views of 5
and 10 float features over 60 days, ttl 5 days, 1% of rows tied on (key, event_ts) with a
later created_ts, written through OfflineStore (daily partitions). Each method runs in a
fresh subprocess per repetition, starting from the Parquet files and ending with the
result in memory (Arrow, or pandas for merge_asof); the parent samples the RSS of the
subprocess and its children (Spark's JVM) and times only the join inside the child. A
checksum of every method's result must agree, or the run fails.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# Spark binds to loopback only; the benchmark needs no network.
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

from benchmarks._pit_data import TTL, ensure_data, views

BASELINE = "raw duckdb exact ASOF"
METHODS = [BASELINE, "point_in_time_join duckdb", "pandas merge_asof", "point_in_time_join spark"]


def _checksum(table: Any) -> list[float]:
    """Per output feature column: non-null count and rounded sum (Arrow or pandas)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not isinstance(table, pa.Table):
        table = pa.Table.from_pandas(table, preserve_index=False)
    names = [n for v in views() for n in v.feature_names]
    out: list[float] = []
    for name in names:
        column = table.column(name)
        out += [len(column) - column.null_count, round(pc.sum(column).as_py() or 0.0, 3)]
    return out


def _raw_duckdb(root: Path) -> Any:
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    ttl_us = int(TTL.total_seconds() * 1_000_000)
    ctes = [
        f"e AS (SELECT *, file_row_number AS rid FROM read_parquet('{root / 'entity.parquet'}', file_row_number = true))"
    ]
    selects, joins = ["e.user_id", "e.event_timestamp", "e.label"], []
    for i, view in enumerate(views()):
        feats = ", ".join(view.feature_names)
        ctes.append(
            f"f{i} AS (SELECT user_id, event_timestamp, {feats} "
            f"FROM read_parquet('{root / 'offline' / view.name}/*.parquet') "
            "QUALIFY row_number() OVER (PARTITION BY user_id, event_timestamp "
            "ORDER BY created_timestamp DESC) = 1)"
        )
        selects += [
            f"CASE WHEN f{i}.event_timestamp >= e.event_timestamp - INTERVAL ({ttl_us}) MICROSECOND "
            f"THEN f{i}.{f} END AS {f}"
            for f in view.feature_names
        ]
        joins.append(
            f"ASOF LEFT JOIN f{i} ON e.user_id = f{i}.user_id AND e.event_timestamp > f{i}.event_timestamp"
        )
    query = f"WITH {', '.join(ctes)} SELECT {', '.join(selects)} FROM e {' '.join(joins)} ORDER BY e.rid"
    return con.sql(query).to_arrow_table()


def _ours(root: Path, engine: str) -> Any:
    from feature_platform.offline import OfflineStore, point_in_time_join

    store = OfflineStore(root / "offline")
    tables = [store.feature_table(v, v.feature_names) for v in views()]
    if engine == "duckdb":
        return point_in_time_join(str(root / "entity.parquet"), tables, output="arrow")
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "4g")
        .config("spark.sql.shuffle.partitions", "8")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    started = time.perf_counter()
    result = point_in_time_join(
        str(root / "entity.parquet"), tables, engine="spark", spark=spark, output="arrow"
    )
    # Session start-up (JVM) is not part of the join; report it apart.
    print(json.dumps({"spark_join_only_s": time.perf_counter() - started}), file=sys.stderr)
    return result


def _pandas(root: Path) -> Any:
    import pandas as pd

    entity = pd.read_parquet(root / "entity.parquet")
    entity["rid"] = range(len(entity))
    out = entity.sort_values("event_timestamp", kind="stable")
    for view in views():
        feats = pd.read_parquet(
            root / "offline" / view.name,
            columns=["user_id", "event_timestamp", "created_timestamp", *view.feature_names],
        )
        feats = feats.sort_values(["user_id", "event_timestamp", "created_timestamp"])
        feats = feats.drop_duplicates(["user_id", "event_timestamp"], keep="last")
        feats = feats.drop(columns=["created_timestamp"]).sort_values(
            "event_timestamp", kind="stable"
        )
        out = pd.merge_asof(
            out,
            feats,
            on="event_timestamp",
            by="user_id",
            allow_exact_matches=False,
            tolerance=pd.Timedelta(TTL),
        )
    return out.sort_values("rid").drop(columns=["rid"]).reset_index(drop=True)


def run_child(method: str, root: Path) -> None:
    """Run one method once and print its time and checksum as JSON."""
    runners = {
        BASELINE: lambda: _raw_duckdb(root),
        "point_in_time_join duckdb": lambda: _ours(root, "duckdb"),
        "point_in_time_join spark": lambda: _ours(root, "spark"),
        "pandas merge_asof": lambda: _pandas(root),
    }
    started = time.perf_counter()
    result = runners[method]()
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "rows": len(result), "checksum": _checksum(result)}))


def _tree_rss_kb(pid: int) -> int:
    """Resident memory of ``pid`` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo += children.get(current, [])
        try:
            with open(f"/proc/{current}/status") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def measure(method: str, root: Path) -> tuple[float, float, list[float], int]:
    """Run ``method`` in a subprocess; return (seconds, peak RSS MB, checksum, rows)."""
    child = subprocess.Popen(
        [sys.executable, __file__, "--child", method, "--root", str(root)],
        stdout=subprocess.PIPE,
        text=True,
    )
    peak = 0
    while child.poll() is None:
        peak = max(peak, _tree_rss_kb(child.pid))
        time.sleep(0.05)
    output = child.stdout.read() if child.stdout else ""
    if child.returncode != 0:
        raise SystemExit(f"{method} failed with exit code {child.returncode}")
    report = json.loads(output.strip().splitlines()[-1])
    return report["seconds"], peak / 1024, report["checksum"], report["rows"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", choices=["S", "M"], default="S")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).parent / ".data")
    parser.add_argument("--methods", nargs="*", default=None, help="subset of methods to run")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args.child, args.root)
        return
    started = time.perf_counter()
    root = ensure_data(args.size, args.data_dir)
    print(f"data ready in {time.perf_counter() - started:.1f} s at {root}", flush=True)
    methods = args.methods or [m for m in METHODS if args.size == "S" or "spark" not in m]
    if BASELINE not in methods:
        methods.insert(0, BASELINE)
    results: dict[str, tuple[float, float]] = {}
    checksums: dict[str, list[float]] = {}
    for method in methods:
        runs = [measure(method, root) for _ in range(args.reps)]
        results[method] = (
            statistics.median(r[0] for r in runs),
            statistics.median(r[1] for r in runs),
        )
        checksums[method] = runs[0][2]
        print(f"  {method}: {[round(r[0], 2) for r in runs]} s, rows {runs[0][3]}", flush=True)
    reference = checksums[BASELINE]
    for method, checksum in checksums.items():
        if checksum != reference:
            raise SystemExit(f"{method} returned different results from the baseline")
    base_seconds = results[BASELINE][0]
    print(f"\nsize {args.size}, median of {args.reps} runs, results identical (checksums)")
    print(f"{'method':<28} {'median s':>9} {'ratio':>7} {'peak RSS MB':>12}")
    for method, (seconds, rss) in results.items():
        print(f"{method:<28} {seconds:>9.2f} {seconds / base_seconds:>6.2f}x {rss:>12.0f}")


if __name__ == "__main__":
    main()
