"""Benchmark: the monthly feature table on DuckDB against a pandas loop over cutoffs.

Two workloads, each measured in its own child process so that peak memory (VmHWM,
reset after loading) belongs to the build alone:

* ``sim``: the simulated ecosystem (default 20,000 partners x 36 months);
* ``log``: a synthetic event log of N events (deals 10 %, interactions 30 %,
  portal views 60 %), generated directly as Parquet in chunks and loaded.

For each: wall time of ``build_feature_table`` over all monthly cutoffs, events per
second per core, peak RSS against the size of the loaded tables, the load average
before and after, and the same measurements for a straightforward pandas
implementation that loops over cutoffs and computes a handful of the same features
(deals, questions and views over 90 days, days since the last deal, the label),
and the pipeline building only those features (``build_feature_table(...,
features=...)``, same definitions, values equal to the whole table's). Ratios =
pandas loop time / DuckDB time, for the whole table and for the same features.
Last, the cost of a build for one partner at one cutoff (what the scoring service
does per request).

Usage::

    python benchmarks/bench_features.py                       # sim 20,000 + log 3e7
    python benchmarks/bench_features.py --only log --events 100000000   # 10^8
    python benchmarks/bench_features.py --only sim --partners 5000
    python benchmarks/bench_features.py --only log --events 100000000 --loop-cutoffs 6
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
import pyarrow.compute as pc
import pyarrow.parquet as pq

TS = "datetime64[us, UTC]"
ZONE = "Asia/Tokyo"
LOOP_FEATURES = [
    "deals_90d",
    "days_since_last_deal",
    "inbound_questions_90d",
    "portal_views_90d",
]
"""The loop's features (with the label): the pipeline builds them alone as well."""


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


def _ids(prefix: str, first: int, n: int) -> pa.Array:
    numbers = pa.array(np.arange(first, first + n)).cast(pa.string())
    return pc.binary_join_element_wise(prefix, numbers, "")


def _write_log(out: Path, events: int, partners: int, months: int, seed: int) -> None:
    """Write a synthetic log of ``events`` rows as Parquet, chunk by chunk.

    Every column is made with NumPy and Arrow compute, one chunk of at most 5 million
    rows at a time, so memory stays bounded by the chunk whatever ``events`` is.
    """
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2022-04-01", tz=ZONE).tz_convert("UTC").value // 1000
    span_us = int(months * 30.4375 * 86400 * 1e6)
    shares = {"deals": 0.1, "interactions": 0.3, "portal_views": 0.6}
    chunk = 5_000_000
    pids = pa.array([f"P{i:05d}" for i in range(partners)], pa.string())
    reps = pa.array([f"-R{i}" for i in range(6)], pa.string())
    kinds = pa.array(["question", "consultation", "report", "other"], pa.string())
    directions = pa.array(["inbound", "outbound"], pa.string())
    outcomes = pa.array(["won", "lost", "open"], pa.string())
    for name, share in shares.items():
        total = int(events * share)
        writer = None
        for first in range(0, total, chunk):
            n = min(chunk, total - first)
            partner = pids.take(pa.array(rng.integers(0, partners, n)))
            at = start + rng.integers(0, span_us, n)
            stamp = pa.array(at, pa.timestamp("us", tz="UTC"))
            if name == "deals":
                closed = at + rng.integers(1, 120, n) * 86_400_000_000
                open_ = (rng.random(n) < 0.15) | (closed >= start + span_us)
                outcome = np.where(open_, 2, (rng.random(n) >= 0.4).astype(np.int64))
                rep = reps.take(pa.array(rng.integers(0, 6, n)))
                cols = {
                    "deal_id": _ids("D", first, n),
                    "partner_id": partner,
                    "registered_at": stamp,
                    "rep_id": pc.binary_join_element_wise(partner, rep, ""),
                    "closed_at": pa.array(
                        np.where(open_, 0, closed),
                        pa.timestamp("us", tz="UTC"),
                        mask=open_,
                    ),
                    "outcome": outcomes.take(pa.array(outcome)),
                }
            elif name == "interactions":
                answered = rng.random(n) < 0.85
                inbound = (rng.random(n) >= 0.7).astype(np.int64)
                cols = {
                    "interaction_id": _ids("I", first, n),
                    "partner_id": partner,
                    "occurred_at": stamp,
                    "direction": directions.take(pa.array(inbound)),
                    "kind": kinds.take(pa.array(rng.integers(0, 4, n))),
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
            del table, cols
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
    """A few of the same features, one cutoff at a time, the straightforward way.

    Only the two columns each count needs are kept, and each cutoff filters them
    with boolean masks, so memory stays near one copy of those columns.
    """
    deals = dataset.tables["deals"][["partner_id", "registered_at"]]
    questions = None
    if "interactions" in dataset.tables:
        inter = dataset.tables["interactions"]
        asked = (inter["direction"] == "inbound") & (inter["kind"] == "question")
        questions = inter.loc[asked, ["partner_id", "occurred_at"]]
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
        del before, recent, in90
        if questions is not None:
            at = questions["occurred_at"]
            q = questions.loc[(at < t) & (at >= t - window), "partner_id"]
            frame["inbound_questions_90d"] = q.value_counts().reindex(
                population, fill_value=0
            )
        if views is not None:
            at = views["viewed_at"]
            v = views.loc[(at < t) & (at >= t - window), "partner_id"]
            frame["portal_views_90d"] = v.value_counts().reindex(
                population, fill_value=0
            )
        reg = deals["registered_at"]
        future = deals.loc[(reg >= t) & (reg < t + window), "partner_id"]
        frame["label"] = (~population.isin(future.unique())).astype(int)
        rows.append(frame)
    return pd.concat(rows).rename_axis("partner_id").reset_index()


# ---------------------------------------------------------------- measuring


def table_features(dataset) -> set[str]:  # type: ignore[no-untyped-def]
    """Catalogue names whose tables the dataset holds."""
    from ghost_model.features import load_catalogue

    return {
        name
        for name, spec in load_catalogue().items()
        if all(dataset.has(t) for t in spec.tables)
    }


def _load() -> str:
    """The 1, 5 and 15 minute load averages, as ``uptime`` prints them."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _one_partner(dataset, cutoff: pd.Timestamp, repeat: int = 10) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """Wall and CPU of a build for one partner at one cutoff (the online path)."""
    from ghost_model.dataset import Dataset
    from ghost_model.features import build_feature_table

    partner = dataset.tables["deals"]["partner_id"].iloc[0]
    tables = {
        name: frame[frame["partner_id"] == partner] if "partner_id" in frame else frame
        for name, frame in dataset.tables.items()
    }
    one = Dataset(tables=tables, config=dataset.config, source="one partner")
    build_feature_table(one, [cutoff])
    walls, cpus = [], []
    load = _load()
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        build_feature_table(one, [cutoff])
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return {
        "one_wall_s": round(float(np.median(walls)), 3),
        "one_cpu_s": round(float(np.median(cpus)), 3),
        "one_load": load,
    }


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
    subset = [n for n in LOOP_FEATURES if n in table_features(dataset)]
    build_feature_table(dataset, cutoffs[-1:], features=subset)
    one = _one_partner(dataset, cutoffs[-1])

    rss_before = _rss_gib()
    peak_reset = _reset_peak()
    load_before = _load()
    t0, c0 = time.perf_counter(), time.process_time()
    table = build_feature_table(dataset, cutoffs)
    ours_s, ours_cpu = time.perf_counter() - t0, time.process_time() - c0
    load_after = _load()
    peak = _peak_gib()
    ours = table.frame[["partner_id", "as_of", *subset, "label"]]
    rows, features = len(table.frame), len(table.feature_names)
    del table

    _reset_peak()
    sub_load_before = _load()
    t0, c0 = time.perf_counter(), time.process_time()
    lean = build_feature_table(dataset, cutoffs, features=subset).frame
    sub_s, sub_cpu = time.perf_counter() - t0, time.process_time() - c0
    sub_load_after = _load()
    sub_peak = _peak_gib()
    same = lean.equals(ours[list(lean.columns)])
    del lean

    loop_cutoffs = cutoffs[-args.loop_cutoffs :] if args.loop_cutoffs else cutoffs
    _reset_peak()
    loop_load_before = _load()
    t0, c0 = time.perf_counter(), time.process_time()
    baseline = pandas_loop(dataset, loop_cutoffs)
    loop_s, loop_cpu = time.perf_counter() - t0, time.process_time() - c0
    loop_load_after = _load()
    loop_peak = _peak_gib()
    merged = baseline.merge(ours, on=["partner_id", "as_of"], suffixes=("_loop", ""))
    # the loop does not drop terminated partners, so compare the rows both have
    agree = bool(
        len(merged) > 0 and (merged["deals_90d_loop"] == merged["deals_90d"]).all()
    )
    share = len(loop_cutoffs) / len(cutoffs)
    cores = os.cpu_count() or 1
    return {
        "workload": workload,
        "events": events,
        "partners": int(dataset.tables["deals"]["partner_id"].nunique()),
        "cutoffs": len(cutoffs),
        "loop_cutoffs": len(loop_cutoffs),
        "rows": rows,
        "features": features,
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
        "pandas_loop_peak_gib": round(loop_peak, 3),
        "ratio_loop_over_duckdb": round(loop_s / share / ours_s, 2),
        "ratio_cpu": round(loop_cpu / share / ours_cpu, 2),
        "subset": len(subset),
        "subset_s": round(sub_s, 2),
        "subset_cpu_s": round(sub_cpu, 2),
        "subset_peak_gib": round(sub_peak, 3),
        "subset_same_values": same,
        "ratio_loop_over_subset": round(loop_s / share / sub_s, 2),
        "ratio_cpu_subset": round(loop_cpu / share / sub_cpu, 2),
        "load_subset": f"{sub_load_before} -> {sub_load_after}",
        "load_duckdb": f"{load_before} -> {load_after}",
        "load_loop": f"{loop_load_before} -> {loop_load_after}",
        "deals_90d_agree": agree,
        "cores": cores,
        **one,
    }


def _print(result: dict[str, object]) -> None:
    r = result
    part = (
        f"all {r['cutoffs']} cutoffs"
        if r["loop_cutoffs"] == r["cutoffs"]
        else f"the last {r['loop_cutoffs']} of {r['cutoffs']} cutoffs; the ratio "
        "scales the loop time by that share"
    )
    print(
        f"[{r['workload']}] {r['events']:,} events, {r['partners']:,} partners, "
        f"{r['cutoffs']} cutoffs -> {r['rows']:,} rows x {r['features']} features\n"
        f"  duckdb build        {r['duckdb_s']} s wall, {r['duckdb_cpu_s']} s CPU "
        f"({r['events_per_s_per_core']:,} events/s/core wall on {r['cores']} cores, "
        f"{r['events_per_cpu_s']:,} events per CPU second; first call incl. compile "
        f"{r['first_call_incl_compile_s']} s)   load average {r['load_duckdb']}\n"
        f"  peak RSS            {r['peak_rss_gib']} GiB (loaded tables "
        f"{r['loaded_gib']} GiB, ratio {r['peak_over_loaded']}; RSS before build "
        f"{r['rss_before_build_gib']} GiB)\n"
        f"  pandas loop (5 features, {part}) {r['pandas_loop_s']} s wall, "
        f"{r['pandas_loop_cpu_s']} s CPU, peak RSS {r['pandas_loop_peak_gib']} GiB"
        f"   load average {r['load_loop']}\n"
        f"  same {r['subset']} features + label on duckdb (features=...) "
        f"{r['subset_s']} s wall, {r['subset_cpu_s']} s CPU, peak RSS "
        f"{r['subset_peak_gib']} GiB (values equal the whole table's: "
        f"{r['subset_same_values']})   load average {r['load_subset']}\n"
        f"  ratio loop / whole table {r['ratio_loop_over_duckdb']}x wall, "
        f"{r['ratio_cpu']}x CPU; loop / same features "
        f"{r['ratio_loop_over_subset']}x wall, {r['ratio_cpu_subset']}x CPU   "
        f"(deals_90d agree: {r['deals_90d_agree']})\n"
        f"  one partner, one cutoff: {r['one_wall_s']} s wall, {r['one_cpu_s']} s CPU "
        f"(median of 10)   load average {r['one_load']}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partners", type=int, default=20_000)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--events", type=int, default=30_000_000)
    parser.add_argument("--only", choices=("sim", "log"))
    parser.add_argument(
        "--loop-cutoffs",
        type=int,
        default=0,
        help="run the pandas loop on the last N cutoffs only (0: all)",
    )
    parser.add_argument("--child", choices=("sim", "log"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_measure(args.child, args)))
        return 0
    for workload in [args.only] if args.only else ["sim", "log"]:
        command = [sys.executable, __file__, "--child", workload]
        command += ["--partners", str(args.partners), "--months", str(args.months)]
        command += ["--events", str(args.events)]
        command += ["--loop-cutoffs", str(args.loop_cutoffs)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(done.stderr[-3000:], file=sys.stderr)
            return done.returncode
        _print(json.loads(done.stdout.strip().splitlines()[-1]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
