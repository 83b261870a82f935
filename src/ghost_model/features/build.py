"""Build the point-in-time feature table on DuckDB (default) or on Spark."""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ghost_model.contract import STAGE_TABLES, STAGES, TABLES, TIMESTAMP_DTYPE
from ghost_model.dataset import Dataset
from ghost_model.errors import ConfigError, DataContractError
from ghost_model.features.catalogue import load_catalogue
from ghost_model.features.config import FeatureConfig
from ghost_model.features.cutoffs import normalise_cutoffs
from ghost_model.features.definitions import define_features, input_tables
from ghost_model.features.prepare import Prepared, prepare_tables

log = logging.getLogger(__name__)

OPTIONAL_TABLES: tuple[str, ...] = tuple(t for t in TABLES if t != "deals")
REP_COLUMNS_BOOL = ("on_roster", "departed", "ever_sold", "quiet")


@dataclass
class FeatureTable:
    """The model's table: one row per partner in the population at each cutoff.

    Attributes
    ----------
    frame
        ``partner_id`` (str), ``as_of`` (UTC cutoff), one column per feature
        (``tier`` is str, every other feature float64, missing as NaN) and ``label``
        (nullable Int8: 1 no deal in the horizon, 0 a deal, <NA> window not over).
    reps
        One row per (partner, rep, cutoff) for display: recent deals, days since the
        rep's last deal, tenure, roster state, whether the rep ever sold and whether
        the rep went quiet.
    feature_names
        The feature columns of ``frame``, in catalogue order.
    stages_without_data
        Stages whose source tables are all absent; they have no feature columns.
    """

    frame: pd.DataFrame
    reps: pd.DataFrame
    feature_names: list[str]
    stages_without_data: list[str] = field(default_factory=list)
    cutoffs: list[pd.Timestamp] = field(default_factory=list)


def build_feature_table(
    dataset: Dataset,
    cutoffs: Iterable[Any],
    config: FeatureConfig | None = None,
    *,
    backend: str | Any = "duckdb",
) -> FeatureTable:
    """Compute features and labels for every partner in the population at each cutoff.

    Parameters
    ----------
    dataset
        The validated dataset (canonical dtypes). Only ``deals`` is required.
    cutoffs
        Cutoff instants (UTC, midnight in the dataset's zone) or naive dates, which
        are read as midnight in the dataset's zone. See :func:`monthly_cutoffs`.
    config
        Windows, horizon, look-back, stall age; defaults to :class:`FeatureConfig`.
    backend
        ``"duckdb"`` (an in-memory DuckDB per call) or a connected Ibis backend such
        as ``ibis.pyspark.connect(spark_session)``; the definitions are the same.

    Returns
    -------
    FeatureTable
        The feature frame, the rep table, the feature names and the stages that have
        no data in this dataset.
    """
    started = time.perf_counter()
    config = config or FeatureConfig()
    if not dataset.has("deals"):
        raise DataContractError(
            f"{dataset.source or dataset.config.name}: the dataset has no table "
            "'deals'; it is the one table every feature table needs"
        )
    stamps = normalise_cutoffs(cutoffs, dataset.timezone)
    present = tuple(t for t in OPTIONAL_TABLES if dataset.has(t))
    missing = stages_without_data(present)
    for stage in missing:
        log.warning(
            "stage %s has no data: none of %s in the dataset; no features for it",
            stage,
            ", ".join(STAGE_TABLES[stage]),
        )
    prepared = prepare_tables(dataset, stamps, config)
    if isinstance(backend, str):
        if backend != "duckdb":
            raise ConfigError(
                f"backend={backend!r}: expected 'duckdb' or a connected Ibis backend "
                "such as ibis.pyspark.connect(spark)"
            )
        partners, reps = _run_duckdb(prepared.tables, present, config)
    else:
        partners, reps = _run_ibis(backend, prepared.tables, present, config)

    names = _feature_order(partners.column_names, config)
    frame = _finish_partners(partners, stamps, names, prepared)
    rep_frame = _finish_reps(reps, stamps, prepared)
    log.info(
        "built %d feature rows (%d features) for %d cutoffs in %.2f s",
        len(frame),
        len(names),
        len(stamps),
        time.perf_counter() - started,
    )
    return FeatureTable(
        frame=frame,
        reps=rep_frame,
        feature_names=names,
        stages_without_data=missing,
        cutoffs=stamps,
    )


def stages_without_data(present: Sequence[str]) -> list[str]:
    """The stages none of whose source tables is present (``deals`` always is)."""
    tables = {"deals", *present}
    return [s for s in STAGES if not tables.intersection(STAGE_TABLES[s])]


@functools.lru_cache(maxsize=32)
def compiled_sql(
    config: FeatureConfig, present: tuple[str, ...]
) -> tuple[tuple[str, str], ...]:
    """The DuckDB SQL of one build, compiled once per shape.

    Returns
    -------
    tuple of (str, str)
        ``(name, sql)`` in the order they run: the stored steps (each result is
        registered under its name for the queries after it), then ``partners`` and
        ``reps``.
    """
    definitions = define_features(input_tables(("deals", *present)), config)
    queries = [*definitions.steps]
    queries += [("partners", definitions.partners), ("reps", definitions.reps)]
    return tuple((name, str(ibis.to_sql(q, dialect="duckdb"))) for name, q in queries)


@functools.lru_cache(maxsize=1)
def _database() -> duckdb.DuckDBPyConnection:
    """One in-memory DuckDB per process; each build works on its own cursor."""
    con = duckdb.connect()
    # Inside Jupyter without ipywidgets DuckDB refuses to change this setting (it
    # draws no bar there either), so there is nothing to switch off.
    with contextlib.suppress(duckdb.InvalidInputException):
        con.execute("SET enable_progress_bar = false")
    return con


def _run_duckdb(
    prepared: dict[str, pa.Table], present: tuple[str, ...], config: FeatureConfig
) -> tuple[pa.Table, pa.Table]:
    *steps, (_, partner_sql), (_, rep_sql) = compiled_sql(config, present)
    con = _database().cursor()
    try:
        for name, table in prepared.items():
            con.register(f"gm_{name}", table)
        for name, sql in steps:
            con.register(name, con.sql(sql).to_arrow_table())
        partners = con.sql(partner_sql).to_arrow_table()
        reps = con.sql(rep_sql).to_arrow_table()
    finally:
        con.close()
    return partners, reps


def _run_ibis(
    backend: Any,
    prepared: dict[str, pa.Table],
    present: tuple[str, ...],
    config: FeatureConfig,
) -> tuple[pa.Table, pa.Table]:
    for name, table in prepared.items():
        _register(backend, f"gm_{name}", table)
    definitions = define_features(input_tables(("deals", *present)), config)
    for name, step in definitions.steps:
        _register(backend, name, backend.to_pyarrow(step))
    partners = backend.to_pyarrow(definitions.partners)
    reps = backend.to_pyarrow(definitions.reps)
    return partners, reps


def _register(backend: Any, name: str, table: pa.Table) -> None:
    """Make ``table`` visible to ``backend`` under ``name`` as a temporary view."""
    session = getattr(backend, "_session", None)
    if getattr(backend, "name", "") == "pyspark" and session is not None:
        # straight from Arrow: the pandas route loses nulls of integer columns
        session.createDataFrame(table).createOrReplaceTempView(name)
        return
    backend.create_view(name, ibis.memtable(table), overwrite=True)


def _feature_order(columns: Iterable[str], config: FeatureConfig) -> list[str]:
    catalogue = load_catalogue(config)
    built = [c for c in columns if c not in ("partner_id", "ci", "label")]
    unknown = sorted(set(built) - set(catalogue))
    if unknown:
        raise RuntimeError(f"feature columns without a catalogue entry: {unknown}")
    return [name for name in catalogue if name in set(built)]


def _as_of(ci: pa.ChunkedArray, stamps: Sequence[pd.Timestamp]) -> pd.Series:
    # take on the datetime array itself: no Timestamp object per row
    lookup = pd.Series(list(stamps), dtype=TIMESTAMP_DTYPE).array
    return pd.Series(lookup.take(ci.to_numpy().astype(np.int64)), dtype=TIMESTAMP_DTYPE)


def _sorted(raw: pa.Table, keys: Sequence[str]) -> pa.Table:
    return raw.take(pc.sort_indices(raw, [(k, "ascending") for k in keys]))


def _floats(column: pa.ChunkedArray) -> np.ndarray[Any, np.dtype[np.float64]]:
    """A numeric column as float64, missing as NaN."""
    values = pc.cast(column, pa.float64()).to_numpy()
    return np.asarray(values, dtype=np.float64)


def _finish_partners(
    raw: pa.Table,
    stamps: Sequence[pd.Timestamp],
    names: list[str],
    prepared: Prepared,
) -> pd.DataFrame:
    raw = _sorted(raw, ["ci", "partner_id"])
    columns: dict[str, Any] = {
        "partner_id": prepared.decode("partner", _codes(raw["partner_id"])),
        "as_of": _as_of(raw["ci"], stamps),
    }
    for name in names:
        if name == "tier":
            columns[name] = pd.Series(raw[name].to_pandas()).astype("str")
        else:
            columns[name] = _floats(raw[name])
    columns["label"] = pd.Series(raw["label"].to_pandas()).astype("Int8")
    return pd.DataFrame(columns)


def _finish_reps(
    raw: pa.Table, stamps: Sequence[pd.Timestamp], prepared: Prepared
) -> pd.DataFrame:
    raw = _sorted(raw, ["ci", "partner_id", "rep_id"])
    columns: dict[str, Any] = {
        "partner_id": prepared.decode("partner", _codes(raw["partner_id"])),
        "rep_id": prepared.decode("rep", _codes(raw["rep_id"])),
        "as_of": _as_of(raw["ci"], stamps),
    }
    for column in raw.column_names:
        if column in ("partner_id", "rep_id", "ci"):
            continue
        if column in REP_COLUMNS_BOOL:
            values = raw[column].to_numpy(zero_copy_only=False)
            columns[column] = np.asarray(values).astype("bool")
        else:
            columns[column] = _floats(raw[column])
    return pd.DataFrame(columns)


def _codes(column: pa.ChunkedArray) -> pd.Series:
    return pd.Series(column.to_numpy().astype(np.int64))
