"""Benchmark: the monthly feature table on DuckDB against a pandas loop over cutoffs.

Two workloads, each measured in its own child process so that peak memory (VmHWM,
reset after loading) belongs to the build alone:

* ``sim``: the simulated ecosystem (default 20,000 partners x 36 months);
* ``log``: a synthetic event log of N events (deals 10 %, interactions 30 %,
  portal views 60 %), generated directly as Parquet in chunks and loaded.

For each: wall time of ``build_feature_table`` over all monthly cutoffs, events per
second per core, peak RSS against the size of the loaded tables, and the same
measurements for a straightforward pandas implementation that loops over cutoffs and
computes a handful of the same features (deals, questions and views over 90 days,
days since the last deal, the label). Ratio = pandas loop time / DuckDB time.

Usage::

    python benchmarks/bench_features.py                       # sim + log at 3e7
    python benchmarks/bench_features.py --events 100000000    # the full 10^8 log
    python benchmarks/bench_features.py --only log --events 10000000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

TS = "datetime64[us, UTC]"
ZONE = "Asia/Tokyo"


# ---------------------------------------------------------------- memory


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _peak_gib() -> float:
    return _status_kib("VmHWM") / 2**20


def _rss_gib() -> float:
    return _status_kib("VmRSS") / 2**20


def _frame_gib(tables: dict[str, pd.DataFrame]) -> float:
    return sum(int(f.memory_usage(deep=True).sum()) for f in tables.values()) / 2**30


# ---------------------------------------------------------------- workloads


def _simulated(partners: int, months: int):  # type: ignore[no-untyped-def]
    from ghost_model.simulate import simulate_ecosystem

    return simulate_ecosystem(partners=partners, months=months, seed=7).dataset()


def _write_log(out: Path, events: int, partners: int, months: int, seed: int) -> None:
    """Write a synthetic log of ``events`` rows as Parquet, chunk by chunk."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2022-04-01", tz=ZONE).tz_convert("UTC").value // 1000
    span_us = int(months * 30.4375 * 86400 * 1e6)
    shares = {"deals": 0.1, "interactions": 0.3, "portal_views": 0.6}
    chunk = 5_000_000
    pids = np.array([f"P{i:05d}" for i in range(partners)], dtype=object)
    for name, share in shares.items():
        total = int(events * share)
        writer = None
        for first in range(0, total, chunk):
            n = min(chunk, total - first)
            partner = pa.array(pids[rng.integers(0, partners, n)], pa.string())
            at = start + rng.integers(0, span_us, n)
            stamp = pa.array(at, pa.timestamp("us", tz="UTC"))
            if name == "deals":
                closed = at + rng.integers(1, 120, n) * 86_400_000_000
                open_ = (rng.random(n) < 0.15) | (closed >= start + span_us)
                outcome = np.where(
                    open_, "open", np.where(rng.random(n) < 0.4, "won", "lost")
                )
                cols = {
                    "deal_id": pa.array(
                        np.char.add("D", np.arange(first, first + n).astype(str))
                    ),
                    "partner_id": partner,
                    "registered_at": stamp,
                    "rep_id": pa.array(
                        np.char.add(
                            np.asarray(partner.to_pylist(), dtype=str),
                            np.char.add("-R", rng.integers(0, 6, n).astype(str)),
                        )
                    ),
                    "closed_at": pa.array(
                        np.where(open_, 0, closed),
                        pa.timestamp("us", tz="UTC"),
                        mask=open_,
                    ),
                    "outcome": pa.array(outcome),
                }
            elif name == "interactions":
                answered = rng.random(n) < 0.85
                cols = {
                    "interaction_id": pa.array(
                        np.char.add("I", np.arange(first, first + n).astype(str))
                    ),
                    "partner_id": partner,
                    "occurred_at": stamp,
                    "direction": pa.array(
                        np.where(rng.random(n) < 0.7, "inbound", "outbound")
                    ),
                    "kind": pa.array(
                        np.array(["question", "consultation", "report", "other"])[
                            rng.integers(0, 4, n)
                        ]
                    ),
                    "responded_at": pa.array(
                        at + rng.integers(600, 5 * 86400, n) * 1_000_000,
                        pa.timestamp("us", tz="UTC"),
                        mask=~answered,
                    ),
                }
            else:
                cols = {"partner_id": partner, "viewed_at": stamp}
            table = pa.table(cols)
            if writer is None:
                writer = pq.ParquetWriter(out / f"{name}.parquet", table.schema)
            writer.write_table(table)
        if writer is not None:
            writer.close()


def _load_log(folder: Path, months: int):  # type: ignore[no-untyped-def]
    from ghost_model.dataset import Dataset, DatasetConfig

    tables: dict[str, pd.DataFrame] = {}
    for name in ("deals", "interactions", "portal_views"):
        frame = pd.read_parquet(folder / f"{name}.parquet")
        for column in frame.columns:
            if isinstance(frame[column].dtype, pd.DatetimeTZDtype):
                frame[column] = frame[column].astype(TS)
            else:
                frame[column] = frame[column].astype("str")
        tables[name] = frame
    end = pd.Timestamp("2022-04-01", tz=ZONE) + pd.DateOffset(months=months)
    config = DatasetConfig(
        timezone=ZONE, extract_time=end.tz_convert("UTC"), name="log"
    )
    return Dataset(tables=tables, config=config, source=str(folder))


# ---------------------------------------------------------------- baseline


def pandas_loop(dataset, cutoffs: list[pd.Timestamp]) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    """A few of the same features, one cutoff at a time, the straightforward way."""
    deals = dataset.tables["deals"]
    questions = None
    if "interactions" in dataset.tables:
        inter = dataset.tables["interactions"]
        questions = inter[
            (inter["direction"] == "inbound") & (inter["kind"] == "question")
        ]
    views = dataset.tables.get("portal_views")
    window = pd.Timedelta(days=90)
    rows = []
    for t in cutoffs:
        before = deals[deals["registered_at"] < t]
        recent = before[before["registered_at"] >= t - pd.Timedelta(days=180)]
        population = pd.Index(recent["partner_id"].unique())
        frame = pd.DataFrame(index=population)
        frame["as_of"] = t
        in90 = before[before["registered_at"] >= t - window]
        frame["deals_90d"] = (
            in90.groupby("partner_id").size().reindex(population, fill_value=0)
        )
        last = before.groupby("partner_id")["registered_at"].max().reindex(population)
        frame["days_since_last_deal"] = (t - last).dt.days
        if questions is not None:
            q = questions[
                (questions["occurred_at"] < t)
                & (questions["occurred_at"] >= t - window)
            ]
            frame["inbound_questions_90d"] = (
                q.groupby("partner_id").size().reindex(population, fill_value=0)
            )
        if views is not None:
            v = views[(views["viewed_at"] < t) & (views["viewed_at"] >= t - window)]
            frame["portal_views_90d"] = (
                v.groupby("partner_id").size().reindex(population, fill_value=0)
            )
        future = deals[
            (deals["registered_at"] >= t) & (deals["registered_at"] < t + window)
        ]
        frame["label"] = (~population.isin(future["partner_id"].unique())).astype(int)
        rows.append(frame)
    return pd.concat(rows).rename_axis("partner_id").reset_index()


# ---------------------------------------------------------------- measuring


def _measure(workload: str, args: argparse.Namespace) -> dict[str, object]:
    from ghost_model.features import build_feature_table, monthly_cutoffs

    started = time.perf_counter()
    if workload == "sim":
        dataset = _simulated(args.partners, args.months)
    else:
        with tempfile.TemporaryDirectory(prefix="ghost-bench-") as tmp:
            _write_log(Path(tmp), args.events, args.partners, args.months, seed=3)
            dataset = _load_log(Path(tmp), args.months)
    prepared_s = time.perf_counter() - started
    events = sum(len(f) for f in dataset.tables.values())
    loaded = _frame_gib(dataset.tables)
    cutoffs = monthly_cutoffs(dataset)

    # warm the compiled-query cache so that compile time is reported apart
    compile_started = time.perf_counter()
    build_feature_table(dataset, cutoffs[-1:])
    compile_s = time.perf_counter() - compile_started

    rss_before = _rss_gib()
    peak_reset = _reset_peak()
    t0, c0 = time.perf_counter(), time.process_time()
    table = build_feature_table(dataset, cutoffs)
    ours_s, ours_cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = _peak_gib()

    t0, c0 = time.perf_counter(), time.process_time()
    baseline = pandas_loop(dataset, cutoffs)
    loop_s, loop_cpu = time.perf_counter() - t0, time.process_time() - c0
    merged = baseline.merge(
        table.frame[["partner_id", "as_of", "deals_90d", "label"]],
        on=["partner_id", "as_of"],
        suffixes=("_loop", ""),
    )
    # the loop does not drop terminated partners, so compare the rows both have
    agree = bool(
        len(merged) > 0 and (merged["deals_90d_loop"] == merged["deals_90d"]).all()
    )
    cores = os.cpu_count() or 1
    return {
        "workload": workload,
        "events": events,
        "partners": int(dataset.tables["deals"]["partner_id"].nunique()),
        "cutoffs": len(cutoffs),
        "rows": len(table.frame),
        "features": len(table.feature_names),
        "features_per_cpu_s_duckdb": round(len(table.feature_names) / ours_cpu, 2),
        "setup_s": round(prepared_s, 1),
        "first_call_incl_compile_s": round(compile_s, 2),
        "duckdb_s": round(ours_s, 2),
        "duckdb_cpu_s": round(ours_cpu, 2),
        "events_per_s_per_core": round(events / ours_s / cores),
        "events_per_cpu_s": round(events / ours_cpu),
        "loaded_gib": round(loaded, 3),
        "rss_before_build_gib": round(rss_before, 3),
        "peak_rss_gib": round(peak, 3),
        "peak_reset": peak_reset,
        "peak_over_loaded": round(peak / loaded, 2) if loaded else None,
        "pandas_loop_s": round(loop_s, 2),
        "pandas_loop_cpu_s": round(loop_cpu, 2),
        "ratio_loop_over_duckdb": round(loop_s / ours_s, 1),
        "ratio_cpu": round(loop_cpu / ours_cpu, 1),
        "load_avg": os.getloadavg()[0],
        "deals_90d_agree": agree,
        "cores": cores,
    }


def _print(result: dict[str, object]) -> None:
    r = result
    print(
        f"[{r['workload']}] {r['events']:,} events, {r['partners']:,} partners, "
        f"{r['cutoffs']} cutoffs -> {r['rows']:,} rows x {r['features']} features\n"
        f"  duckdb build        {r['duckdb_s']} s wall, {r['duckdb_cpu_s']} s CPU "
        f"({r['events_per_s_per_core']:,} events/s/core wall on {r['cores']} cores, "
        f"{r['events_per_cpu_s']:,} events per CPU second; first call incl. compile "
        f"{r['first_call_incl_compile_s']} s; load average {r['load_avg']})\n"
        f"  peak RSS            {r['peak_rss_gib']} GiB (loaded tables "
        f"{r['loaded_gib']} GiB, ratio {r['peak_over_loaded']}; RSS before build "
        f"{r['rss_before_build_gib']} GiB)\n"
        f"  pandas loop (5 features) {r['pandas_loop_s']} s wall, "
        f"{r['pandas_loop_cpu_s']} s CPU\n"
        f"  ratio loop / duckdb {r['ratio_loop_over_duckdb']}x wall, "
        f"{r['ratio_cpu']}x CPU   "
        f"(deals_90d agree: {r['deals_90d_agree']})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partners", type=int, default=20_000)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--events", type=int, default=30_000_000)
    parser.add_argument("--only", choices=("sim", "log"))
    parser.add_argument("--child", choices=("sim", "log"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_measure(args.child, args)))
        return 0
    for workload in [args.only] if args.only else ["sim", "log"]:
        command = [sys.executable, __file__, "--child", workload]
        command += ["--partners", str(args.partners), "--months", str(args.months)]
        command += ["--events", str(args.events)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(done.stderr[-3000:], file=sys.stderr)
            return done.returncode
        _print(json.loads(done.stdout.strip().splitlines()[-1]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
