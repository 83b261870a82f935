"""Build the point-in-time feature table on DuckDB (default) or on Spark."""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import ibis
import ibis.expr.operations as ops
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ghost_model.contract import STAGE_TABLES, STAGES, TABLES, TIMESTAMP_DTYPE
from ghost_model.dataset import Dataset, latest_cutoff
from ghost_model.errors import ConfigError, DataContractError
from ghost_model.features.catalogue import load_catalogue
from ghost_model.features.config import FeatureConfig
from ghost_model.features.cutoffs import normalise_cutoffs
from ghost_model.features.definitions import (
    REP_ROWS,
    define_features,
    input_tables,
)
from ghost_model.features.prepare import Prepared, coded_schema, prepare_tables

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
    features: Sequence[str] | None = None,
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
    features
        Only these feature columns (catalogue names) in ``frame``; the label is
        always there. The same definitions are compiled with the other columns left
        out, so the backend skips the work only they need; the values are those of
        the whole table. ``reps`` is built only when a chosen feature reads the rep
        rows, otherwise it is empty. ``None`` (default): every feature.

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
    _check_within_data(stamps, dataset)
    if not stamps:
        deals = len(dataset.table("deals"))
        why = (
            "regular cutoffs start after the first deal registration, so a dataset "
            f"needs at least one deal (this one has {deals})"
            if deals == 0
            else "the list of cutoffs is empty; pass at least one date, e.g. "
            "monthly_cutoffs(dataset), which has none when no period starts between "
            "the first deal and the extract"
        )
        raise ConfigError(
            f"{dataset.source or dataset.config.name}: no cutoff to build features "
            f"at; {why}"
        )
    present = tuple(t for t in OPTIONAL_TABLES if dataset.has(t))
    missing = stages_without_data(present)
    for stage in missing:
        log.warning(
            "stage %s has no data: none of %s in the dataset; no features for it",
            stage,
            ", ".join(STAGE_TABLES[stage]),
        )
    chosen = _chosen_features(features, present, config)
    if isinstance(backend, str) and backend != "duckdb":
        raise ConfigError(
            f"backend={backend!r}: expected 'duckdb' or a connected Ibis backend "
            "such as ibis.pyspark.connect(spark)"
        )
    prepared = prepare_tables(dataset, stamps, config)
    if isinstance(backend, str):
        partners, reps = _run_duckdb(prepared.tables, present, config, chosen)
    else:
        partners, reps = _run_ibis(backend, prepared.tables, present, config, chosen)
    # the inputs are no longer needed: free them before the results are finished
    prepared.tables.clear()

    names = _feature_order(partners.column_names, config)
    frame = _finish_partners(partners, stamps, names, prepared)
    del partners
    if reps is None:
        reps = _rep_schema(config, present).empty_table()
    rep_frame = _finish_reps(reps, stamps, prepared)
    log.info(
        "built %d feature rows (%d features) for %d cutoff%s in %.2f s",
        len(frame),
        len(names),
        len(stamps),
        "" if len(stamps) == 1 else "s",
        time.perf_counter() - started,
    )
    return FeatureTable(
        frame=frame,
        reps=rep_frame,
        feature_names=names,
        stages_without_data=missing,
        cutoffs=stamps,
    )


def _check_within_data(stamps: Sequence[pd.Timestamp], dataset: Dataset) -> None:
    """Refuse cutoffs after the data: every partner would look silent there."""
    latest = latest_cutoff(dataset.extract_time, dataset.timezone)
    late = [s for s in stamps if s > latest]
    if late:
        zone = dataset.timezone
        days = ", ".join(s.tz_convert(zone).date().isoformat() for s in late[:3])
        more = f" and {len(late) - 3} more" if len(late) > 3 else ""
        raise ConfigError(
            f"{dataset.source or dataset.config.name}: cutoffs {days}{more} lie "
            "after the data: the extract "
            f"({dataset.extract_time.isoformat()}) supports cutoffs up to "
            f"{latest.tz_convert(zone).date().isoformat()}; features there would "
            "count the days after the extract as silence"
        )


def _chosen_features(
    features: Sequence[str] | None, present: tuple[str, ...], config: FeatureConfig
) -> tuple[str, ...] | None:
    """The asked features in catalogue order, checked against the tables present."""
    if features is None:
        return None
    if isinstance(features, str):
        raise ConfigError(
            f"features={features!r}: expected a list of feature names, e.g. "
            f"[{features!r}]"
        )
    tables = {"deals", *present}
    catalogue = load_catalogue(config)
    available = [n for n, spec in catalogue.items() if tables.issuperset(spec.tables)]
    asked = set(features)
    wrong = sorted(asked - set(available))
    if wrong:
        unknown = [n for n in wrong if n not in catalogue]
        reason = (
            "not in the feature catalogue"
            if unknown
            else "its tables are not all in the dataset"
        )
        raise ConfigError(
            f"features={wrong!r}: {reason}; choose among the catalogue names whose "
            "tables the dataset holds (load_catalogue())"
        )
    if not asked:
        raise ConfigError("features=[]: expected at least one feature name, or None")
    return tuple(n for n in available if n in asked)


@functools.lru_cache(maxsize=32)
def _rep_schema(config: FeatureConfig, present: tuple[str, ...]) -> pa.Schema:
    """Columns of the rep display query (for the empty table of a pruned build)."""
    definitions = define_features(input_tables(("deals", *present)), config)
    return definitions.reps.schema().to_pyarrow()


def stages_without_data(present: Sequence[str]) -> list[str]:
    """The stages none of whose source tables is present (``deals`` always is)."""
    tables = {"deals", *present}
    return [s for s in STAGES if not tables.intersection(STAGE_TABLES[s])]


@functools.lru_cache(maxsize=32)
def compiled_sql(
    config: FeatureConfig,
    present: tuple[str, ...],
    features: tuple[str, ...] | None = None,
) -> tuple[tuple[str, str], ...]:
    """The DuckDB SQL of one build, compiled once per shape.

    Parameters
    ----------
    config
        The feature settings.
    present
        The optional tables the dataset holds.
    features
        Feature columns to keep (``None``: all of them).

    Returns
    -------
    tuple of (str, str)
        ``(name, sql)`` in the order they run: the stored steps (each result is
        registered under its name for the queries after it), then ``partners`` and
        ``reps``. With ``features``, a stored step no later query reads is left
        out, and so is ``reps`` when the rep rows are left out.
    """
    queries = _queries(config, present, features)
    compiled = [(name, str(ibis.to_sql(q, dialect="duckdb"))) for name, q in queries]
    return tuple(compiled)


def _queries(
    config: FeatureConfig, present: tuple[str, ...], features: tuple[str, ...] | None
) -> list[tuple[str, Any]]:
    """The Ibis queries of one build in running order, pruned to ``features``.

    With a subset, a stored step is kept only when the pruned partner query reads
    it, directly or through a kept step; the rep display is left out with the rep
    rows.
    """
    definitions = define_features(input_tables(("deals", *present)), config)
    partners, reps = definitions.partners, definitions.reps
    if features is None:
        return [*definitions.steps, ("partners", partners), ("reps", reps)]
    partners = _pruned(partners, ("partner_id", "ci", *features, "label"))
    # a step reads only the steps before it: walk back from the partner query
    read = _tables_read(partners)
    kept: list[tuple[str, Any]] = []
    for name, step in reversed(definitions.steps):
        if name in read:
            kept.append((name, step))
            read |= _tables_read(step)
    steps = kept[::-1]
    queries = [*steps, ("partners", partners)]
    if REP_ROWS in read:
        queries.append(("reps", reps))
    return queries


def _tables_read(query: ir.Table) -> set[str]:
    """Names of the input tables and stored steps ``query`` reads."""
    return {t.name for t in query.op().find(ops.UnboundTable)}


def _pruned(query: ir.Table, columns: tuple[str, ...]) -> ir.Table:
    """The ``columns`` of ``query`` without the left joins none of them reads.

    The partner query selects its columns from one chain of left joins onto the
    population, each joined block holding one row per partner and cutoff, so a
    block no chosen column reads changes no row and can be left out. Any other
    shape is only narrowed to ``columns``.
    """
    project = query.op()
    chain = getattr(project, "parent", None)
    if not isinstance(project, ops.Project) or not isinstance(chain, ops.JoinChain):
        return query.select(*columns)
    project = project.copy(values={c: project.values[c] for c in columns})
    used = {
        f.name
        for value in project.values.values()
        for f in value.find(ops.Field)
        if f.rel == chain
    }
    sources = {
        chain.values[name].rel.identifier
        for name in used
        if isinstance(chain.values[name], ops.Field)
    }
    if any(link.how != "left" for link in chain.rest):
        return project.to_expr()
    kept = tuple(link for link in chain.rest if link.table.identifier in sources)
    values = {
        name: value
        for name, value in chain.values.items()
        if not isinstance(value, ops.Field)
        or value.rel.identifier in sources | {chain.first.identifier}
    }
    smaller = chain.copy(rest=kept, values=values)
    return project.replace({chain: smaller}).to_expr()


@functools.lru_cache(maxsize=1)
def _database() -> duckdb.DuckDBPyConnection:
    """One in-memory DuckDB per process; each build works on its own cursor."""
    con = duckdb.connect()
    # Inside Jupyter without ipywidgets DuckDB refuses to change this setting (it
    # draws no bar there either), so there is nothing to switch off.
    with contextlib.suppress(duckdb.InvalidInputException):
        con.execute("SET enable_progress_bar = false")
    # hand memory freed by one query back to the system instead of keeping it
    # cached for the next one: the next query's peak then starts lower
    con.execute("SET allocator_background_threads = true")
    return con


def _run_duckdb(
    prepared: dict[str, pa.Table],
    present: tuple[str, ...],
    config: FeatureConfig,
    features: tuple[str, ...] | None,
) -> tuple[pa.Table, pa.Table | None]:
    queries = dict(compiled_sql(config, present, features))
    partner_sql, rep_sql = queries.pop("partners"), queries.pop("reps", None)
    con = _database().cursor()
    try:
        for name, table in prepared.items():
            con.register(f"gm_{name}", table)
        for name, sql in queries.items():
            con.register(name, con.sql(sql).to_arrow_table())
        partners = con.sql(partner_sql).to_arrow_table()
        reps = None if rep_sql is None else con.sql(rep_sql).to_arrow_table()
    finally:
        con.close()
    return partners, reps


def _run_ibis(
    backend: Any,
    prepared: dict[str, pa.Table],
    present: tuple[str, ...],
    config: FeatureConfig,
    features: tuple[str, ...] | None,
) -> tuple[pa.Table, pa.Table | None]:
    for name, table in prepared.items():
        _register(backend, f"gm_{name}", table.cast(coded_schema(name)))
    queries = dict(_queries(config, present, features))
    partners, reps = queries.pop("partners"), queries.pop("reps", None)
    for name, step in queries.items():
        _register(backend, name, backend.to_pyarrow(step))
    return backend.to_pyarrow(partners), (
        None if reps is None else backend.to_pyarrow(reps)
    )


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


def _sorted(raw: pa.Table, keys: Sequence[str]) -> Callable[[str], pa.ChunkedArray]:
    """A reader of the columns of ``raw`` sorted by ``keys``.

    Each column is taken in order when it is read, so a finish holds one sorted
    column beside the result rather than a sorted copy of the whole table.
    """
    order = pc.sort_indices(raw, [(k, "ascending") for k in keys])
    return lambda name: raw[name].take(order)


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
    column = _sorted(raw, ["ci", "partner_id"])
    columns: dict[str, Any] = {
        "partner_id": prepared.decode("partner", _codes(column("partner_id"))),
        "as_of": _as_of(column("ci"), stamps),
    }
    for name in names:
        if name == "tier":
            columns[name] = pd.Series(column(name).to_pandas()).astype("str")
        else:
            columns[name] = _floats(column(name))
    columns["label"] = pd.Series(column("label").to_pandas()).astype("Int8")
    return pd.DataFrame(columns)


def _finish_reps(
    raw: pa.Table, stamps: Sequence[pd.Timestamp], prepared: Prepared
) -> pd.DataFrame:
    column = _sorted(raw, ["ci", "partner_id", "rep_id"])
    columns: dict[str, Any] = {
        "partner_id": prepared.decode("partner", _codes(column("partner_id"))),
        "rep_id": prepared.decode("rep", _codes(column("rep_id"))),
        "as_of": _as_of(column("ci"), stamps),
    }
    for name in raw.column_names:
        if name in ("partner_id", "rep_id", "ci"):
            continue
        if name in REP_COLUMNS_BOOL:
            values = column(name).to_numpy(zero_copy_only=False)
            columns[name] = np.asarray(values).astype("bool")
        else:
            columns[name] = _floats(column(name))
    return pd.DataFrame(columns)


def _codes(column: pa.ChunkedArray) -> pd.Series:
    return pd.Series(column.to_numpy().astype(np.int64))
