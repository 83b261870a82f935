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
    """Check that days equal numpy's cast, before 1970 too, and keep missing ones."""
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


def _day(date: str) -> int:
    return (pd.Timestamp(date) - pd.Timestamp("1970-01-01")).days


def test_local_days_where_clocks_change_at_midnight() -> None:
    """Check the day edges in Havana, whose clocks change at local midnight.

    On 2024-03-10 the clocks jump from 00:00 to 01:00 (05:00Z), so that day has no
    midnight; on 2024-11-03 they fall back from 01:00 to 00:00 (05:00Z), so the
    day's first hour happens twice.
    """
    stamps = pd.Series(
        pd.to_datetime(
            [
                "2024-03-10T04:59:59.999999Z",  # 23:59:59.999999 on 9 March
                "2024-03-10T05:00:00Z",  # 01:00 on 10 March, its first instant
                "2024-11-03T03:59:59.999999Z",  # 23:59:59.999999 on 2 November
                "2024-11-03T04:00:00Z",  # 00:00 on 3 November, summer time
                "2024-11-03T05:30:00Z",  # 00:30 on 3 November, the second time
            ],
            format="ISO8601",
        )
    ).astype("datetime64[us, UTC]")
    days = local_days(stamps, "America/Havana")
    assert days.tolist() == [
        _day("2024-03-09"),
        _day("2024-03-10"),
        _day("2024-11-02"),
        _day("2024-11-03"),
        _day("2024-11-03"),
    ]
