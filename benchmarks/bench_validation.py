"""Benchmark: loading and validating a large dataset against reading its files alone.

Writes a synthetic deals table (N rows) and a portal-views table (N rows) as Parquet
and as CSV, then times ``load_dataset`` on each folder. The baseline, measured in the
same run, is reading the same files without any checks (``pd.read_parquet`` /
``pd.read_csv`` as text); ratio = load_dataset time / plain read time. It also times
the pandera schema alone on the converted deals, to show its share.

Usage::

    python benchmarks/bench_validation.py              # 5,000,000 rows per table
    python benchmarks/bench_validation.py --rows 1000000
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ghost_model.contract import TABLES
from ghost_model.dataset import DatasetConfig
from ghost_model.loaders import load_dataset
from ghost_model.validation.coerce import coerce_table
from ghost_model.validation.rules import find_violations

ZONE = "Asia/Tokyo"
YAML = "timezone: Asia/Tokyo\nextract_time: 2026-01-01T00:00:00\n"


def make_tables(rows: int, seed: int = 3) -> dict[str, pd.DataFrame]:
    """A deals table and a portal-views table of ``rows`` rows each (naive JST)."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2022-04-01")
    seconds = rng.integers(0, 3 * 365 * 86_400, rows)
    registered = start + pd.to_timedelta(seconds, unit="s")
    closed = registered + pd.to_timedelta(rng.integers(0, 90 * 86_400, rows), unit="s")
    partners = rng.integers(0, 20_000, rows)
    reps = rng.integers(0, 100_000, rows)
    deals = pd.DataFrame(
        {
            "deal_id": pd.Series(np.arange(rows)).map("D{:09d}".format),
            "partner_id": pd.Series(partners).map("P{:05d}".format),
            "registered_at": registered,
            "rep_id": pd.Series(reps).map("R{:06d}".format),
            "closed_at": pd.Series(closed).where(rng.random(rows) < 0.7),
            "outcome": rng.choice(["won", "lost", "open"], rows),
            "amount": np.round(rng.random(rows) * 1e6, 0),
            "product": rng.choice(["Suite", "Lite", "Cloud"], rows),
        }
    )
    views = pd.DataFrame(
        {
            "partner_id": deals["partner_id"],
            "viewed_at": start + pd.to_timedelta(rng.integers(0, 9e7, rows), unit="s"),
            "rep_id": deals["rep_id"],
            "asset": rng.choice(["price-list", "case-study", "deck"], rows),
        }
    )
    return {"deals": deals, "portal_views": views}


def write(tables: dict[str, pd.DataFrame], folder: Path, fmt: str) -> None:
    folder.mkdir(parents=True)
    (folder / "dataset.yaml").write_text(YAML, encoding="utf-8")
    for name, frame in tables.items():
        if fmt == "parquet":
            frame.to_parquet(folder / f"{name}.parquet", index=False)
        else:
            frame.to_csv(
                folder / f"{name}.csv", index=False, date_format="%Y-%m-%d %H:%M:%S"
            )


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def plain_read(folder: Path, fmt: str) -> None:
    for name in ("deals", "portal_views"):
        if fmt == "parquet":
            pd.read_parquet(folder / f"{name}.parquet")
        else:
            pd.read_csv(folder / f"{name}.csv", dtype="str", engine="pyarrow")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=5_000_000, help="rows per table")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    tables = make_tables(args.rows)
    total = 2 * args.rows
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in ("parquet", "csv"):
            folder = Path(tmp) / fmt
            write(tables, folder, fmt)
            base, _ = timed(lambda f=folder, k=fmt: plain_read(f, k))
            took, dataset = timed(lambda f=folder: load_dataset(f))
            assert dataset.row_counts["deals"]["accepted"] == args.rows
            print(
                f"{fmt:8s} load_dataset {total:,} rows: {took:6.1f} s "
                f"({total / took / 1e6:.2f} M rows/s); plain read {base:5.1f} s; "
                f"ratio {took / base:.1f}x"
            )

    config = DatasetConfig(
        timezone=ZONE,
        extract_time=pd.Timestamp("2026-01-01", tz=ZONE).tz_convert("UTC"),
    )
    frame, failures = coerce_table(tables["deals"], TABLES["deals"], ZONE)
    schema_time, _ = timed(
        lambda: find_violations(frame, TABLES["deals"], config.extract_time, failures)
    )
    print(f"pandera schema alone on {args.rows:,} deals: {schema_time:.1f} s")


if __name__ == "__main__":
    main()
