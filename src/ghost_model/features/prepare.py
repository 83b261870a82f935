"""Turn canonical contract tables into the narrow inputs of the feature definitions.

Only two things happen here: instants become local day numbers (see
:mod:`ghost_model.features.cutoffs`) and the columns a definition reads are kept
with fixed types, so that the same definitions compile for every backend. Every
count, window and join is left to the definitions themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ghost_model.dataset import Dataset, covered_until
from ghost_model.features.config import FeatureConfig
from ghost_model.features.cutoffs import day_instant, local_days

NO_DAY = -(2**30)
"""A local day before any data (the lower end of the first cutoff's bucket)."""

SCHEMAS: dict[str, pa.Schema] = {
    "cutoffs": pa.schema(
        [
            ("ci", pa.int32()),
            ("cut_day", pa.int32()),
            ("cut_prev", pa.int32()),
            ("month", pa.int32()),
            ("labeled", pa.bool_()),
        ]
    ),
    "deals": pa.schema(
        [
            ("partner_id", pa.string()),
            ("rep_id", pa.string()),
            ("reg_d", pa.int32()),
            ("close_d", pa.int32()),
            ("outcome", pa.string()),
            ("cycle_us", pa.int64()),
        ]
    ),
    "partners": pa.schema(
        [
            ("partner_id", pa.string()),
            ("tier", pa.string()),
            ("signed_d", pa.int32()),
            ("term_d", pa.int32()),
        ]
    ),
    "partner_reps": pa.schema(
        [
            ("partner_id", pa.string()),
            ("rep_id", pa.string()),
            ("join_d", pa.int32()),
            ("left_d", pa.int32()),
        ]
    ),
    "interactions": pa.schema(
        [
            ("partner_id", pa.string()),
            ("occ_d", pa.int32()),
            ("resp_d", pa.int32()),
            ("direction", pa.string()),
            ("kind", pa.string()),
            ("resp_hours", pa.float64()),
        ]
    ),
    "portal_views": pa.schema([("partner_id", pa.string()), ("view_d", pa.int32())]),
    "psm_assignments": pa.schema(
        [
            ("partner_id", pa.string()),
            ("psm_id", pa.string()),
            ("start_d", pa.int32()),
            ("end_d", pa.int32()),
        ]
    ),
}
"""The prepared input tables and their column types, ids still as text."""

US_PER_HOUR = 3_600_000_000
"""Microseconds in an hour (answer times are measured in hours)."""

CHUNK_ROWS = 4_000_000
"""Rows of a table prepared at a time (bounds the temporary columns of a slice)."""

ID_COLUMNS: dict[str, str] = {"partner_id": "partner", "rep_id": "rep", "psm_id": "psm"}
"""Id columns and their dictionary; inside the definitions ids are int32 codes."""


def coded_schema(name: str) -> pa.Schema:
    """The schema the definitions see: :data:`SCHEMAS` with ids as int32 codes."""
    return pa.schema(
        [
            pa.field(f.name, pa.int32()) if f.name in ID_COLUMNS else f
            for f in SCHEMAS[name]
        ]
    )


@dataclass
class Prepared:
    """Prepared Arrow inputs and the dictionaries that decode their id codes."""

    tables: dict[str, pa.Table]
    ids: dict[str, pa.Array]

    def decode(self, kind: str, codes: pd.Series) -> pd.Series:
        """The ids (str) of integer codes of dictionary ``kind``."""
        values = self.ids[kind].take(pa.array(codes.to_numpy(dtype="int64")))
        return pd.Series(values.to_pandas(), index=codes.index).astype("str")


def prepare_tables(
    dataset: Dataset, cutoffs: Sequence[pd.Timestamp], config: FeatureConfig
) -> Prepared:
    """The prepared inputs of the definitions, one Arrow table per present table.

    Parameters
    ----------
    dataset
        The validated dataset.
    cutoffs
        Sorted UTC cutoffs, each midnight in the dataset's zone.
    config
        The feature settings (the horizon decides which cutoffs are labeled).

    Returns
    -------
    Prepared
        ``cutoffs`` plus one Arrow table per contract table the dataset holds, ids
        replaced by int32 codes into sorted dictionaries (so codes do not depend on
        row order), and those dictionaries.

    Notes
    -----
    Tables are prepared in slices of :data:`CHUNK_ROWS` rows, each turned into Arrow
    and coded at once, so that beside the dataset only the prepared tables and one
    slice's temporary columns are held, however long the event logs are.
    """
    zone = dataset.timezone
    present = {n: dataset.tables[n] for n in _PREPARERS if dataset.has(n)}
    ids = _dictionaries(present)
    cutoff_frame = _cutoff_frame(cutoffs, zone, dataset.extract_time, config)
    tables = {
        "cutoffs": pa.Table.from_pandas(
            cutoff_frame, schema=SCHEMAS["cutoffs"], preserve_index=False
        )
    }
    for name, frame in present.items():
        parts = [
            _coded_slice(
                _PREPARERS[name](frame.iloc[i : i + CHUNK_ROWS], zone), name, ids
            )
            for i in range(0, len(frame), CHUNK_ROWS)
        ]
        tables[name] = (
            pa.concat_tables(parts, promote_options="permissive")
            if parts
            else _empty(name)
        )
    return Prepared(tables=tables, ids=ids)


def _empty(name: str) -> pa.Table:
    return coded_schema(name).empty_table()


def _dictionaries(frames: dict[str, pd.DataFrame]) -> dict[str, pa.Array]:
    """One sorted dictionary of the ids of each kind found in ``frames``."""
    ids: dict[str, pa.Array] = {}
    for column, kind in ID_COLUMNS.items():
        parts = [
            pc.unique(pa.array(frame[column], from_pandas=True)).cast(pa.string())
            for frame in frames.values()
            if column in frame.columns
        ]
        if not parts:
            ids[kind] = pa.array([], pa.string())
            continue
        values = pc.unique(pa.concat_arrays(parts)).drop_null()
        ids[kind] = values.take(pc.sort_indices(values))
    return ids


def _coded_slice(frame: pd.DataFrame, name: str, ids: dict[str, pa.Array]) -> pa.Table:
    """A prepared slice as Arrow, ids as dictionary codes.

    Text the dataset already holds as Arrow (pandas' default ``str``) is passed on
    as it is, a view of the dataset's own buffers instead of a copy; its type may
    then be ``large_string`` where :func:`coded_schema` says ``string``, which is
    the same text to DuckDB (other backends get :func:`coded_schema` exactly).
    """
    arrays = []
    for f in SCHEMAS[name]:
        if f.name in ID_COLUMNS:
            values = pa.array(frame[f.name], type=pa.string(), from_pandas=True)
            codes = pc.index_in(values, value_set=ids[ID_COLUMNS[f.name]])
            arrays.append(codes.cast(pa.int32()))
        elif pa.types.is_string(f.type):
            arrays.append(_text_array(frame[f.name]))
        else:
            arrays.append(pa.array(frame[f.name], type=f.type, from_pandas=True))
    return pa.Table.from_arrays(arrays, names=SCHEMAS[name].names)


def _text_array(values: pd.Series) -> pa.Array:
    """Text as Arrow, without a copy when pandas holds it as Arrow already."""
    array = pa.array(values, from_pandas=True)
    if pa.types.is_large_string(array.type) or pa.types.is_string(array.type):
        return array
    return array.cast(pa.string())


def _cutoff_frame(
    cutoffs: Sequence[pd.Timestamp],
    zone: str,
    extract_time: pd.Timestamp,
    config: FeatureConfig,
) -> pd.DataFrame:
    days = local_days(pd.Series(list(cutoffs), dtype="datetime64[us, UTC]"), zone)
    day_values = [int(d) for d in days]
    end = covered_until(extract_time)
    labeled = [day_instant(d + config.horizon_days, zone) <= end for d in day_values]
    months = [pd.Timestamp(c).tz_convert(zone).month for c in cutoffs]
    return pd.DataFrame(
        {
            "ci": np.arange(len(day_values), dtype=np.int32),
            "cut_day": np.asarray(day_values, dtype=np.int32),
            "cut_prev": np.asarray([NO_DAY, *day_values[:-1]], dtype=np.int32),
            "month": np.asarray(months, dtype=np.int32),
            "labeled": np.asarray(labeled, dtype=bool),
        }
    )


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    """A column, or an all-missing one when the optional column is absent."""
    if name in frame.columns:
        return frame[name]
    return pd.Series(np.nan, index=frame.index, dtype="object")


def _text(frame: pd.DataFrame, name: str) -> pd.Series:
    if name in frame.columns:
        return frame[name]
    return pd.Series([None] * len(frame), index=frame.index, dtype="object")


def _days(frame: pd.DataFrame, name: str, zone: str) -> pd.Series:
    values = _column(frame, name)
    if values.isna().all():
        return pd.Series(
            pd.array([None] * len(frame), dtype="Int32"), index=frame.index
        )
    return local_days(values, zone)


def _micros_between(frame: pd.DataFrame, start: str, end: str) -> pd.Series:
    """Whole microseconds from ``start`` to ``end`` (nullable ``Int64``).

    Integers, so that sums of them are exact and the same in any order: float sums
    that a backend adds in parallel differ in the last digit from run to run.
    """
    if end not in frame.columns or start not in frame.columns:
        return pd.Series(
            pd.array([None] * len(frame), dtype="Int64"), index=frame.index
        )
    first = pd.to_datetime(frame[start], utc=True).astype("datetime64[us, UTC]")
    last = pd.to_datetime(frame[end], utc=True).astype("datetime64[us, UTC]")
    raw = (last - first).to_numpy(
        dtype="timedelta64[us]", na_value=np.timedelta64("NaT")
    )
    mask = np.isnat(raw)
    values = raw.astype(np.int64)
    values[mask] = 0
    return pd.Series(pd.arrays.IntegerArray(values, mask), index=frame.index)


def _hours_between(frame: pd.DataFrame, start: str, end: str) -> pd.Series:
    micros = _micros_between(frame, start, end).astype("float64")
    return micros / US_PER_HOUR


def _prepare_deals(frame: pd.DataFrame, zone: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "partner_id": _text(frame, "partner_id"),
            "rep_id": _text(frame, "rep_id"),
            "reg_d": _days(frame, "registered_at", zone),
            "close_d": _days(frame, "closed_at", zone),
            "outcome": _text(frame, "outcome"),
            "cycle_us": _micros_between(frame, "registered_at", "closed_at"),
        }
    )


def _prepare_partners(frame: pd.DataFrame, zone: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "partner_id": _text(frame, "partner_id"),
            "tier": _text(frame, "tier"),
            "signed_d": _days(frame, "signed_at", zone),
            "term_d": _days(frame, "terminated_at", zone),
        }
    )


def _prepare_reps(frame: pd.DataFrame, zone: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "partner_id": _text(frame, "partner_id"),
            "rep_id": _text(frame, "rep_id"),
            "join_d": _days(frame, "joined_at", zone),
            "left_d": _days(frame, "left_at", zone),
        }
    )


def _prepare_interactions(frame: pd.DataFrame, zone: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "partner_id": _text(frame, "partner_id"),
            "occ_d": _days(frame, "occurred_at", zone),
            "resp_d": _days(frame, "responded_at", zone),
            "direction": _text(frame, "direction"),
            "kind": _text(frame, "kind"),
            "resp_hours": _hours_between(frame, "occurred_at", "responded_at"),
        }
    )


def _prepare_views(frame: pd.DataFrame, zone: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "partner_id": _text(frame, "partner_id"),
            "view_d": _days(frame, "viewed_at", zone),
        }
    )


def _prepare_psm(frame: pd.DataFrame, zone: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "partner_id": _text(frame, "partner_id"),
            "psm_id": _text(frame, "psm_id"),
            "start_d": _days(frame, "assigned_at", zone),
            "end_d": _days(frame, "unassigned_at", zone),
        }
    )


_PREPARERS = {
    "deals": _prepare_deals,
    "partners": _prepare_partners,
    "partner_reps": _prepare_reps,
    "interactions": _prepare_interactions,
    "portal_views": _prepare_views,
    "psm_assignments": _prepare_psm,
}
