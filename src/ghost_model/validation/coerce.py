"""Vectorised conversion of raw columns to the contract's canonical dtypes.

Each converter takes one raw column (text from a CSV, or typed values from Parquet,
DuckDB or JSON) and returns the canonical column plus the cells it could not convert,
as :class:`ParseFailure` masks. A value that cannot be read is never dropped here: it
becomes missing in the canonical column and the failure is handed to the rule set,
which names the row, the column and the raw value.

Conventions (documented in ``docs/data-contract.md``):

* a cell holds one value: bytes are decoded as UTF-8 text; a list or other nested
  value, and bytes that are not UTF-8, are failures;
* text of every kind is stripped of surrounding whitespace; an empty string is missing;
* values of a closed set (``outcome``, ``direction``, ``kind``) are also lower-cased;
* an id or a category holding a line break (left inside once stripped) is a failure;
* ids are text; text is kept as written (``"12345.0"`` stays so); a whole number
  typed as a float (``12345.0`` in Parquet) becomes ``"12345"``; a float with a
  fraction and a boolean are failures;
* numbers are float64; one too large for a float (``1e400``) or infinite is a failure;
* timestamps are ISO 8601, extended or basic format (``YYYY/MM/DD`` accepted too); an
  offset (``Z``, ``±HH``, ``±HHMM``, ``±HH:MM``, hours up to 14) after the time of day
  (even the hour alone) is honoured, any other offset is a failure; a naive
  value is read in the dataset's time zone (a local time repeated when the clocks go
  back is read as its first occurrence, one skipped when they go forward is a
  failure; a date alone is the start of its day, after the gap where the clocks
  skip midnight); the result is UTC in microseconds, and an instant before
  1900-01-01T00:00:00Z is a failure (outside the supported range).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api.types import (
    is_bool_dtype,
    is_datetime64_any_dtype,
    is_float_dtype,
    is_integer_dtype,
    is_numeric_dtype,
)

from ghost_model.contract import (
    FIRST_SUPPORTED_INSTANT,
    TIMESTAMP_DTYPE,
    ColumnSpec,
    TableSpec,
)
from ghost_model.dataset import CLOCK_WORD

STR_DTYPE: Final = "str"

_OFFSET = r"[T\s]\d[\d:.,]*\s*(?:[Zz]|[+-]\d\d?(?::?\d\d?)?)$"
"""A time of day followed by an offset: ``T09:30+09:00``, ``T093000Z``, ``T09+0900``.

It matches every value pandas' ISO 8601 parser reads as time-zone-aware (whose
offset follows the hour, the minutes, the seconds or their fraction, in extended
or basic format, with or without a space) and none it reads as naive; a value
taken for naive but read as aware would make the parse of its whole group raise.
A date alone (``2024-04-01``) has no time to carry an offset."""
_WELL_FORMED_OFFSET = r"(?:Z|[+-](?:0\d|1[0-4])(?::?[0-5]\d)?)$"
"""The offsets the contract accepts, at the end of a value :data:`_OFFSET` matches.

pandas also reads ``+009`` (as +00:09), ``+0``, ``+9`` and ``+2359``; no zone has
such offsets, so a value with one is a failure rather than some instant."""
_BAD_OFFSET: Final = (
    "a UTC offset must be Z, ±HH, ±HHMM or ±HH:MM with hours up to 14 and minutes "
    "up to 59 (e.g. +09:00)"
)
_NUMERIC_KINDS: Final = frozenset({"integer", "floating", "mixed-integer-float"})
_WHOLE_ID: Final = "an id read as a number must be a whole number"
_EXACT_ID: Final = (
    "an id read as a number must be at most 2**53 (9007199254740992): larger "
    "numbers lose digits, so write such ids as text"
)
MAX_EXACT_FLOAT_ID: Final = 2**53
"""Largest whole number a float64 id is read exactly up to."""
_BOOLEAN_ID: Final = "a boolean is not an id"
_NUMBER = r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$"
_TIME_PART = r"[T\s]"
"""What separates a time of day from its date; a value without it is a date alone."""
_LINE_BREAK = r"[\r\n]"
_QUOTE_HINT: Final = "(a quote opened and closed on a later line?)"
_ONE_LINE_KINDS: Final = {
    "id": f"an id never holds a line break {_QUOTE_HINT}",
    "category": f"a category never holds a line break {_QUOTE_HINT}",
}
"""Kinds whose values are one line, and the rule a value with a line break breaks."""
_NOT_ISO: Final = "not an ISO 8601 timestamp (e.g. 2024-04-01 or 2024-04-01T09:30)"
_MAY_HOLD_NESTED: Final = frozenset(
    {"bytes", "mixed", "mixed-integer", "unknown-array"}
)
_NESTED: Final = (
    "a list or nested value, not one value (flatten the column in the export)"
)
_UNDECODABLE: Final = "bytes that are not UTF-8 text"
FIRST_SUPPORTED: Final = pd.Timestamp(FIRST_SUPPORTED_INSTANT).as_unit("us")
"""The earliest instant a timestamp may hold (see
:data:`~ghost_model.contract.FIRST_SUPPORTED_INSTANT`)."""
_EARLY: Final = (
    "outside the supported range (1900-01-01T00:00:00Z onward); an export's "
    "placeholder for 'no date' should be an empty field"
)


@dataclass(frozen=True)
class ParseFailure:
    """Cells of one column whose raw value could not be converted.

    ``mask`` is aligned with the table's rows; ``rule`` says what was expected.
    """

    column: str
    mask: np.ndarray
    rule: str


def coerce_table(
    raw: pd.DataFrame, spec: TableSpec, timezone: str
) -> tuple[pd.DataFrame, list[ParseFailure]]:
    """Convert the contract columns of ``raw`` to their canonical dtypes.

    Parameters
    ----------
    raw
        The table as read, with a default range index; columns outside the contract
        must already be removed. Optional contract columns may be absent.
    spec
        The contract table.
    timezone
        IANA zone in which naive timestamps are read.

    Returns
    -------
    tuple
        The canonical frame (every contract column, in contract order, same index as
        ``raw``) and the cells that could not be converted.
    """
    columns: dict[str, pd.Series] = {}
    failures: list[ParseFailure] = []
    for column in spec.columns:
        if column.name in raw.columns:
            series, found = coerce_column(raw[column.name], column, timezone)
        else:
            series, found = _missing_column(column, raw.index), []
        columns[column.name] = series
        failures.extend(found)
    return pd.DataFrame(columns, index=raw.index), failures


def coerce_column(
    values: pd.Series, column: ColumnSpec, timezone: str
) -> tuple[pd.Series, list[ParseFailure]]:
    """Convert one raw column to the canonical dtype of its kind.

    Parameters
    ----------
    values
        The raw column.
    column
        Its contract column.
    timezone
        IANA zone in which naive timestamps are read.

    Returns
    -------
    tuple
        The canonical column and the cells that could not be converted.
    """
    values, unreadable = to_scalars(values)
    if column.kind == "id":
        series, masks = to_id(values)
    elif column.kind == "timestamp":
        series, masks = to_timestamp(values, timezone)
    elif column.kind == "number":
        series, masks = to_number(values)
    else:
        series, masks = to_text(values, lower=column.allowed is not None), []
    if column.kind in _ONE_LINE_KINDS:
        series, broken = _drop_line_breaks(series, column.kind)
        masks = [*masks, *broken]
    failures = [
        ParseFailure(column.name, mask, rule)
        for mask, rule in [*unreadable, *masks]
        if mask.any()
    ]
    return series.rename(column.name), failures


def to_scalars(values: pd.Series) -> tuple[pd.Series, list[tuple[np.ndarray, str]]]:
    """One plain value per cell: UTF-8 bytes decoded to text; lists and other
    nested values (Parquet list or struct columns) and undecodable bytes fail.

    Only a column of Python objects can hold such cells; the others pass unchanged.
    A failed cell becomes missing, so no ``"b'D1'"`` or ``"[1 2]"`` reaches a table.
    """
    if values.dtype != object:
        return values, []
    if pd.api.types.infer_dtype(values, skipna=True) not in _MAY_HOLD_NESTED:
        return values, []
    cells = values.to_numpy(dtype=object, copy=True)
    nested = np.zeros(len(cells), dtype=bool)
    undecodable = np.zeros(len(cells), dtype=bool)
    for i, cell in enumerate(cells):
        if isinstance(cell, bytes | bytearray | memoryview):
            try:
                cells[i] = bytes(cell).decode("utf-8")
            except UnicodeDecodeError:
                undecodable[i], cells[i] = True, None
        elif isinstance(cell, list | tuple | dict | set | np.ndarray):
            nested[i], cells[i] = True, None
    return pd.Series(cells, index=values.index, dtype=object), [
        (nested, _NESTED),
        (undecodable, _UNDECODABLE),
    ]


def _drop_line_breaks(
    series: pd.Series, kind: str
) -> tuple[pd.Series, list[tuple[np.ndarray, str]]]:
    """``series`` without the values that hold a line break, and where they were.

    Ids and categories never hold one; in a CSV it is the trace of a quote opened
    in one field and closed on a later line, which folds the rows between into one
    value.
    """
    if not _holds_line_break_byte(series):
        return series, []
    broken = matches(series, _LINE_BREAK)
    return series.mask(broken), [(broken, _ONE_LINE_KINDS[kind])]


def _holds_line_break_byte(text: pd.Series) -> bool:
    """Whether a byte of the Arrow data behind ``text`` is ``\\r`` or ``\\n``.

    A scan of the raw buffers, several times faster than a pattern match per value:
    ``False`` is exact (in UTF-8 these bytes occur only as those characters), while
    ``True`` may come from bytes outside the values of a sliced buffer.
    """
    array = pa.array(text, type=pa.large_string())
    chunks = array.chunks if isinstance(array, pa.ChunkedArray) else [array]
    for chunk in chunks:
        data = chunk.buffers()[2]
        if data is None:
            continue
        raw = np.frombuffer(data, dtype=np.uint8)
        if bool((raw == ord("\n")).any() or (raw == ord("\r")).any()):
            return True
    return False


def to_text(values: pd.Series, *, lower: bool = False) -> pd.Series:
    """Text with surrounding whitespace removed; an empty string becomes missing.

    The steps run on the Arrow array behind pandas' string dtype, with the kernels
    the ``str`` accessor itself calls (``strip``, ``lower``), without a pandas
    object per step.
    """
    text = pc.utf8_trim_whitespace(pa.array(values.astype(STR_DTYPE)))
    if lower:
        text = pc.utf8_lower(text)
    text = pc.if_else(pc.equal(text, ""), pa.scalar(None, text.type), text)
    return pd.Series(text, index=values.index, dtype=STR_DTYPE)


def to_id(values: pd.Series) -> tuple[pd.Series, list[tuple[np.ndarray, str]]]:
    """Ids as text; whole numbers typed as floats lose their ``.0``.

    Text is kept as written (only stripped): ``"25.0"`` in a CSV stays ``"25.0"``, so
    one id reads the same in every file whatever the other values of its column. A
    number typed as a float (Parquet, DuckDB, JSON) with a fraction, and a boolean,
    are failures.
    """
    if values.dtype == object:
        kind = pd.api.types.infer_dtype(values, skipna=True)
        if kind in _NUMERIC_KINDS:
            values = pd.to_numeric(values)
        elif kind not in {"string", "empty"}:
            return _objects_to_id(values)
    if is_bool_dtype(values.dtype):
        present = values.notna().to_numpy()
        missing = pd.Series(np.nan, index=values.index, dtype=STR_DTYPE)
        return missing, [(present, _BOOLEAN_ID)]
    if is_integer_dtype(values.dtype):
        return _integers_to_text(values), []
    if is_float_dtype(values.dtype):
        return _floats_to_id(values)
    return to_text(values), []


def to_timestamp(
    values: pd.Series, timezone: str
) -> tuple[pd.Series, list[tuple[np.ndarray, str]]]:
    """UTC instants: offsets honoured, naive values read in ``timezone``.

    An instant before :data:`FIRST_SUPPORTED` fails (and is missing in the result),
    whether it came as text or typed, so every source gets the same range.
    """
    out, masks = _to_instants(values, timezone)
    early = (out < FIRST_SUPPORTED).to_numpy(dtype=bool, na_value=False)
    if early.any():
        out = out.mask(early)
    return out, [*masks, (early, _EARLY)]


def _to_instants(
    values: pd.Series, timezone: str
) -> tuple[pd.Series, list[tuple[np.ndarray, str]]]:
    """:func:`to_timestamp` without the range check."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").astype(TIMESTAMP_DTYPE), []
    if is_datetime64_any_dtype(values.dtype):
        return _localize(values, timezone)
    text = to_text(values)
    present = text.notna().to_numpy()
    aware = matches(text, _OFFSET)
    if not aware[present].all() and aware.any():
        return _mixed_to_timestamp(text, present, aware, timezone)
    # Every value with an offset, or none: one parse of the whole column.
    text, bad_offset = _drop_bad_offsets(text, aware)
    out = pd.Series(pd.NaT, index=values.index, dtype=TIMESTAMP_DTYPE)
    local_failed = np.zeros(len(values), dtype=bool)
    if aware.any():
        out = _parse_iso(text, utc=True).dt.tz_convert("UTC").astype(TIMESTAMP_DTYPE)
    elif present.any():
        out, masks = _localize(_parse_iso(text, utc=False), timezone, text)
        local_failed = masks[0][0]
    return out, _text_failures(out, present, bad_offset, local_failed, timezone)


def _mixed_to_timestamp(
    text: pd.Series, present: np.ndarray, aware: np.ndarray, timezone: str
) -> tuple[pd.Series, list[tuple[np.ndarray, str]]]:
    """UTC instants of a column with values both with and without an offset."""
    text, bad_offset = _drop_bad_offsets(text, aware)
    offset = pd.Series(aware, index=text.index)
    out = pd.Series(pd.NaT, index=text.index, dtype=TIMESTAMP_DTYPE)
    if aware.any():
        out[aware] = _parse_iso(text[offset], utc=True).dt.tz_convert("UTC")
    naive = present & ~aware
    local_failed = np.zeros(len(text), dtype=bool)
    if naive.any():
        naive_text = text[pd.Series(naive, index=text.index)]
        naive_stamps = _parse_iso(naive_text, utc=False)
        localized, masks = _localize(naive_stamps, timezone, naive_text)
        out[naive] = localized
        for mask, _rule in masks:
            local_failed[np.flatnonzero(naive)[mask]] = True
    return out, _text_failures(out, present, bad_offset, local_failed, timezone)


def _drop_bad_offsets(
    text: pd.Series, aware: np.ndarray
) -> tuple[pd.Series, np.ndarray]:
    """``text`` without the values whose offset is malformed, and where they were.

    They are dropped before parsing, since pandas would read them as some instant.
    """
    if not aware.any():
        return text, np.zeros(len(text), dtype=bool)
    bad = aware & ~matches(text, _WELL_FORMED_OFFSET)
    return (text.mask(bad) if bad.any() else text), bad


def _text_failures(
    out: pd.Series,
    present: np.ndarray,
    bad_offset: np.ndarray,
    local_failed: np.ndarray,
    timezone: str,
) -> list[tuple[np.ndarray, str]]:
    """Why values of a text column did not become instants, one mask per rule."""
    unparsed = present & out.isna().to_numpy() & ~bad_offset & ~local_failed
    return [
        (unparsed, _NOT_ISO),
        (bad_offset, _BAD_OFFSET),
        (local_failed, _skipped_rule(timezone)),
    ]


def to_number(values: pd.Series) -> tuple[pd.Series, list[tuple[np.ndarray, str]]]:
    """Numbers as float64; text that is not a number, or an infinite one, fails.

    A value too large for a float (``1e400``) would become infinite: it is a failure
    and missing in the canonical column, as is an infinite value typed as a number.
    """
    if values.dtype == object and _infers_numeric(values):
        values = pd.to_numeric(values)
    if is_numeric_dtype(values.dtype) or is_bool_dtype(values.dtype):
        numbers = values.to_numpy(dtype="float64", na_value=np.nan)
        failed = np.zeros(len(numbers), dtype=bool)
    else:
        text = to_text(values)
        readable = matches(text, _NUMBER)
        strings = pc.if_else(pa.array(readable), pa.array(text), None)
        numbers = pc.cast(strings, pa.float64()).to_numpy(zero_copy_only=False)
        failed = text.notna().to_numpy() & ~readable
    infinite = np.isinf(numbers)
    if infinite.any():
        numbers = np.where(infinite, np.nan, numbers)
    return pd.Series(numbers, index=values.index, dtype="float64"), [
        (failed, "not a number"),
        (infinite, "not a finite number"),
    ]


def matches(text: pd.Series, pattern: str) -> np.ndarray:
    """Where ``text`` matches the regular expression ``pattern`` (missing: False).

    Runs in Arrow's RE2 engine, several times faster than the ``str`` accessor.
    """
    found = pc.match_substring_regex(pa.array(text, type=pa.large_string()), pattern)
    return np.asarray(found.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def _parse_iso(text: pd.Series, *, utc: bool) -> pd.Series:
    """Parse ISO 8601 text; a second pass accepts ``/`` as the date separator."""
    parsed = _to_datetime_us(text, utc=utc)
    retry = parsed.isna() & text.str.contains("/", regex=False, na=False)
    if retry.any():
        dashed = text[retry].str.replace("/", "-", regex=False)
        parsed[retry] = _to_datetime_us(dashed, utc=utc)
    return parsed


_BELOW_MICROSECOND = r"(:\d\d[.,]\d{6})\d+"
"""Digits of a second beyond the sixth: one such value makes pandas parse the whole
column in nanoseconds, whose range (1677-2262) would turn other values missing."""


def _to_datetime_us(text: pd.Series, *, utc: bool) -> pd.Series:
    clock = matches(text, CLOCK_WORD)
    if clock.any():
        text = text.mask(clock)
    if matches(text, _BELOW_MICROSECOND).any():
        cut = pc.replace_substring_regex(pa.array(text), _BELOW_MICROSECOND, r"\1")
        text = pd.Series(cut, index=text.index, dtype=STR_DTYPE)
    parsed = pd.to_datetime(text, format="ISO8601", utc=utc, errors="coerce")
    return parsed.dt.as_unit("us")


def _localize(
    values: pd.Series, timezone: str, text: pd.Series | None = None
) -> tuple[pd.Series, list[tuple[np.ndarray, str]]]:
    """Read naive datetimes in ``timezone``.

    A local time repeated when clocks go back is read as its first occurrence; one
    skipped when clocks go forward does not exist and fails. A date alone in
    ``text`` (the values as written) means the start of its day, so where the
    clocks skip midnight it is the first local time after the gap, as for cutoffs
    (:func:`ghost_model.dataset.cutoff_instant`).
    """
    first = np.ones(len(values), dtype=bool)
    localized = values.dt.tz_localize(timezone, ambiguous=first, nonexistent="NaT")
    failed = (values.notna() & localized.isna()).to_numpy()
    if text is not None and failed.any():
        day_start = failed.copy()
        day_start[failed] = ~matches(text[failed], _TIME_PART)
        if day_start.any():
            days = values[day_start]
            start = days.dt.tz_localize(
                timezone, ambiguous=True, nonexistent="shift_forward"
            )
            # a day the calendar skipped whole (Pacific/Apia, 2011-12-30) has no
            # start: shifting would give the next day's
            same_day = (start.dt.tz_localize(None).dt.normalize() == days).to_numpy()
            localized[days.index[same_day]] = start[same_day]
            day_start[day_start] = same_day
            failed = failed & ~day_start
    converted = localized.dt.tz_convert("UTC").astype(TIMESTAMP_DTYPE)
    return converted, [(failed, _skipped_rule(timezone))]


def _skipped_rule(timezone: str) -> str:
    return f"not a local time in {timezone} (skipped when the clocks went forward)"


def _floats_to_id(values: pd.Series) -> tuple[pd.Series, list[tuple[np.ndarray, str]]]:
    numbers = values.to_numpy(dtype="float64", na_value=np.nan)
    present = ~np.isnan(numbers)
    whole = present & np.isfinite(numbers) & (np.floor(numbers) == numbers)
    # beyond 2**53 a float no longer holds every whole number: two different ids
    # written as numbers may read as one, so such ids must come as text
    exact = whole & (np.abs(numbers) <= MAX_EXACT_FLOAT_ID)
    text = np.full(len(numbers), np.nan, dtype=object)
    text[exact] = numbers[exact].astype("int64").astype(str)
    out = pd.Series(text, index=values.index, dtype=STR_DTYPE)
    return out, [(present & ~whole, _WHOLE_ID), (whole & ~exact, _EXACT_ID)]


def _objects_to_id(
    values: pd.Series,
) -> tuple[pd.Series, list[tuple[np.ndarray, str]]]:
    """Ids from a column of mixed Python values (text, numbers, booleans)."""
    booleans = np.zeros(len(values), dtype=bool)
    fractions = np.zeros(len(values), dtype=bool)
    inexact = np.zeros(len(values), dtype=bool)
    text = np.full(len(values), np.nan, dtype=object)
    for i, value in enumerate(values.to_numpy(dtype=object)):
        if isinstance(value, bool | np.bool_):
            booleans[i] = True
        elif isinstance(value, float | np.floating):
            if not np.isfinite(value):
                fractions[i] = not np.isnan(value)
            elif not float(value).is_integer():
                fractions[i] = True
            elif abs(float(value)) > MAX_EXACT_FLOAT_ID:
                inexact[i] = True
            else:
                text[i] = str(int(value))
        elif value is not None and value is not pd.NA:
            text[i] = str(value)
    ids, found = to_id(pd.Series(text, index=values.index, dtype=STR_DTYPE))
    return ids, [
        *found,
        (booleans, _BOOLEAN_ID),
        (fractions, _WHOLE_ID),
        (inexact, _EXACT_ID),
    ]


def _integers_to_text(values: pd.Series) -> pd.Series:
    present = values.notna().to_numpy()
    text = np.full(len(values), np.nan, dtype=object)
    text[present] = values[present].to_numpy(dtype="int64").astype(str)
    return pd.Series(text, index=values.index, dtype=STR_DTYPE)


def _missing_column(column: ColumnSpec, index: pd.Index) -> pd.Series:
    if column.kind == "timestamp":
        return pd.Series(pd.NaT, index=index, dtype=TIMESTAMP_DTYPE, name=column.name)
    if column.kind == "number":
        return pd.Series(np.nan, index=index, dtype="float64", name=column.name)
    return pd.Series(np.nan, index=index, dtype=STR_DTYPE, name=column.name)


def _infers_numeric(values: pd.Series) -> bool:
    kind = pd.api.types.infer_dtype(values, skipna=True)
    return kind in _NUMERIC_KINDS
