"""Instants read from a dataset's configuration and cutoffs around clock changes."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from ghost_model.dataset import DatasetConfig, cutoff_instant
from ghost_model.errors import DataContractError

ZONE = "America/New_York"


def test_read_extract_time_in_dst_gap_raises_contract_error() -> None:
    """Check that a naive extract_time skipped by the clocks names the gap."""
    raw = {"timezone": ZONE, "extract_time": "2024-03-10 02:30"}
    with pytest.raises(
        DataContractError,
        match=r"dataset\.yaml: extract_time '2024-03-10 02:30' is not a local time "
        r"in America/New_York \(it falls in a daylight-saving gap",
    ):
        DatasetConfig.from_mapping(raw, "data/dataset.yaml")


def test_read_extract_time_in_repeated_hour_uses_first_occurrence() -> None:
    """Check that a naive extract_time repeated when clocks go back is its first."""
    raw = {"timezone": ZONE, "extract_time": "2024-11-03 01:30"}
    config = DatasetConfig.from_mapping(raw, "data/dataset.yaml")
    assert config.extract_time == pd.Timestamp("2024-11-03 05:30", tz="UTC")


def test_compute_cutoff_midnight_in_dst_gap_starts_after_gap() -> None:
    """Check that a day whose midnight is skipped starts at the first local time."""
    cutoff = cutoff_instant("2022-09-11", "America/Santiago")
    assert cutoff == pd.Timestamp("2022-09-11 04:00", tz="UTC")
    local = cutoff.tz_convert("America/Santiago")
    assert (local.hour, local.minute) == (1, 0)


def test_compute_cutoff_on_fall_back_day_is_local_midnight() -> None:
    """Check that the cutoff of a fall-back day is its local midnight."""
    cutoff = cutoff_instant("2024-11-03", ZONE)
    assert cutoff == pd.Timestamp("2024-11-03 04:00", tz="UTC")


@pytest.mark.parametrize(
    "name", ["localtime", "Factory", "posix/Factory", "posixrules", "right/UTC"]
)
def test_refuse_timezone_that_is_not_a_place(name: str) -> None:
    """Check that zone-database names that are no place's time are refused."""
    raw = {"timezone": name, "extract_time": "2024-03-01"}
    with pytest.raises(
        DataContractError,
        match=rf"dataset\.yaml: timezone '{name}' is not an IANA time zone name .* "
        r"is not the time of a place",
    ):
        DatasetConfig.from_mapping(raw, "data/dataset.yaml")


@pytest.mark.parametrize("name", ["Asia/Tokyo", "UTC", "Etc/GMT-9", "Japan"])
def test_accept_timezone_of_a_place(name: str) -> None:
    """Check that ordinary zone names, links included, are accepted."""
    raw = {"timezone": name, "extract_time": "2024-03-01"}
    assert DatasetConfig.from_mapping(raw, "data/dataset.yaml").timezone == name


@pytest.mark.parametrize("name", ["Asia", "Etc", "America/Argentina"])
def test_refuse_timezone_that_is_a_folder(name: str) -> None:
    """Check that a folder of the zone database is refused as not a zone."""
    raw = {"timezone": name, "extract_time": "2024-03-01"}
    with pytest.raises(
        DataContractError,
        match=rf"dataset\.yaml: timezone '{name}' is not an IANA time zone name",
    ):
        DatasetConfig.from_mapping(raw, "data/dataset.yaml")


NUMBER = "a number is not read as a time"
CLOCK = "the machine's clock is not a time"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        *((v, NUMBER) for v in (20240331, 1711897200, 1.5, True)),
        *((v, CLOCK) for v in ("now", "today", " Today ")),
    ],
)
def test_read_extract_time_not_a_time_raises(value: object, reason: str) -> None:
    """Check that a YAML number (not nanoseconds since 1970) and 'now'/'today' (not
    the machine's clock) are refused as extract_time."""
    raw = {"timezone": ZONE, "extract_time": value}
    with pytest.raises(
        DataContractError,
        match=rf"data/dataset\.yaml: extract_time: expected a date or an ISO 8601 "
        rf"timestamp \(.*\), got {re.escape(repr(value))}; {re.escape(reason)}",
    ):
        DatasetConfig.from_mapping(raw, "data/dataset.yaml")


@pytest.mark.parametrize("value", ["0001-01-01", "1899-12-31T23:59:59Z"])
def test_read_extract_time_before_1900_raises(value: str) -> None:
    """Check that an extract time before the supported range is refused at once,
    instead of every row failing 'after the extract time' in a local-mean-time year."""
    raw = {"timezone": ZONE, "extract_time": value}
    with pytest.raises(DataContractError, match="is before 1900-01-01"):
        DatasetConfig.from_mapping(raw, "data/dataset.yaml")
