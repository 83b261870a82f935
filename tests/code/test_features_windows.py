"""Window sums by boundary buckets against counting every row for every window."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from ghost_model.features.definitions import _window_sums

SUMS = {
    "last_30": ("n", 0, 30),
    "last_90": ("n", 0, 90),
    "prev_90": ("n", 90, 180),
    "long": ("x", 0, 360),
    "next_90": ("n", -90, 0),
}


def _brute_force(rows: pd.DataFrame, cut_days: list[int]) -> pd.DataFrame:
    out = []
    for ci, day in enumerate(cut_days):
        for key, group in rows.groupby("partner_id"):
            sums = {
                name: group.loc[
                    (group["d"] >= day - hi) & (group["d"] < day - lo), col
                ].sum()
                for name, (col, lo, hi) in SUMS.items()
            }
            out.append({"partner_id": key, "ci": ci, **sums})
    return pd.DataFrame(out)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_window_sums_buckets_match_brute_force(seed: int) -> None:
    """Check that bucketed window sums equal a direct sum over every row."""
    rng = np.random.default_rng(seed)
    n = 400
    rows = pd.DataFrame(
        {
            "partner_id": rng.integers(0, 6, n).astype(np.int32),
            "d": rng.integers(-100, 900, n).astype(np.int32),
            "n": rng.integers(0, 3, n).astype(np.int64),
            "x": rng.random(n).round(3),
        }
    )
    # irregular cutoffs, some closer together than the shortest window
    cut_days = sorted({int(v) for v in rng.integers(0, 800, 9)} | {365, 366})
    cut = pd.DataFrame(
        {
            "ci": np.arange(len(cut_days), dtype=np.int32),
            "cut_day": np.asarray(cut_days, dtype=np.int32),
        }
    )
    con = ibis.duckdb.connect()
    rows_t = con.create_table("rows", pa.Table.from_pandas(rows, preserve_index=False))
    cut_t = con.create_table("cut", pa.Table.from_pandas(cut, preserve_index=False))

    got = con.execute(_window_sums(rows_t, cut_t, SUMS))
    want = _brute_force(rows, cut_days)

    merged = want.merge(got, on=["partner_id", "ci"], how="left", suffixes=("", "_g"))
    for name in SUMS:
        # a key without rows in any window at a cutoff has no row: all zero
        found = merged[f"{name}_g"].fillna(0)
        np.testing.assert_allclose(found, merged[name], rtol=0, atol=1e-9)
    assert len(got) == len(got.drop_duplicates(["partner_id", "ci"]))
