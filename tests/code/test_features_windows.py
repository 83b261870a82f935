"""Window sums and cutoff buckets against counting every row for every cutoff."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from ghost_model.features.definitions import _bucketed, _window_sums
from ghost_model.features.prepare import NO_DAY

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


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bucketed_days_go_to_first_cutoff_after_them(seed: int) -> None:
    """Check that each day row gets the first cutoff after it; the others drop out.

    Days lie before the first cutoff, on cutoff days, between them and after the
    last one; one draw has a single cutoff. Rows without a day and rows on or after
    the last cutoff day get no cutoff.
    """
    rng = np.random.default_rng(seed)
    count = 1 if seed == 2 else 8
    cut_days = sorted({int(v) for v in rng.integers(0, 800, count)})
    drawn = rng.integers(-400, 1200, 300)
    days = pd.array([*drawn, *cut_days, None, None], dtype="Int32")
    rows = pd.DataFrame({"partner_id": np.int32(1), "d": days, "n": range(len(days))})
    cut = pd.DataFrame(
        {
            "ci": np.arange(len(cut_days), dtype=np.int32),
            "cut_day": np.asarray(cut_days, dtype=np.int32),
            "cut_prev": np.asarray([NO_DAY, *cut_days[:-1]], dtype=np.int32),
        }
    )
    con = ibis.duckdb.connect()
    rows_t = con.create_table("rows", pa.Table.from_pandas(rows, preserve_index=False))
    cut_t = con.create_table("cut", pa.Table.from_pandas(cut, preserve_index=False))

    got = con.execute(_bucketed(rows_t, cut_t)).sort_values("n")
    known = days.to_numpy(dtype="int64", na_value=2**40)
    after = np.searchsorted(np.asarray(cut_days), known, side="right")
    kept = after < len(cut_days)
    assert got["n"].tolist() == rows["n"][kept].tolist()
    assert got["ci"].tolist() == after[kept].tolist()
    assert (got["d"].to_numpy() == known[kept]).all()
