"""Cost of the whole job on the full Online Retail II (about a million invoice lines).

Two programs run one after the other, each in a fresh Python process so that its
peak resident memory is its own (``os.wait4`` reports it per child):

* baseline: the bare minimum any tool must do with this export — read both invoice
  files with pandas, drop the overlap, credit notes and guest rows, and fold the
  lines into invoices (first customer, first time, summed amount);
* job: ``python -m pipelines.real_demo --only online-retail-ii`` — mapping,
  validation, features, rolling backtest with baselines, final fit, MLflow logging and
  registration, scores and reports in two languages, figures — into a temporary
  folder (``docs/`` is not touched).

Prints wall time and peak memory of both, the ratio job / baseline and the machine's
load, and keeps them in ``var/real/bench_real.json`` for the results page. Skips with
a message when ``../shared/data/online-retail-ii`` is absent.

    python benchmarks/bench_real.py [--data-root DIR] [--folds N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA_ROOT = ROOT.parent / "shared" / "data"
DATASET = "online-retail-ii"

BASELINE = """
import sys
import pandas as pd

folder = sys.argv[1]
first = pd.read_parquet(f"{folder}/online_retail_II_2009-2010.parquet")
second = pd.read_parquet(f"{folder}/online_retail_2010-2011.parquet").rename(
    columns={"InvoiceNo": "Invoice", "CustomerID": "Customer ID", "UnitPrice": "Price"}
)
second = second[pd.to_datetime(second["InvoiceDate"]) >= "2010-12-10"]
lines = pd.concat([first, second], ignore_index=True)
lines = lines[lines["Customer ID"].notna() & ~lines["Invoice"].str.startswith("C")]
lines = lines.assign(
    at=pd.to_datetime(lines["InvoiceDate"]), amount=lines["Quantity"] * lines["Price"]
)
invoices = lines.groupby("Invoice").agg(
    customer=("Customer ID", "first"), at=("at", "min"), amount=("amount", "sum")
)
print(f"{len(lines)} lines -> {len(invoices)} invoices")
"""


def measure(command: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """Wall seconds, peak resident MB and exit status of one child process."""
    started = time.perf_counter()
    child = subprocess.Popen(command, cwd=ROOT, env=env)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - started, usage.ru_maxrss / 1024.0, child.returncode


def main() -> int:
    """Run the baseline and the job; print their cost and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=DATA_ROOT)
    parser.add_argument("--folds", type=int, default=6)
    args = parser.parse_args()
    folder = args.data_root / DATASET
    if not folder.is_dir():
        print(f"bench_real: skipped: {folder} not found")
        return 0

    with tempfile.TemporaryDirectory(prefix="bench-real-") as tmp:
        env = dict(os.environ, GHOST_HOME=tmp, MPLBACKEND="Agg")
        env.pop("MLFLOW_TRACKING_URI", None)
        base = measure([sys.executable, "-c", BASELINE, str(folder)], env)
        job_command = [
            sys.executable,
            "-m",
            "pipelines.real_demo",
            "--only",
            DATASET,
            "--data-root",
            str(args.data_root),
            "--out-dir",
            tmp,
            "--no-docs",
            "--folds",
            str(args.folds),
        ]
        job = measure(job_command, env)
    if base[2] != 0 or job[2] != 0:
        print(f"bench_real: failed (baseline exit {base[2]}, job exit {job[2]})")
        return 1

    load = os.getloadavg()[1]
    result = {
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "load_average_5min": round(load, 1),
        "folds": args.folds,
        "baseline_seconds": round(base[0], 1),
        "baseline_peak_mb": round(base[1]),
        "job_seconds": round(job[0], 1),
        "job_peak_mb": round(job[1]),
    }
    path = ROOT / "var" / "real" / "bench_real.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(f"baseline (pandas read + aggregate): {base[0]:7.1f} s  {base[1]:7.0f} MB")
    print(f"whole job on {DATASET}:      {job[0]:7.1f} s  {job[1]:7.0f} MB")
    print(
        f"ratio job / baseline: wall time {job[0] / base[0]:.1f}x, "
        f"peak memory {job[1] / base[1]:.1f}x  ({os.cpu_count()} CPUs, load "
        f"average {load:.1f} over the last 5 minutes)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
