"""Cutoffs: the instants at which features are taken, and their local day numbers.

A cutoff is midnight at the start of a day in the dataset's time zone. Inside the
feature definitions every instant is replaced by the number of its local day
(days since 1970-01-01 in the dataset's zone): an event is before the cutoff ``t``
exactly when its local day is before the cutoff's day, so comparisons against ``t``
become integer comparisons that every backend evaluates the same way.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

from ghost_model.contract import LATEST_CUTOFF_DAY
from ghost_model.dataset import (
    ISO_DATE_START,
    Dataset,
    covered_until,
    cutoff_instant,
    day_cutoff,
)
from ghost_model.errors import ConfigError
from ghost_model.features.config import FeatureConfig

US_PER_DAY = 86_400_000_000
"""Microseconds in a day."""

_FREQ_OFFSETS = {"monthly": "MS", "quarterly": "QS-JAN", "weekly": "W-MON"}


def monthly_cutoffs(
    dataset: Dataset, config: FeatureConfig | None = None
) -> list[pd.Timestamp]:
    """The regular cutoffs of a dataset, oldest first.

    Parameters
    ----------
    dataset
        The validated dataset; its time zone places midnight, its first deal and its
        extract time bound the range.
    config
        Its ``frequency`` chooses the 1st of every month (default), of every quarter,
        or every Monday.

    Returns
    -------
    list of pandas.Timestamp
        UTC instants of midnight in the dataset's zone, from the first boundary after
        the first deal registration up to the end of what the extract covers (an
        extract stamped ``23:59:59`` covers its day: see
        :func:`~ghost_model.dataset.covered_until`). Cutoffs whose label window passes
        it are included (they are scored, not trained on).
    """
    config = config or FeatureConfig()
    registered = dataset.table("deals")["registered_at"].dropna()
    if registered.empty:
        return []
    zone = dataset.timezone
    first = registered.min().tz_convert(zone).tz_localize(None).normalize()
    last = covered_until(dataset.extract_time).tz_convert(zone).tz_localize(None)
    if last.date() > LATEST_CUTOFF_DAY:
        raise ConfigError(
            f"{dataset.source or dataset.config.name}: extract_time "
            f"{dataset.extract_time.isoformat()} is after "
            f"{LATEST_CUTOFF_DAY.isoformat()}; regular cutoffs up to it would leave "
            "the calendar (and number in the tens of thousands): check extract_time "
            "in dataset.yaml"
        )
    days = pd.date_range(
        first + pd.Timedelta(days=1), last, freq=_FREQ_OFFSETS[config.frequency]
    )
    return [cutoff_instant(day, zone) for day in days]


def normalise_cutoffs(cutoffs: Iterable[object], timezone: str) -> list[pd.Timestamp]:
    """Sorted, distinct UTC cutoffs; naive values are dates in ``timezone``.

    Parameters
    ----------
    cutoffs
        Dates (``"2024-04-01"``, ``datetime.date``), naive midnights read in
        ``timezone``, or aware instants that are midnight there.
    timezone
        The dataset's IANA time zone.

    Raises
    ------
    ConfigError
        When ``cutoffs`` is one value rather than a collection, or a value is
        missing, a number, not a date, not midnight in the dataset's zone, a day the
        zone's calendar skipped, before 1900 or after the last day the calendar
        allows.
    """
    if isinstance(cutoffs, str | bytes | dt.date | np.datetime64) or not isinstance(
        cutoffs, Iterable
    ):
        raise ConfigError(
            f"cutoffs={cutoffs!r}: expected a list of cutoffs, e.g. ['2024-04-01']"
        )
    out: set[pd.Timestamp] = set()
    for value in cutoffs:
        given = _cutoff_value(value)
        aware = given.tzinfo is not None
        day = given.tz_convert(timezone).date() if aware else given.date()
        if day > LATEST_CUTOFF_DAY:
            raise ConfigError(
                f"cutoff {value!r} is {day.isoformat()} in the dataset's "
                f"zone; cutoffs must be on or before {LATEST_CUTOFF_DAY.isoformat()} "
                "(the label window after a cutoff has to end inside the calendar)"
            )
        stamp = day_cutoff(day, timezone, f"cutoff {value!r}")
        # the day's start, not the local midnight: where the clocks go forward at
        # midnight the day starts at the first time after the gap
        if aware and stamp != given:
            raise ConfigError(
                f"cutoff {value!r} is {given.tz_convert(timezone).isoformat()} in the "
                f"dataset's zone {timezone!r}; cutoffs are midnight in that zone: "
                f"pass a date such as {day.isoformat()!r} or use cutoff_instant()"
            )
        out.add(stamp)
    return sorted(out)


def _cutoff_value(value: object) -> pd.Timestamp:
    """One cutoff as a timestamp: a naive one is midnight of its date, exactly."""
    if isinstance(value, bool | int | float | np.number):
        # pandas would read 20240401 as nanoseconds after 1970
        raise ConfigError(
            f"cutoff {value!r}: a number, not a date; pass '2024-04-01', a "
            "datetime.date or a timestamp"
        )
    if isinstance(value, str) and not re.match(ISO_DATE_START, value.strip()):
        # pandas reads '01/02/2023' as 2 January, month first
        raise ConfigError(
            f"cutoff {value!r}: not an ISO 8601 date; write it YYYY-MM-DD"
        )
    try:
        stamp = pd.Timestamp(value)  # type: ignore[arg-type]
    except (ValueError, TypeError, OverflowError) as exc:
        raise ConfigError(
            f"cutoff {value!r}: not a date or an instant ({exc})"
        ) from exc
    if pd.isna(stamp):
        raise ConfigError(f"cutoff {value!r}: missing; every cutoff must be a date")
    if stamp.tzinfo is None and stamp != stamp.normalize():
        raise ConfigError(
            f"cutoff {value!r}: a time of day without a zone; cutoffs are midnights, "
            f"so pass the date {stamp.date().isoformat()!r} (read in the dataset's "
            "zone) or an instant with its offset"
        )
    return stamp


def local_days(values: pd.Series, timezone: str) -> pd.Series:
    """The local day number (days since 1970-01-01 in ``timezone``) of each instant.

    Missing instants stay missing (nullable ``Int32``). The zone's offsets come from
    pandas; the day is the floor of the local wall time in microseconds, which is
    the same as numpy's cast to ``datetime64[D]`` and several times faster.
    """
    stamps = values
    if not (
        isinstance(values.dtype, pd.DatetimeTZDtype) and str(values.dtype.tz) == "UTC"
    ):
        stamps = pd.to_datetime(values, utc=True)
    local = stamps.dt.tz_convert(timezone).dt.tz_localize(None)
    raw = local.to_numpy(dtype="datetime64[us]", na_value=np.datetime64("NaT"))
    mask = np.isnat(raw)
    days = np.floor_divide(raw.view(np.int64), US_PER_DAY).astype(np.int32)
    days[mask] = 0
    return pd.Series(pd.arrays.IntegerArray(days, mask), index=values.index)


def day_instant(day: int, timezone: str) -> pd.Timestamp:
    """Midnight at the start of local day number ``day`` in ``timezone``, as UTC."""
    date = pd.Timestamp(np.datetime64(int(day), "D"))
    return cutoff_instant(date, timezone)
