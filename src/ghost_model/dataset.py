"""A loaded dataset: its validated tables, its time zone and its extract time.

``dataset.yaml`` beside the tables states at least::

    timezone: Asia/Tokyo               # IANA name, for naive timestamps and cutoffs
    extract_time: 2024-12-31T23:59:59+09:00   # events after this are invalid

and may carry a ``name`` and a column ``mapping`` for real exports.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from numbers import Number
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
import yaml

from ghost_model.contract import FIRST_SUPPORTED_INSTANT, TABLES
from ghost_model.errors import ConfigError, DataContractError

DATASET_FILE = "dataset.yaml"

CLOCK_WORD = r"(?i)^\s*(now|today)\s*$"
"""Words pandas reads as the machine's current time; no export means that."""
ISO_DATE_START = r"^\d{4}-\d{2}-\d{2}"
"""How a date written as text must start: year, month, day (``01/02/2023`` is
ambiguous, and pandas would read it month first)."""


@dataclass(frozen=True)
class DatasetConfig:
    """What ``dataset.yaml`` says about a dataset."""

    timezone: str
    extract_time: pd.Timestamp
    name: str = "dataset"
    mapping: dict[str, Any] | None = None

    @classmethod
    def from_file(cls, path: Path) -> DatasetConfig:
        """Read and check ``dataset.yaml``.

        Parameters
        ----------
        path
            The ``dataset.yaml`` file.

        Returns
        -------
        DatasetConfig
            The checked configuration; ``extract_time`` is in UTC.
        """
        if not path.is_file():
            raise DataContractError(
                f"{path}: missing; a dataset folder needs a {DATASET_FILE} stating "
                "'timezone' (an IANA name) and 'extract_time'"
            )
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise DataContractError(f"{path}: not valid YAML: {exc}") from exc
        if not isinstance(raw, dict):
            raise DataContractError(f"{path}: expected a mapping, got {raw!r}")
        return cls.from_mapping(raw, source=str(path))

    @classmethod
    def from_mapping(cls, raw: dict[str, Any], source: str) -> DatasetConfig:
        """Build a configuration from parsed YAML, naming ``source`` in errors."""
        for key in ("timezone", "extract_time"):
            if key not in raw or raw[key] in (None, ""):
                raise DataContractError(
                    f"{source}: key {key!r} is missing; add e.g. "
                    "'timezone: Asia/Tokyo' and 'extract_time: 2024-12-31T23:59:59'"
                )
        timezone = check_timezone(str(raw["timezone"]), source)
        extract_time = to_utc_instant(
            raw["extract_time"], timezone, f"{source}: extract_time"
        )
        if extract_time < pd.Timestamp(FIRST_SUPPORTED_INSTANT):
            raise DataContractError(
                f"{source}: extract_time {raw['extract_time']!r} is before "
                f"{FIRST_SUPPORTED_INSTANT.date().isoformat()}, the earliest "
                "supported instant: give the time the data was exported"
            )
        mapping = raw.get("mapping")
        if mapping is not None and not isinstance(mapping, dict):
            raise DataContractError(
                f"{source}: 'mapping' must be a mapping, got {mapping!r}"
            )
        return cls(
            timezone=timezone,
            extract_time=extract_time,
            name=str(raw.get("name", Path(source).parent.name or "dataset")),
            mapping=mapping,
        )

    def to_mapping(self) -> dict[str, Any]:
        """The configuration as it is written to ``dataset.yaml``."""
        out: dict[str, Any] = {
            "name": self.name,
            "timezone": self.timezone,
            "extract_time": self.extract_time.isoformat(),
        }
        if self.mapping is not None:
            out["mapping"] = self.mapping
        return out


@dataclass
class Dataset:
    """Validated contract tables with the dataset's time zone and extract time.

    Tables not present in the source are absent from ``tables`` (not empty frames),
    so that a stage without data can be told apart from a stage with no events.
    """

    tables: dict[str, pd.DataFrame]
    config: DatasetConfig
    source: str = ""
    row_counts: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def timezone(self) -> str:
        return self.config.timezone

    @property
    def extract_time(self) -> pd.Timestamp:
        return self.config.extract_time

    def has(self, table: str) -> bool:
        """Whether the dataset holds ``table``."""
        return table in self.tables

    def table(self, name: str) -> pd.DataFrame:
        """The table ``name``; raises when the dataset does not hold it."""
        if name not in TABLES:
            raise KeyError(f"{name!r} is not a contract table; known: {sorted(TABLES)}")
        if name not in self.tables:
            raise DataContractError(f"{self.source}: the dataset has no table {name!r}")
        return self.tables[name]


NOT_PLACE_ZONES = frozenset({"localtime", "Factory", "posixrules"})
"""Names a zone database may hold that are not the time of a place: ``localtime``
is the machine's own setting, ``Factory`` a placeholder for "not set" and
``posixrules`` a template; ``right/...`` zones count leap seconds, which no export
does. Reading a dataset in any of them would depend on the machine or be off."""


def check_timezone(name: str, source: str) -> str:
    """Return ``name`` when it is an IANA time zone, else raise naming ``source``."""
    message = (
        f"{source}: timezone {name!r} is not an IANA time zone name "
        "(e.g. 'UTC', 'Asia/Tokyo', 'Europe/London')"
    )
    if name.removeprefix("posix/") in NOT_PLACE_ZONES or name.startswith("right/"):
        raise DataContractError(
            f"{message}; {name!r} is not the time of a place (it depends on the "
            "machine or counts leap seconds)"
        )
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        # OSError: a folder of the zone database ('Asia'), not a zone
        raise DataContractError(message) from exc
    return name


def to_utc_instant(value: Any, timezone: str, where: str) -> pd.Timestamp:
    """Read one instant: an offset is honoured, a naive value is read in ``timezone``.

    A bare date means midnight at the start of that day in ``timezone``. As for
    timestamps in the tables, a local time repeated when the clocks go back is read
    as its first occurrence, and one skipped when they go forward is an error.

    Raises
    ------
    DataContractError
        When ``value`` is not a date or timestamp (a number, which pandas would read
        as nanoseconds since 1970, and the words ``now`` and ``today`` are not), or
        is a naive local time that does not exist in ``timezone``.
    """
    expected = (
        f"{where}: expected a date or an ISO 8601 timestamp "
        f"(e.g. 2024-03-31 or 2024-03-31T23:59:59+09:00), got {value!r}"
    )
    if isinstance(value, Number):
        # pandas reads a number as nanoseconds since 1970: 20240331 is in 1970
        raise DataContractError(f"{expected}; a number is not read as a time")
    if isinstance(value, str) and re.match(CLOCK_WORD, value):
        raise DataContractError(f"{expected}; the machine's clock is not a time")
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise DataContractError(expected) from exc
    if pd.isna(stamp):
        raise DataContractError(expected)
    if stamp.tzinfo is None:
        localized = _localize_one(stamp, timezone, shift_forward=False)
        if localized is None:
            raise DataContractError(
                f"{where} {_naive_text(value)!r} is not a local time in {timezone} "
                "(it falls in a daylight-saving gap, skipped when the clocks went "
                "forward); give a time outside the gap or an explicit UTC offset"
            )
        stamp = localized
    return stamp.tz_convert("UTC").as_unit("us")


def cutoff_instant(day: Any, timezone: str) -> pd.Timestamp:
    """The cutoff for ``day``: midnight at its start in ``timezone``, as UTC.

    Where the clocks go forward at midnight, the day starts at the first local time
    that exists (e.g. 01:00); where midnight is repeated, the day starts at its first
    occurrence.
    """
    stamp = pd.Timestamp(day)
    if stamp.tzinfo is not None:
        return stamp.tz_convert("UTC").as_unit("us")
    localized = _localize_one(stamp.normalize(), timezone, shift_forward=True)
    if localized is None:  # pragma: no cover - shift_forward always yields a time
        raise DataContractError(f"cutoff {day!r}: no local midnight in {timezone}")
    return localized.tz_convert("UTC").as_unit("us")


def _localize_one(
    stamp: pd.Timestamp, timezone: str, *, shift_forward: bool
) -> pd.Timestamp | None:
    """``stamp`` read in ``timezone``: first occurrence when repeated.

    A time skipped by the clocks is moved to the first time after the gap when
    ``shift_forward``, else ``None``.
    """
    localized = stamp.tz_localize(
        timezone,
        ambiguous=True,
        nonexistent="shift_forward" if shift_forward else "NaT",
    )
    return None if pd.isna(localized) else localized


def _naive_text(value: Any) -> str:
    """A naive timestamp as the user most likely wrote it."""
    if isinstance(value, str):
        return value.strip()
    stamp = pd.Timestamp(value)
    return stamp.isoformat(
        sep=" ", timespec="minutes" if stamp.second == 0 else "seconds"
    )


END_OF_DAY_STAMP = pd.Timedelta(seconds=1)
"""How close to midnight an extract covers its whole day: exports are often stamped
``23:59:59`` for "the end of the day"."""


def covered_until(extract_time: pd.Timestamp) -> pd.Timestamp:
    """The end of what an extract covers: :data:`END_OF_DAY_STAMP` after it.

    An extract stamped ``23:59:59`` thus covers its day up to midnight, for the
    latest cutoff, the monthly cutoffs and the label windows alike.

    Parameters
    ----------
    extract_time
        The instant the data was taken (UTC).

    Returns
    -------
    pandas.Timestamp
        The instant up to which events are known.
    """
    return extract_time + END_OF_DAY_STAMP


def latest_cutoff(extract_time: pd.Timestamp, timezone: str) -> pd.Timestamp:
    """The latest cutoff the data supports: midnight after the last complete day.

    An extract taken at the very end of a day (see :func:`covered_until`) covers
    that day, so the cutoff is the next midnight; an extract taken during a day
    covers only the days before it, so the cutoff is that day's midnight. Both are
    midnights in the dataset's zone.

    Parameters
    ----------
    extract_time
        The instant the data was taken (UTC).
    timezone
        The dataset's IANA time zone.

    Returns
    -------
    pandas.Timestamp
        The cutoff as a UTC instant.
    """
    local = covered_until(extract_time).tz_convert(timezone)
    return cutoff_instant(local.date(), timezone)


def parse_as_of_date(text: str, timezone: str, option: str = "--as-of") -> pd.Timestamp:
    """Read a cutoff given as a date ``YYYY-MM-DD``: its midnight in ``timezone``.

    Parameters
    ----------
    text
        The date as the user gave it.
    timezone
        The dataset's IANA time zone.
    option
        How the value is named in errors (the command-line option).

    Returns
    -------
    pandas.Timestamp
        The cutoff as a UTC instant (see :func:`cutoff_instant`).

    Raises
    ------
    ConfigError
        When ``text`` is not a calendar date.
    """
    if not re.match(ISO_DATE_START + "$", str(text).strip()):
        raise ConfigError(f"{option} {text!r}: expected a date YYYY-MM-DD")
    try:
        day = pd.Timestamp(text)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{option} {text!r}: expected a date YYYY-MM-DD") from exc
    if pd.isna(day):
        raise ConfigError(f"{option} {text!r}: expected a date YYYY-MM-DD")
    if day.tzinfo is not None or day != day.normalize():
        raise ConfigError(
            f"{option} {text!r}: expected a date YYYY-MM-DD (a cutoff is midnight in "
            f"the dataset's zone, {timezone})"
        )
    return day_cutoff(day.date(), timezone, f"{option} {text!r}")


def day_cutoff(day: dt.date, timezone: str, where: str) -> pd.Timestamp:
    """The cutoff of calendar day ``day`` (:func:`cutoff_instant`), checked.

    Parameters
    ----------
    day
        The calendar day in ``timezone``.
    timezone
        The dataset's IANA time zone.
    where
        What the day was given as, named in errors (``--as-of '2024-04-01'``).

    Returns
    -------
    pandas.Timestamp
        The start of the day as a UTC instant.

    Raises
    ------
    ConfigError
        When ``timezone``'s calendar skipped the day (Pacific/Apia went from
        2011-12-29 to 2011-12-31), naming the next day, or when the day starts
        before :data:`~ghost_model.contract.FIRST_SUPPORTED_INSTANT`.
    """
    stamp = cutoff_instant(day, timezone)
    local = stamp.tz_convert(timezone).date()
    if local != day:
        raise ConfigError(
            f"{where}: the day {day.isoformat()} does not exist in {timezone} (its "
            f"clocks skipped it); the next day, {local.isoformat()}, does"
        )
    if stamp < pd.Timestamp(FIRST_SUPPORTED_INSTANT):
        raise ConfigError(
            f"{where}: {day.isoformat()} is before "
            f"{FIRST_SUPPORTED_INSTANT.date().isoformat()}, the earliest supported "
            "instant; no data can precede it"
        )
    return stamp
