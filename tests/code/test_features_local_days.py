"""Local day numbers: the floor of the local wall time, in every zone and unit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ghost_model.features.cutoffs import local_days

ZONES = [
    "Asia/Tokyo",
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "UTC",
]
FIRST_US = -2_208_988_800_000_000  # 1900-01-01Z, the earliest instant a dataset holds
LAST_US = 4_000_000_000_000_000  # 2096


def _reference(stamps: pd.Series, zone: str) -> np.ndarray:
    """numpy's own cast of the local wall time to days (the slow, obvious way)."""
    local = stamps.dt.tz_convert(zone).dt.tz_localize(None)
    raw = local.to_numpy(dtype="datetime64[us]", na_value=np.datetime64("NaT"))
    return raw.astype("datetime64[D]").astype(np.int64)


@pytest.mark.parametrize("zone", ZONES)
def test_local_days_match_numpy_day_cast(zone: str) -> None:
    rng = np.random.default_rng(ZONES.index(zone))
    micros = rng.integers(FIRST_US, LAST_US, 50_000)
    stamps = pd.Series(pd.to_datetime(micros, unit="us", utc=True)).astype(
        "datetime64[us, UTC]"
    )
    stamps[::7] = pd.NaT
    got = local_days(stamps, zone)
    missing = stamps.isna().to_numpy()
    assert str(got.dtype) == "Int32"
    assert (got.isna().to_numpy() == missing).all()
    expected = _reference(stamps, zone)[~missing]
    assert (got[~missing].to_numpy("int64") == expected).all()
    # the same instants in nanoseconds, or in another zone, give the same days
    assert local_days(stamps.astype("datetime64[ns, UTC]"), zone).equals(got)
    assert local_days(stamps.dt.tz_convert("Asia/Kathmandu"), zone).equals(got)


def test_local_days_at_midnight_edges() -> None:
    """The last microsecond of a local day and the first of the next."""
    zone = "America/New_York"
    midnight = pd.Timestamp("2024-03-10", tz=zone)  # the morning clocks go forward
    stamps = pd.Series([midnight - pd.Timedelta(microseconds=1), midnight])
    days = local_days(stamps.dt.tz_convert("UTC"), zone)
    first = (midnight.tz_localize(None) - pd.Timestamp("1970-01-01")).days
    assert days.tolist() == [first - 1, first]
