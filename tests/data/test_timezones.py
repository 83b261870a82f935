"""Time zones: one instant written three ways loads as one UTC instant."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from ghost_model.dataset import DatasetConfig, cutoff_instant
from ghost_model.errors import DataContractError
from ghost_model.loaders import load_dataset, validate_tables

# One set of instants: a JST morning, JST midnight (the day before in UTC), a JST
# evening that is the next day in UTC, and a fractional second.
JST_NAIVE = [
    "2024-01-05 09:00:00",
    "2024-04-01 00:00:00",
    "2024-03-31 23:30:00",
    "2024-06-30T08:59:59.250",
]
JST_OFFSET = [
    "2024-01-05T09:00:00+09:00",
    "2024-04-01T00:00:00+09:00",
    "2024-03-31 23:30:00+0900",
    "2024-06-30T08:59:59.250+09:00",
]
UTC_TEXT = [
    "2024-01-05T00:00:00Z",
    "2024-03-31T15:00:00Z",
    "2024-03-31 14:30:00+00:00",
    "2024-06-29T23:59:59.250Z",
]
EXPECTED = pd.Series(
    pd.to_datetime(
        [
            "2024-01-05T00:00:00Z",
            "2024-03-31T15:00:00Z",
            "2024-03-31T14:30:00Z",
            "2024-06-29T23:59:59.250Z",
        ],
        format="ISO8601",
    ),
    name="registered_at",
).astype("datetime64[us, UTC]")


def write_deals(folder: Path, stamps: list[str], timezone: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "dataset.yaml").write_text(
        f"timezone: {timezone}\nextract_time: 2024-06-30T23:59:59+09:00\n",
        encoding="utf-8",
    )
    rows = [f"D{i},P1,{stamp}" for i, stamp in enumerate(stamps)]
    (folder / "deals.csv").write_text(
        "\n".join(["deal_id,partner_id,registered_at", *rows]) + "\n", encoding="utf-8"
    )
    return folder


@pytest.mark.parametrize(
    ("stamps", "timezone"),
    [
        (JST_NAIVE, "Asia/Tokyo"),
        (JST_OFFSET, "Asia/Tokyo"),
        (JST_OFFSET, "UTC"),
        (UTC_TEXT, "UTC"),
        (UTC_TEXT, "Asia/Tokyo"),
    ],
    ids=["jst-naive", "jst-offset", "offset-in-utc-zone", "utc", "utc-in-jst-zone"],
)
def test_load_same_instants_three_spellings_equal(
    tmp_path: Path, stamps: list[str], timezone: str
) -> None:
    """Check that JST-naive, +09:00 and UTC spellings load as the same instants."""
    dataset = load_dataset(write_deals(tmp_path / "ds", stamps, timezone))

    loaded = dataset.table("deals")["registered_at"]
    pd.testing.assert_series_equal(loaded, EXPECTED)


BASIC_AND_HOUR_ONLY = [
    "2024-04-01T09+09:00",
    "20240401T003000Z",
    "2024-04-01T0030Z",
    "20240401T093000+0900",
]


@pytest.mark.parametrize(
    "stamps",
    [
        BASIC_AND_HOUR_ONLY,
        [*BASIC_AND_HOUR_ONLY, "2024-04-01T09:30:00+09:00"],
        [*BASIC_AND_HOUR_ONLY, "2024-04-01 09:30"],
    ],
    ids=["alone", "beside-extended-offset", "beside-naive"],
)
def test_load_basic_format_and_hour_only_offsets_read_as_instants(
    tmp_path: Path, stamps: list[str]
) -> None:
    """Check that ISO 8601 basic format (20240401T093000Z) and an hour with an offset
    (T09+09:00) are read in their offset, alone or beside other spellings."""
    dataset = load_dataset(write_deals(tmp_path / "ds", stamps, "Asia/Tokyo"))

    loaded = dataset.table("deals")["registered_at"].tolist()
    first = pd.Timestamp("2024-04-01T00:00:00Z")
    then = pd.Timestamp("2024-04-01T00:30:00Z")
    assert loaded == [first, *[then] * (len(stamps) - 1)]


def test_load_naive_parquet_timestamps_read_in_zone(tmp_path: Path) -> None:
    """Check that naive Parquet timestamps are read in the dataset's zone."""
    (tmp_path / "dataset.yaml").write_text(
        "timezone: Asia/Tokyo\nextract_time: 2024-06-30T23:59:59\n", encoding="utf-8"
    )
    pd.DataFrame(
        {
            "deal_id": ["D0", "D1", "D2", "D3"],
            "partner_id": "P1",
            "registered_at": pd.to_datetime(JST_NAIVE, format="ISO8601"),
        }
    ).to_parquet(tmp_path / "deals.parquet")

    loaded = load_dataset(tmp_path).table("deals")["registered_at"]

    pd.testing.assert_series_equal(loaded, EXPECTED)


def test_load_date_only_is_local_midnight(tmp_path: Path) -> None:
    """Check that a bare date is midnight at the start of that day in the zone."""
    dataset = load_dataset(write_deals(tmp_path / "ds", ["2024-04-01"], "Asia/Tokyo"))

    stamp = dataset.table("deals")["registered_at"].iloc[0]
    assert stamp == pd.Timestamp("2024-03-31T15:00:00Z")


def test_validate_skipped_local_time_raises() -> None:
    """Check that a local time skipped by DST is a violation naming the zone."""
    config = DatasetConfig(
        timezone="Europe/London",
        extract_time=pd.Timestamp("2024-12-31T00:00:00Z").as_unit("us"),
    )
    raw = {
        "deals": pd.DataFrame(
            {
                "deal_id": ["D1"],
                "partner_id": ["P1"],
                "registered_at": ["2024-03-31 01:30:00"],
            }
        )
    }

    with pytest.raises(
        DataContractError,
        match=r"value '2024-03-31 01:30:00': not a local time in Europe/London "
        r"\(skipped when the clocks went forward\)",
    ):
        validate_tables(raw, config)


def test_validate_repeated_local_time_reads_first(tmp_path: Path) -> None:
    """Check that a local time repeated when clocks go back is its first occurrence."""
    config = DatasetConfig(
        timezone="Europe/London",
        extract_time=pd.Timestamp("2024-12-31T00:00:00Z").as_unit("us"),
    )
    raw = {
        "deals": pd.DataFrame(
            {
                "deal_id": ["D1"],
                "partner_id": ["P1"],
                "registered_at": ["2024-10-27 01:30:00"],
            }
        )
    }

    deals = validate_tables(raw, config).table("deals")

    assert deals["registered_at"].iloc[0] == pd.Timestamp("2024-10-27T00:30:00Z")


def test_validate_extract_time_in_zone_bounds_events(tmp_path: Path) -> None:
    """Check that a naive extract time is read in the zone when bounding events."""
    folder = write_deals(tmp_path / "ds", ["2024-07-01 00:00:00"], "Asia/Tokyo")

    with pytest.raises(
        DataContractError,
        match=r"value '2024-07-01 00:00:00': after the extract time "
        r"2024-06-30T14:59:59\+00:00",
    ):
        load_dataset(folder)


@pytest.mark.parametrize(
    "offset", ["+009", "+0", "+9", "+09:0", "+2359", "+1500", "-15", "+09:60", "z"]
)
@pytest.mark.parametrize("beside", [[], ["2024-04-01 09:30"]], ids=["alone", "mixed"])
def test_load_malformed_offset_raises(
    tmp_path: Path, offset: str, beside: list[str]
) -> None:
    """Check that an offset other than Z, ±HH, ±HHMM or ±HH:MM (hours up to 14) is a
    violation, never read as some instant (+009 was read as +00:09)."""
    stamps = ["2024-04-01T09:30:00+09:00", f"2024-04-01T09:30:00{offset}", *beside]
    folder = write_deals(tmp_path / "ds", stamps, "Asia/Tokyo")

    with pytest.raises(
        DataContractError,
        match=rf"row 2 .*value '2024-04-01T09:30:00{re.escape(offset)}': a UTC offset "
        r"must be Z, ±HH, ±HHMM or ±HH:MM with hours up to 14 and minutes up to 59",
    ) as raised:
        load_dataset(folder)
    assert "row 1 " not in str(raised.value)


def test_load_extreme_wellformed_offsets_read_as_instants(tmp_path: Path) -> None:
    """Check that the widest real offsets (+14:00, -1200) and odd minutes (+0545)
    are read in their offset."""
    stamps = [
        "2024-04-01T14:00+14:00",
        "2024-03-31T12:00-1200",
        "2024-04-01T05:45+0545",
    ]

    dataset = load_dataset(write_deals(tmp_path / "ds", stamps, "UTC"))

    loaded = dataset.table("deals")["registered_at"].tolist()
    assert loaded == [pd.Timestamp("2024-04-01T00:00:00Z")] * 3


def _deals_at(
    zone: str, stamps: list[str]
) -> tuple[DatasetConfig, dict[str, pd.DataFrame]]:
    """A config in ``zone`` and one deal per registration instant as written."""
    config = DatasetConfig(
        timezone=zone,
        extract_time=pd.Timestamp("2024-12-31T00:00:00Z").as_unit("us"),
    )
    deals = pd.DataFrame(
        {
            "deal_id": [f"D{i}" for i in range(len(stamps))],
            "partner_id": "P1",
            "registered_at": stamps,
        }
    )
    return config, {"deals": deals}


@pytest.mark.parametrize("day", ["2023-09-03", "20230903", "2023/09/03"])
@pytest.mark.parametrize(
    "beside", [[], ["2024-01-05T10:00:00Z"]], ids=["alone", "mixed"]
)
def test_validate_date_on_skipped_midnight_starts_after_gap(
    day: str, beside: list[str]
) -> None:
    """Check that a bare date whose local midnight the clocks skip is the start of
    that day (01:00 in Santiago), as for cutoffs, not a violation."""
    config, raw = _deals_at("America/Santiago", [day, *beside])

    deals = validate_tables(raw, config).table("deals")

    expected = cutoff_instant("2023-09-03", "America/Santiago")
    assert deals["registered_at"].iloc[0] == expected
    assert expected == pd.Timestamp("2023-09-03T04:00:00Z")


@pytest.mark.parametrize(
    ("zone", "stamps", "message"),
    [
        (
            "America/Santiago",
            ["2023-09-03", "2023-09-03 00:00"],
            r"row 2, column 'registered_at', value '2023-09-03 00:00': not a local "
            r"time in America/Santiago",
        ),
        (
            "Pacific/Apia",
            ["2011-12-31", "2011-12-30"],
            r"row 2, column 'registered_at', value '2011-12-30': not a local time "
            r"in Pacific/Apia",
        ),
    ],
    ids=["time-in-gap", "day-skipped-whole"],
)
def test_validate_day_without_that_start_raises(
    zone: str, stamps: list[str], message: str
) -> None:
    """Check that a date with a time of day inside the gap (Santiago), and a day a
    zone's calendar skipped whole (Pacific/Apia, 2011-12-30), stay violations rather
    than becoming some other instant; the valid first row is not named."""
    config, raw = _deals_at(zone, stamps)

    with pytest.raises(DataContractError, match=message) as raised:
        validate_tables(raw, config)
    assert "row 1," not in str(raised.value)
