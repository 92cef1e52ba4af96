"""Benchmark of the point-in-time join against the best raw DuckDB query, on two inputs.

    python benchmarks/pit_join.py --size S   # 10k keys, 1M feature rows/view, 100k entity rows
    python benchmarks/pit_join.py --size M   # 100k keys, 10M feature rows/view, 1M entity rows
    python benchmarks/pit_join.py --size L --reps 1 --memory-limit 4GB
                                             # 1M keys, 100M rows/view, 10M entity rows

Data (deterministic, generated once into benchmarks/.data/, git-ignored): two views of 5
and 10 float features over 60 days, ttl 5 days, 1% of rows tied on (key, event_ts) with a
later created_ts, written through OfflineStore (daily partitions). Two inputs:

- ``store``: the offline store (``OfflineStore.feature_table``), unique per
  (key, event_ts, created_ts) by construction;
- ``raw``: a Parquet glob per view (``FeatureTable(source="...*.parquet")``): the same
  files plus a last file of exact duplicates of (key, event_ts, created_ts) for 0.1% of
  the rows, each twice with new values, so only the last row in source order is right.

Methods, per input:

- the baseline, ``raw duckdb 1-pass ASOF``: one hand-written DuckDB query, one ASOF join
  per view on a composite STRUCT key ``(event_ts, created_ts[, file_index, row])``, the
  entity side ``(t, -infinity, ...)``, entity order restored with ORDER BY;
- ``raw duckdb window dedup``: a ``row_number()`` dedup per (key, event_ts), then ASOF;
- ``point_in_time_join`` to Arrow and with ``to_parquet=`` (streamed into one file);
- ``pandas merge_asof`` (S only by default) and ``point_in_time_join spark`` (on request:
  ``--methods``; ``local[2]``, its time includes starting the JVM).

At size L or with ``--memory-limit``, the baseline writes its result with DuckDB's COPY,
both under the memory limit with DuckDB spilling into ``<data>/duckdb_tmp``.

Each method runs in a fresh subprocess per repetition (the methods take turns, one
repetition of each at a time), from the Parquet files to the
result (in memory, or a Parquet file); the parent samples the RSS of the subprocess and
its children (Spark's JVM included), the child times only the join, in wall-clock and in
CPU seconds of its own process (steadier on a shared machine; Spark's JVM is not counted
there). An order-sensitive
checksum of every method's result must agree with the baseline's, or the run fails.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# Spark binds to loopback only; the benchmark needs no network.
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

from benchmarks._pit_data import TTL, ensure_data, ensure_raw, raw_glob, views

INPUTS = ["store", "raw"]
BASELINE = "raw duckdb 1-pass ASOF"
WINDOW = "raw duckdb window dedup"
OURS = "point_in_time_join duckdb"
OURS_PARQUET = "point_in_time_join duckdb to_parquet"
PANDAS = "pandas merge_asof"
SPARK = "point_in_time_join spark"
SPARK_PARQUET = "point_in_time_join spark to_parquet"
METHODS = [BASELINE, WINDOW, OURS, OURS_PARQUET, PANDAS, SPARK, SPARK_PARQUET]
DEFAULT_METHODS = {
    "S": [BASELINE, WINDOW, OURS, OURS_PARQUET, PANDAS],
    "M": [BASELINE, WINDOW, OURS, OURS_PARQUET],
    "L": [BASELINE, OURS_PARQUET],
}
_ROW_BITS = 1 << 40


def _checksum(result: Any) -> list[int]:
    """Per output feature column: the non-null count and an order-sensitive sum of the
    values (as integer thousandths, weighted by row position, wrapping at 2^64); for an
    Arrow table, a pandas frame or a Parquet file (read one column at a time)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = [n for v in views() for n in v.feature_names]
    if isinstance(result, Path):
        parquet = pq.ParquetFile(result)
        columns = (parquet.read(columns=[n]).column(0) for n in names)
    else:
        table = (
            result
            if isinstance(result, pa.Table)
            else pa.Table.from_pandas(result, preserve_index=False)
        )
        columns = (table.column(n) for n in names)
    out: list[int] = []
    for column in columns:
        values = column.to_numpy()
        present = ~np.isnan(values)
        thousandths = np.rint(np.where(present, values, 0.0) * 1000).astype(np.uint64)
        weights = np.arange(len(values), dtype=np.uint64) % np.uint64(997) + np.uint64(1)
        with np.errstate(over="ignore"):
            total = int(np.sum(thousandths * weights, dtype=np.uint64))
        out += [int(present.sum()), total]
    return out


def _connect(settings: dict[str, str]) -> Any:
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for name, value in settings.items():
        con.execute(f"SET {name} = ?", [value])
    return con


def _view_files(root: Path, source: str, view: Any) -> str:
    pattern = (
        raw_glob(root, view) if source == "raw" else f"{root / 'offline' / view.name}/*.parquet"
    )
    return f"read_parquet('{pattern}')"


def _raw_query(root: Path, source: str, window_dedup: bool) -> str:
    """The hand-written query: entity order restored, exact on ties and duplicates."""
    ttl_us = int(TTL.total_seconds() * 1_000_000)
    entity = root / "entity.parquet"
    ctes = [f"e AS (SELECT *, file_row_number AS rid FROM read_parquet('{entity}'))"]
    selects, joins = ["e.user_id", "e.event_timestamp", "e.label"], []
    for i, view in enumerate(views()):
        feats = ", ".join(view.feature_names)
        files = _view_files(root, source, view)
        if window_dedup:
            ctes.append(
                f"f{i} AS (SELECT user_id, event_timestamp, {feats} FROM {files} "
                "QUALIFY row_number() OVER (PARTITION BY user_id, event_timestamp ORDER BY "
                "created_timestamp DESC, file_index DESC, file_row_number DESC) = 1)"
            )
            on = f"e.event_timestamp > f{i}.event_timestamp"
        else:
            fields = ["'e': event_timestamp", "'c': created_timestamp"]
            lowest = ["'e': e.event_timestamp", "'c': '-infinity'::TIMESTAMPTZ"]
            if source == "raw":
                fields.append(f"'p': file_index::BIGINT * {_ROW_BITS} + file_row_number")
                lowest.append("'p': (-9223372036854775807 - 1)::BIGINT")
            ctes.append(
                f"f{i} AS (SELECT user_id, event_timestamp, {{{', '.join(fields)}}} AS o, "
                f"{feats} FROM {files})"
            )
            on = f"{{{', '.join(lowest)}}} > f{i}.o"
        selects += [
            f"CASE WHEN f{i}.event_timestamp >= e.event_timestamp - INTERVAL ({ttl_us}) "
            f"MICROSECOND THEN f{i}.{f} END AS {f}"
            for f in view.feature_names
        ]
        joins.append(f"ASOF LEFT JOIN f{i} ON e.user_id = f{i}.user_id AND {on}")
    return (
        f"WITH {', '.join(ctes)} SELECT {', '.join(selects)} FROM e {' '.join(joins)} "
        "ORDER BY e.rid"
    )


def _raw_duckdb(
    root: Path, source: str, window_dedup: bool, settings: dict[str, str], out: Path | None
) -> Any:
    con = _connect(settings)
    query = _raw_query(root, source, window_dedup)
    if out is None:
        return con.sql(query).to_arrow_table()
    con.execute(f"COPY ({query}) TO '{out}' (FORMAT parquet)")
    return out


def _tables(root: Path, source: str) -> list[Any]:
    from feature_platform.offline import FeatureTable, OfflineStore

    if source == "store":
        store = OfflineStore(root / "offline")
        return [store.feature_table(v, v.feature_names) for v in views()]
    return [
        FeatureTable(v.name, raw_glob(root, v), ["user_id"], v.feature_names, ttl=TTL)
        for v in views()
    ]


def _spark() -> Any:
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
    return spark


def _ours(root: Path, source: str, engine: str, settings: dict[str, str], out: Path | None) -> Any:
    from feature_platform.offline import point_in_time_join

    spark = _spark() if engine == "spark" else None
    started = time.perf_counter()
    result = point_in_time_join(
        str(root / "entity.parquet"),
        _tables(root, source),
        engine=engine,  # type: ignore[arg-type]
        spark=spark,
        output="arrow",
        to_parquet=out,
        duckdb_memory_limit=settings.get("memory_limit"),
        duckdb_temp_directory=settings.get("temp_directory"),
    )
    if spark is not None:
        # Session start-up (JVM) is part of the reported time; the join alone is this.
        print(json.dumps({"spark_join_only_s": time.perf_counter() - started}), file=sys.stderr)
    return result


def _pandas(root: Path, source: str) -> Any:
    import pandas as pd

    entity = pd.read_parquet(root / "entity.parquet")
    entity["rid"] = range(len(entity))
    out = entity.sort_values("event_timestamp", kind="stable")
    for view in views():
        files = sorted(Path(raw_glob(root, view)).parent.glob("*.parquet"))
        if source == "store":
            files = sorted((root / "offline" / view.name).glob("*.parquet"))
        columns = ["user_id", "event_timestamp", "created_timestamp", *view.feature_names]
        feats = pd.concat([pd.read_parquet(f, columns=columns) for f in files], ignore_index=True)
        # A stable sort keeps source order among exact duplicates; keep="last" takes the last.
        feats = feats.sort_values(
            ["user_id", "event_timestamp", "created_timestamp"], kind="stable"
        )
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


def run_child(
    method: str, source: str, root: Path, settings: dict[str, str], baseline_to_file: bool
) -> None:
    """Run one method once and print its time and checksum as JSON."""
    # Every method starts with the same libraries loaded; only the join is timed.
    import duckdb  # noqa: F401
    import pandas  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    import feature_platform.offline  # noqa: F401

    out = root / f"result-{os.getpid()}.parquet"
    runners = {
        BASELINE: lambda: _raw_duckdb(
            root, source, False, settings, out if baseline_to_file else None
        ),
        WINDOW: lambda: _raw_duckdb(root, source, True, settings, None),
        OURS: lambda: _ours(root, source, "duckdb", settings, None),
        OURS_PARQUET: lambda: _ours(root, source, "duckdb", settings, out),
        SPARK: lambda: _ours(root, source, "spark", settings, None),
        SPARK_PARQUET: lambda: _ours(root, source, "spark", settings, out),
        PANDAS: lambda: _pandas(root, source),
    }
    try:
        started, cpu_started = time.perf_counter(), _cpu_seconds()
        result = runners[method]()
        seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu_started
        checksum = _checksum(result)
        if isinstance(result, Path):
            import pyarrow.parquet as pq

            rows = pq.ParquetFile(result).metadata.num_rows
        else:
            rows = len(result)
    finally:
        out.unlink(missing_ok=True)
    print(json.dumps({"seconds": seconds, "cpu": cpu, "rows": rows, "checksum": checksum}))


def _cpu_seconds() -> float:
    """CPU time (user + system, all threads) of this process; Spark's JVM is not included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


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


def measure(
    method: str, source: str, root: Path, settings: dict[str, str], baseline_to_file: bool
) -> tuple[float, float, float, list[int]]:
    """Run ``method`` in a subprocess; return (seconds, CPU seconds, peak RSS MB, checksum)."""
    command = [sys.executable, __file__, "--child", method, "--input", source, "--root", str(root)]
    command += ["--settings", json.dumps(settings)]
    if baseline_to_file:
        command.append("--baseline-to-file")
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    peak = 0
    while child.poll() is None:
        peak = max(peak, _tree_rss_kb(child.pid))
        time.sleep(0.05)
    output = child.stdout.read() if child.stdout else ""
    if child.returncode != 0:
        raise SystemExit(f"{method} on {source} failed with exit code {child.returncode}")
    report = json.loads(output.strip().splitlines()[-1])
    return report["seconds"], report["cpu"], peak / 1024, report["checksum"]


def _load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", choices=["S", "M", "L"], default="S")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).parent / ".data")
    parser.add_argument("--inputs", nargs="*", choices=INPUTS, default=INPUTS)
    parser.add_argument("--methods", nargs="*", choices=METHODS, default=None)
    parser.add_argument("--memory-limit", help="DuckDB memory_limit, e.g. 4GB (spills above it)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--settings", default="{}", help=argparse.SUPPRESS)
    parser.add_argument("--baseline-to-file", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(
            args.child, args.input, args.root, json.loads(args.settings), args.baseline_to_file
        )
        return
    started = time.perf_counter()
    root = ensure_data(args.size, args.data_dir)
    if "raw" in args.inputs:
        ensure_raw(root)
    print(f"data ready in {time.perf_counter() - started:.1f} s at {root}", flush=True)
    settings: dict[str, str] = {}
    if args.memory_limit:
        settings = {
            "memory_limit": args.memory_limit,
            "temp_directory": str(args.data_dir / "duckdb_tmp"),
        }
    methods = args.methods or DEFAULT_METHODS[args.size]
    # Larger than memory: the baseline too streams its result into a file.
    to_file = args.size == "L" or bool(args.memory_limit)
    if BASELINE not in methods:
        methods.insert(0, BASELINE)
    for source in args.inputs:
        results: dict[str, tuple[float, float, float]] = {}
        checksums: dict[str, list[int]] = {}
        loads = [_load_average()]
        runs: dict[str, list[tuple[float, float, float, list[int]]]] = {m: [] for m in methods}
        # Round-robin over the methods, so a machine that drifts (a neighbour's load, clock
        # speed) moves every method's runs alike instead of the ones that ran last.
        for _ in range(args.reps):
            for method in methods:
                runs[method].append(measure(method, source, root, settings, to_file))
            loads.append(_load_average())
        for method, mine in runs.items():
            results[method] = (
                statistics.median(r[0] for r in mine),
                statistics.median(r[1] for r in mine),
                statistics.median(r[2] for r in mine),
            )
            checksums[method] = mine[0][3]
            print(f"  {source} {method}: {[round(r[0], 2) for r in mine]} s", flush=True)
        for method, checksum in checksums.items():
            if checksum != checksums[BASELINE]:
                raise SystemExit(f"{method} on {source} differs from the baseline")
        base_seconds, base_cpu, _ = results[BASELINE]
        limit = f", memory_limit {args.memory_limit}" if args.memory_limit else ""
        print(
            f"\nsize {args.size}, input {source}, median of {args.reps} runs{limit}, "
            f"results identical (checksums); load average {loads[0]} .. {loads[-1]}"
        )
        print(
            f"{'method':<38} {'median s':>9} {'ratio':>7} {'CPU s':>7} {'ratio':>7} "
            f"{'peak RSS MB':>12}"
        )
        for method, (seconds, cpu, rss) in results.items():
            print(
                f"{method:<38} {seconds:>9.2f} {seconds / base_seconds:>6.2f}x {cpu:>7.2f} "
                f"{cpu / base_cpu:>6.2f}x {rss:>12.0f}"
            )
        print(flush=True)


if __name__ == "__main__":
    main()
