"""Column mapping: shape a real export's files into the contract tables.

Real exports rarely use the contract's names. A mapping, written in YAML, says where
each contract table comes from. It is either a file of its own::

    name: online-retail-ii
    timezone: Europe/London              # naive timestamps are read in this zone
    extract_time: 2011-12-10T00:00:00
    data_dir: .                          # where the files are, relative to this file
    tables:
      deals:
        files:
          - path: year-1.parquet
            rename: {Invoice: invoice, Customer ID: customer}
          - path: year-2.csv
            rename: {InvoiceNo: invoice, CustomerID: customer}
            filter:
              - {column: InvoiceDate, op: ">=", value: 2010-12-10}
        filter:
          - {column: customer, op: not null}
          - {column: invoice, op: not startswith, value: C}
        columns:
          deal_id: invoice                           # a column, as is
          partner_id: customer                       # 12345.0 becomes "12345"
          registered_at: {column: InvoiceDate, time_format: "%Y-%m-%d %H:%M:%S"}
          amount: {product: [Quantity, Price]}
        aggregate:
          by: deal_id
          columns: {partner_id: unique, registered_at: min, amount: sum}

or the ``mapping`` key of ``dataset.yaml`` (which then states ``timezone`` and
``extract_time`` itself), holding the ``tables`` and ``data_dir`` inline or naming a
mapping file with ``mapping: {file: export-mapping.yaml}``.

Each table is built in this order:

1. every file (CSV read as text, or Parquet) is read, its ``rename`` applied and its own
   ``filter`` kept rows only; the files are then concatenated;
2. the table's ``filter`` keeps rows only (conditions on source columns, all must hold);
3. each contract column is built from one of ``column`` (a source column), ``template``
   (``"{agent} @ {account}"``, several columns), ``value`` (a constant) or ``product``
   (columns multiplied), then optionally passed through ``map`` (a value map, e.g. CRM
   stage names to ``won``/``lost``/``open``; ``unmapped: error | keep | null``), and
   blanked where its ``when`` conditions fail. Values are converted to the contract
   column's kind: ids and categories to text, timestamps parsed (``time_format``),
   numbers to floats. Columns whose name starts with ``_`` are helpers (``as: id |
   timestamp | number | text``) used for ordering or aggregation, never output;
4. ``aggregate`` folds rows into one per ``by`` key with one reducer per column
   (``first``, ``last``, ``min``, ``max``, ``sum``, ``count`` or ``unique``, which
   insists that every row of a group agrees), after sorting on ``order_by``.

A filter condition is ``{column, op, value}`` with ``op`` one of ``==``, ``!=``, ``<``,
``<=``, ``>``, ``>=``, ``in``, ``not in``, ``null``, ``not null``, ``startswith``,
``not startswith``; a date value compares the column as timestamps. Rows with no value
for an aggregation key are passed on unchanged, so that validation quarantines them with
a reason instead of their vanishing here.

The built frames go to :func:`ghost_model.loaders.validate_tables`, which applies the
contract (time zone, duplicates, intervals, extract time). A mapping that does not fit
its export raises :class:`~ghost_model.errors.MappingError` naming the file, the column
and the mapping key.
"""

from __future__ import annotations

import datetime as dt
import logging
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from ghost_model.contract import TABLES
from ghost_model.dataset import DATASET_FILE, Dataset, DatasetConfig
from ghost_model.errors import DataContractError, MappingError

logger = logging.getLogger(__name__)

TOP_KEYS = frozenset({"name", "timezone", "extract_time", "data_dir", "tables"})
TABLE_KEYS = frozenset({"files", "filter", "columns", "aggregate"})
FILE_KEYS = frozenset({"path", "rename", "filter", "read"})
SOURCE_KEYS = ("column", "template", "value", "product")
COLUMN_KEYS = frozenset({*SOURCE_KEYS, "map", "unmapped", "time_format", "when", "as"})
CONDITION_KEYS = frozenset({"column", "op", "value", "time_format"})
AGGREGATE_KEYS = frozenset({"by", "order_by", "columns"})
REDUCERS = frozenset({"first", "last", "min", "max", "sum", "count", "unique"})
HELPER_KINDS = frozenset({"id", "timestamp", "number", "text"})
UNMAPPED = frozenset({"error", "keep", "null"})
CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")

_FILE = "__file"
_ROW = "__row"


@dataclass
class MappedTables:
    """Contract tables built by a mapping, before validation.

    Attributes
    ----------
    tables
        Raw contract frames by table name (contract column names, mapped dtypes).
    sources
        For each table, the files it was read from, for messages.
    row_counts
        For each table: ``read`` source rows, ``kept`` after the filters and
        ``mapped`` rows handed on (after aggregation).
    """

    tables: dict[str, pd.DataFrame]
    sources: dict[str, str]
    row_counts: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Context:
    """Where a table is being built, for reading files and for messages."""

    mapping_file: str
    data_dir: Path
    timezone: str


def load_mapped_dataset(
    mapping_file: str | Path,
    *,
    quarantine: bool = False,
    quarantine_dir: Path | None = None,
    data_dir: str | Path | None = None,
) -> Dataset:
    """Read a real export through its column mapping and validate it.

    Parameters
    ----------
    mapping_file
        A mapping YAML file, a ``dataset.yaml`` with a ``mapping`` key, or the folder
        holding that ``dataset.yaml``.
    quarantine
        Set aside rows that break the contract (with a reason each) instead of
        raising on the first one.
    quarantine_dir
        Where the validator writes quarantined rows (``<table>.csv``); default: a
        ``quarantine`` folder beside ``dataset.yaml``, and for a mapping file of its
        own none (quarantined rows are then only logged).
    data_dir
        Folder of the export's files; overrides the mapping's ``data_dir``.

    Returns
    -------
    Dataset
        The validated contract tables.
    """
    from ghost_model.loaders import validate_tables

    config, body, base_dir = read_mapping(mapping_file)
    folder = Path(data_dir) if data_dir is not None else base_dir
    mapped = map_tables(body, config, data_dir=folder, mapping_file=str(mapping_file))
    if quarantine_dir is None:
        quarantine_dir = _default_quarantine_dir(Path(mapping_file))
    dataset: Dataset = validate_tables(
        mapped.tables,
        config,
        sources=mapped.sources,
        quarantine=quarantine,
        quarantine_dir=quarantine_dir,
    )
    dataset.source = str(mapping_file)
    return dataset


def _default_quarantine_dir(path: Path) -> Path | None:
    """Beside ``dataset.yaml`` (as for a folder of tables); none for a mapping file."""
    if path.is_dir():
        return path / "quarantine"
    if path.name == DATASET_FILE:
        return path.parent / "quarantine"
    return None


def read_mapping(path: str | Path) -> tuple[DatasetConfig, dict[str, Any], Path]:
    """Read a mapping file, or a ``dataset.yaml`` that holds or names one.

    Parameters
    ----------
    path
        The mapping file, ``dataset.yaml``, or a folder holding ``dataset.yaml``.

    Returns
    -------
    tuple
        The dataset configuration, the mapping body (``tables`` and ``data_dir``) and
        the folder the export's files are in.
    """
    path = Path(path)
    if path.is_dir():
        path = path / DATASET_FILE
    raw = _read_yaml(path, "mapping file")
    if "mapping" in raw:
        body, body_file, base_dir = _mapping_body(raw["mapping"], path)
        settings = {k: v for k, v in raw.items() if k != "mapping"}
        kept = raw["mapping"]
    else:
        _check_keys(raw, TOP_KEYS, str(path), "top level")
        body, body_file = raw, path
        settings = {k: raw[k] for k in ("name", "timezone", "extract_time") if k in raw}
        base_dir = path.parent / str(raw.get("data_dir", "."))
        kept = {k: v for k, v in raw.items() if k in ("data_dir", "tables")}
    _check_keys(body, TOP_KEYS, str(body_file), "top level")
    settings.setdefault("name", body.get("name", path.parent.name))
    try:
        config = DatasetConfig.from_mapping({**settings, "mapping": kept}, str(path))
    except DataContractError as exc:
        raise MappingError(str(exc)) from exc
    return config, body, base_dir.resolve()


def map_tables(
    mapping: Mapping[str, Any],
    config: DatasetConfig,
    *,
    data_dir: Path,
    mapping_file: str = "mapping",
) -> MappedTables:
    """Build the raw contract tables a mapping describes.

    Parameters
    ----------
    mapping
        The mapping body: a ``tables`` key with one entry per contract table.
    config
        The dataset configuration (its time zone reads naive filter dates).
    data_dir
        Folder the mapping's file paths are relative to.
    mapping_file
        Name of the mapping, used in messages.

    Returns
    -------
    MappedTables
        Raw frames, their sources and row counts, ready for validation.
    """
    tables = mapping.get("tables")
    if not isinstance(tables, dict) or not tables:
        raise MappingError(
            f"{mapping_file}: key 'tables' must map contract table names "
            f"({', '.join(TABLES)}) to their sources, got {tables!r}"
        )
    ctx = _Context(mapping_file, data_dir, config.timezone)
    out = MappedTables(tables={}, sources={})
    for name, spec in tables.items():
        if name not in TABLES:
            raise MappingError(
                f"{mapping_file}: tables.{name}: {name!r} is not a contract table; "
                f"use one of {', '.join(TABLES)}"
            )
        frame, sources, counts = _build_table(name, spec, ctx)
        out.tables[name] = frame
        out.sources[name] = f"{mapping_file} <- {sources}"
        out.row_counts[name] = counts
        logger.info(
            "mapped %s: %d source rows, %d kept, %d rows",
            name,
            counts["read"],
            counts["kept"],
            counts["mapped"],
        )
    return out


# Reading the mapping


def _read_yaml(path: Path, what: str) -> dict[str, Any]:
    if not path.is_file():
        raise MappingError(f"{path}: {what} not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise MappingError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise MappingError(f"{path}: expected a YAML mapping at the top, got {raw!r}")
    return raw


def _mapping_body(value: Any, dataset_file: Path) -> tuple[dict[str, Any], Path, Path]:
    """The mapping held or named by ``dataset.yaml``, and where the files are.

    The export's files lie beside ``dataset.yaml`` unless ``data_dir`` says otherwise
    (relative to ``dataset.yaml``), also when the mapping itself is another file.
    """
    if not isinstance(value, dict):
        raise MappingError(
            f"{dataset_file}: key 'mapping' must hold 'tables' or name a file with "
            f"'file: <mapping.yaml>', got {value!r}"
        )
    base_dir = dataset_file.parent / str(value.get("data_dir", "."))
    if "file" not in value:
        return value, dataset_file, base_dir
    _check_keys(value, frozenset({"file", "data_dir"}), str(dataset_file), "mapping")
    body_file = dataset_file.parent / str(value["file"])
    body = _read_yaml(body_file, "mapping file named by mapping.file")
    return body, body_file, base_dir


def _check_keys(spec: Any, allowed: frozenset[str], where: str, key: str) -> None:
    if not isinstance(spec, dict):
        raise MappingError(f"{where}: {key}: expected a mapping, got {spec!r}")
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise MappingError(
            f"{where}: {key}: unknown key(s) {unknown}; allowed: {sorted(allowed)}"
        )


def _as_list(value: Any, where: str, key: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    raise MappingError(f"{where}: {key}: expected a list, got {value!r}")


# Building one table


def _build_table(
    name: str, spec: Any, ctx: _Context
) -> tuple[pd.DataFrame, str, dict[str, int]]:
    key = f"tables.{name}"
    _check_keys(spec, TABLE_KEYS, ctx.mapping_file, key)
    columns = spec.get("columns")
    if not isinstance(columns, dict) or not columns:
        raise MappingError(
            f"{ctx.mapping_file}: {key}.columns: map each contract column of {name!r} "
            f"({', '.join(TABLES[name].column_names)}) to its source"
        )
    _check_columns(name, columns, ctx)

    needed = _referenced_columns(spec)
    frame, files, read = _read_sources(spec.get("files"), needed, key, ctx)
    conditions = _as_list(spec.get("filter"), ctx.mapping_file, f"{key}.filter")
    frame = _apply_filters(frame, conditions, f"{key}.filter", ctx)
    kept = len(frame)

    built = _build_columns(name, frame, columns, key, ctx)
    if spec.get("aggregate") is not None:
        built = _aggregate(built, spec["aggregate"], columns, f"{key}.aggregate", ctx)
    output = [c for c in TABLES[name].column_names if c in built.columns]
    result = built[output].reset_index(drop=True)
    return (
        result,
        " + ".join(files),
        {"read": read, "kept": kept, "mapped": len(result)},
    )


def _check_columns(name: str, columns: dict[str, Any], ctx: _Context) -> None:
    table = TABLES[name]
    for column in columns:
        if not column.startswith("_") and column not in table.column_names:
            raise MappingError(
                f"{ctx.mapping_file}: tables.{name}.columns.{column}: {column!r} is "
                f"not a column of {name!r}; use one of {', '.join(table.column_names)} "
                "(or start a helper column's name with '_')"
            )
    missing = [c for c in table.required_columns if c not in columns]
    if missing:
        raise MappingError(
            f"{ctx.mapping_file}: tables.{name}.columns: required contract column(s) "
            f"{missing} not mapped; add e.g. '{missing[0]}: <source column>'"
        )


def _referenced_columns(spec: dict[str, Any]) -> set[str]:
    """Source columns the table's filter and column specs read."""
    names: set[str] = set()
    for cond in spec.get("filter") or []:
        if isinstance(cond, dict) and "column" in cond:
            names.add(str(cond["column"]))
    for column_spec in (spec.get("columns") or {}).values():
        names.update(_spec_sources(column_spec))
    return names


def _spec_sources(spec: Any) -> set[str]:
    if isinstance(spec, str):
        return {spec}
    if not isinstance(spec, dict):
        return set()
    names: set[str] = set()
    if "column" in spec:
        names.add(str(spec["column"]))
    if "template" in spec:
        names.update(_template_fields(str(spec["template"])))
    if isinstance(spec.get("product"), list):
        names.update(str(c) for c in spec["product"])
    for cond in spec.get("when") or []:
        if isinstance(cond, dict) and "column" in cond:
            names.add(str(cond["column"]))
    return names


# Reading files


def _read_sources(
    files: Any, needed: set[str], key: str, ctx: _Context
) -> tuple[pd.DataFrame, list[str], int]:
    entries = _as_list(files, ctx.mapping_file, f"{key}.files")
    if not entries:
        raise MappingError(
            f"{ctx.mapping_file}: {key}.files: name at least one CSV or Parquet file"
        )
    frames: list[pd.DataFrame] = []
    names: list[str] = []
    read = 0
    for index, entry in enumerate(entries):
        frame, name, rows = _read_source(entry, needed, f"{key}.files[{index}]", ctx)
        frames.append(frame)
        names.append(name)
        read += rows
    combined = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return combined, names, read


def _read_source(
    entry: Any, needed: set[str], key: str, ctx: _Context
) -> tuple[pd.DataFrame, str, int]:
    if isinstance(entry, str):
        entry = {"path": entry}
    _check_keys(entry, FILE_KEYS, ctx.mapping_file, key)
    if "path" not in entry:
        raise MappingError(f"{ctx.mapping_file}: {key}: 'path' of the file is missing")
    path = ctx.data_dir / str(entry["path"])
    options = _reader_options(entry.get("read"), key, ctx)
    rename = _renames(entry.get("rename"), f"{key}.rename", ctx)
    conditions = _as_list(entry.get("filter"), ctx.mapping_file, f"{key}.filter")

    header = _read_header(path, options, key, ctx)
    absent = [c for c in rename if c not in header]
    if absent:
        raise MappingError(
            f"{path.name}: column(s) {absent} not found (mapping {ctx.mapping_file}, "
            f"{key}.rename); the file has {header}"
        )
    renamed = [rename.get(c, c) for c in header]
    filtered_on = {str(c.get("column")) for c in conditions if isinstance(c, dict)}
    missing = sorted(needed - set(renamed))
    if missing:
        raise MappingError(
            f"{path.name}: column(s) {missing} not found (mapping {ctx.mapping_file}, "
            f"used by {key.rsplit('.files', 1)[0]}); the file has {header}; fix the "
            f"names or add a rename to {key}"
        )
    wanted = needed | filtered_on
    usecols = [c for c, new in zip(header, renamed, strict=True) if new in wanted]
    frame = _read_file(path, usecols, options, key, ctx).rename(columns=rename)
    rows = len(frame)

    frame[_FILE] = path.name
    frame[_ROW] = np.arange(rows, dtype=np.int64)
    frame = _apply_filters(frame, conditions, f"{key}.filter", ctx)
    return frame, path.name, rows


def _reader_options(options: Any, key: str, ctx: _Context) -> dict[str, Any]:
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise MappingError(
            f"{ctx.mapping_file}: {key}.read: expected CSV reader options such as "
            f"{{sep: ';', encoding: cp1252}}, got {options!r}"
        )
    return options


def _renames(rename: Any, key: str, ctx: _Context) -> dict[str, str]:
    if rename is None:
        return {}
    if not isinstance(rename, dict):
        raise MappingError(
            f"{ctx.mapping_file}: {key}: expected {{source name: new name}}, "
            f"got {rename!r}"
        )
    return {str(k): str(v) for k, v in rename.items()}


def _file_kind(path: Path, key: str, ctx: _Context) -> str:
    if not path.is_file():
        raise MappingError(
            f"{path}: file not found (mapping {ctx.mapping_file}, {key}.path); check "
            "the path and the mapping's data_dir"
        )
    name = path.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    raise MappingError(
        f"{path}: unknown file type (mapping {ctx.mapping_file}, {key}.path); use a "
        f"CSV ({', '.join(CSV_SUFFIXES)}) or Parquet file"
    )


def _read_header(
    path: Path, options: dict[str, Any], key: str, ctx: _Context
) -> list[str]:
    kind = _file_kind(path, key, ctx)
    try:
        if kind == "parquet":
            return [str(c) for c in pq.read_schema(path).names]
        head = cast(pd.DataFrame, pd.read_csv(path, dtype=str, nrows=0, **options))
    except (OSError, ValueError, TypeError, pa.ArrowException) as exc:
        raise MappingError(
            f"{path}: cannot be read (mapping {ctx.mapping_file}, {key}): {exc}"
        ) from exc
    return [str(c) for c in head.columns]


def _read_file(
    path: Path, usecols: list[str], options: dict[str, Any], key: str, ctx: _Context
) -> pd.DataFrame:
    try:
        if _file_kind(path, key, ctx) == "parquet":
            frame = pd.read_parquet(path, columns=usecols)
        else:
            frame = cast(
                pd.DataFrame,
                pd.read_csv(path, dtype=str, usecols=usecols, **options),
            )
    except (OSError, ValueError, TypeError, pa.ArrowException) as exc:
        raise MappingError(
            f"{path}: cannot be read (mapping {ctx.mapping_file}, {key}): {exc}"
        ) from exc
    logger.debug("read %s: %d rows, columns %s", path, len(frame), usecols)
    return frame


# Filters


def _apply_filters(
    frame: pd.DataFrame, conditions: list[Any], key: str, ctx: _Context
) -> pd.DataFrame:
    if not conditions:
        return frame
    keep = pd.Series(True, index=frame.index)
    for index, cond in enumerate(conditions):
        mask = _condition_mask(frame, cond, f"{key}[{index}]", ctx)
        logger.info(
            "mapping filter %s (%s %s %s) dropped %d of %d rows",
            key,
            cond.get("column"),
            cond.get("op"),
            cond.get("value", ""),
            int((keep & ~mask).sum()),
            int(keep.sum()),
        )
        keep &= mask
    return frame[keep]


_COMPARE: dict[str, Callable[[pd.Series, Any], pd.Series]] = {
    "==": lambda s, v: s == v,
    "!=": lambda s, v: s != v,
    "<": lambda s, v: s < v,
    "<=": lambda s, v: s <= v,
    ">": lambda s, v: s > v,
    ">=": lambda s, v: s >= v,
}
_NO_VALUE_OPS = frozenset({"null", "not null"})
_ALL_OPS = (*_COMPARE, "in", "not in", "null", "not null", "startswith")


def _condition_mask(
    frame: pd.DataFrame, cond: Any, key: str, ctx: _Context
) -> pd.Series:
    _check_keys(cond, CONDITION_KEYS, ctx.mapping_file, key)
    column, op = cond.get("column"), cond.get("op")
    if column not in frame.columns:
        files = sorted(frame[_FILE].unique()) if _FILE in frame.columns else []
        raise MappingError(
            f"{', '.join(files) or 'source'}: no column {column!r} to filter on "
            f"(mapping {ctx.mapping_file}, {key}.column); available: "
            f"{[c for c in frame.columns if not c.startswith('__')]}"
        )
    if op not in (*_ALL_OPS, "not startswith"):
        raise MappingError(
            f"{ctx.mapping_file}: {key}.op: {op!r} is not a filter operator; use one "
            f"of {[*_ALL_OPS, 'not startswith']}"
        )
    if op not in _NO_VALUE_OPS and "value" not in cond:
        raise MappingError(f"{ctx.mapping_file}: {key}: operator {op!r} needs a value")
    series, value = _comparable(frame, str(column), cond, key, ctx)
    return _evaluate(series, str(op), value).fillna(False).astype(bool)


def _evaluate(series: pd.Series, op: str, value: Any) -> pd.Series:
    if op in _COMPARE:
        return _COMPARE[op](series, value)
    if op in ("in", "not in"):
        values = value if isinstance(value, list) else [value]
        inside = series.isin(values)
        return ~inside & series.notna() if op == "not in" else inside
    if op == "null":
        return series.isna()
    if op == "not null":
        return series.notna()
    starts = series.astype("str").str.startswith(str(value), na=False)
    return ~starts if op == "not startswith" else starts


def _comparable(
    frame: pd.DataFrame, column: str, cond: dict[str, Any], key: str, ctx: _Context
) -> tuple[pd.Series, Any]:
    series = frame[column]
    value = cond.get("value")
    probe = value[0] if isinstance(value, list) and value else value
    if isinstance(probe, dt.date) or "time_format" in cond:
        times = _parse_times(series, cond.get("time_format"), key, ctx, frame)
        return times, _filter_instant(value, times, ctx.timezone)
    if _is_number(probe) and not pd.api.types.is_numeric_dtype(series):
        return pd.to_numeric(series, errors="coerce"), value
    if isinstance(probe, str) and pd.api.types.is_numeric_dtype(series):
        return _to_text(series), value
    return series, value


def _filter_instant(value: Any, times: pd.Series, timezone: str) -> Any:
    if isinstance(value, list):
        return [_filter_instant(v, times, timezone) for v in value]
    stamp = pd.Timestamp(value)
    aware = isinstance(times.dtype, pd.DatetimeTZDtype)
    if aware and stamp.tzinfo is None:
        stamp = stamp.tz_localize(timezone)
    if not aware and stamp.tzinfo is not None:
        stamp = stamp.tz_convert(timezone).tz_localize(None)
    return stamp


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# Building columns


def _build_columns(
    table: str,
    frame: pd.DataFrame,
    columns: dict[str, Any],
    key: str,
    ctx: _Context,
) -> pd.DataFrame:
    built = pd.DataFrame(index=frame.index)
    for name, spec in columns.items():
        where = f"{key}.columns.{name}"
        kind = _column_kind(table, name, spec, where, ctx)
        built[name] = _build_column(frame, spec, kind, where, ctx)
    return built


def _column_kind(table: str, name: str, spec: Any, where: str, ctx: _Context) -> str:
    if not name.startswith("_"):
        kind = TABLES[table].column(name).kind
        return "text" if kind in ("category", "text") else kind
    declared = spec.get("as", "text") if isinstance(spec, dict) else "text"
    if declared not in HELPER_KINDS:
        raise MappingError(
            f"{ctx.mapping_file}: {where}.as: {declared!r} is not a helper column "
            f"kind; use one of {sorted(HELPER_KINDS)}"
        )
    return str(declared)


def _build_column(
    frame: pd.DataFrame, spec: Any, kind: str, where: str, ctx: _Context
) -> pd.Series:
    if isinstance(spec, str):
        spec = {"column": spec}
    _check_keys(spec, COLUMN_KEYS, ctx.mapping_file, where)
    chosen = [k for k in SOURCE_KEYS if k in spec]
    if len(chosen) != 1:
        raise MappingError(
            f"{ctx.mapping_file}: {where}: give exactly one of {list(SOURCE_KEYS)}, "
            f"got {chosen or 'none'}"
        )
    values = _source_values(frame, spec, chosen[0], where, ctx)
    if "map" in spec:
        values = _map_values(frame, values, spec, where, ctx)
    values = _convert(frame, values, kind, spec.get("time_format"), where, ctx)
    if spec.get("when"):
        conditions = _as_list(spec["when"], ctx.mapping_file, f"{where}.when")
        keep = pd.Series(True, index=frame.index)
        for index, cond in enumerate(conditions):
            keep &= _condition_mask(frame, cond, f"{where}.when[{index}]", ctx)
        values = values.where(keep)
    return values


def _source_values(
    frame: pd.DataFrame, spec: dict[str, Any], source: str, where: str, ctx: _Context
) -> pd.Series:
    if source == "column":
        return frame[str(spec["column"])]
    if source == "value":
        value = spec["value"]
        if isinstance(value, dt.date):
            value = pd.Timestamp(value)
        return pd.Series([value] * len(frame), index=frame.index)
    if source == "template":
        return _fill_template(frame, str(spec["template"]))
    factors = spec["product"]
    if not isinstance(factors, list) or len(factors) < 2:
        raise MappingError(
            f"{ctx.mapping_file}: {where}.product: list two or more numeric columns "
            f"to multiply, got {factors!r}"
        )
    result = pd.Series(1.0, index=frame.index)
    for factor in factors:
        where_factor = f"{where}.product ({factor!r})"
        result = result * _to_number(frame, frame[str(factor)], where_factor, ctx)
    return result


def _template_fields(template: str) -> list[str]:
    return [f for _, f, _, _ in string.Formatter().parse(template) if f]


def _fill_template(frame: pd.DataFrame, template: str) -> pd.Series:
    result = pd.Series("", index=frame.index, dtype="str")
    for literal, name, _, _ in string.Formatter().parse(template):
        result = result + literal
        if name:
            result = result + _to_text(frame[name])
    return result


def _map_values(
    frame: pd.DataFrame,
    values: pd.Series,
    spec: dict[str, Any],
    where: str,
    ctx: _Context,
) -> pd.Series:
    table = spec["map"]
    if not isinstance(table, dict):
        raise MappingError(
            f"{ctx.mapping_file}: {where}.map: expected {{source value: contract "
            f"value}}, got {table!r}"
        )
    unmapped = spec.get("unmapped", "error")
    if unmapped not in UNMAPPED:
        raise MappingError(
            f"{ctx.mapping_file}: {where}.unmapped: {unmapped!r}; use one of "
            f"{sorted(UNMAPPED)}"
        )
    text = _to_text(values)
    lookup = {str(k): v for k, v in table.items()}
    mapped = text.map(lookup)
    missing = text.notna() & ~text.isin(list(lookup))
    if missing.any() and unmapped == "error":
        first: Any = missing.idxmax()
        found = sorted(text[missing].unique().tolist())
        raise MappingError(
            f"{_place(frame, first, spec.get('column'))}: value "
            f"{text.loc[first]!r} has "
            f"no entry in {where}.map (mapping {ctx.mapping_file}); unmapped values: "
            f"{found[:10]}; add them or set 'unmapped: keep' or 'unmapped: null'"
        )
    if unmapped == "keep":
        mapped = mapped.where(~missing, text)
    return mapped


# Converting to the contract's kinds


def _convert(
    frame: pd.DataFrame,
    values: pd.Series,
    kind: str,
    time_format: Any,
    where: str,
    ctx: _Context,
) -> pd.Series:
    if kind == "timestamp":
        return _parse_times(values, time_format, where, ctx, frame)
    if kind == "number":
        return _to_number(frame, values, where, ctx)
    if kind == "id":
        return _to_id(values)
    return _to_text(values)


def _to_id(values: pd.Series) -> pd.Series:
    """Id text; a whole number written as a float (``"12345.0"``) loses its ``.0``."""
    text = _to_text(values)
    return text.str.replace(r"^(-?\d+)\.0+$", r"\1", regex=True)


def _to_text(values: pd.Series) -> pd.Series:
    """Text, with whole floats written as integers (``12345.0`` -> ``"12345"``)."""
    if pd.api.types.is_bool_dtype(values):
        return values.astype("str")
    if pd.api.types.is_float_dtype(values):
        whole = values.isna() | (values == np.floor(values))
        if bool(whole.all()):
            return values.astype("Int64").astype("str")
    if pd.api.types.is_datetime64_any_dtype(values):
        stamps: pd.Series = values.dt.strftime("%Y-%m-%dT%H:%M:%S")
        return stamps.astype("str")
    return values.astype("str")


def _to_number(
    frame: pd.DataFrame, values: pd.Series, where: str, ctx: _Context
) -> pd.Series:
    if pd.api.types.is_bool_dtype(values):
        return values.astype("float64")
    numbers = pd.to_numeric(values, errors="coerce").astype("float64")
    _raise_on_unparsed(frame, values, numbers, "a number", where, ctx)
    return numbers


def _parse_times(
    values: pd.Series, time_format: Any, where: str, ctx: _Context, frame: pd.DataFrame
) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        return values
    fmt = None if time_format is None else str(time_format)
    codes, distinct = pd.factorize(_to_text(values))
    try:
        parsed = pd.to_datetime(pd.Series(distinct), format=fmt, errors="coerce")
    except ValueError:
        parsed = pd.to_datetime(
            pd.Series(distinct), format=fmt, errors="coerce", utc=True
        )
    # export logs repeat each timestamp many times: parse every distinct text once
    times = pd.Series(pd.NaT, index=values.index, dtype=parsed.dtype)
    known = codes >= 0
    times[known] = parsed.to_numpy()[codes[known]]
    _raise_on_unparsed(frame, values, times, "a timestamp", where, ctx, fmt)
    return times


def _raise_on_unparsed(
    frame: pd.DataFrame,
    values: pd.Series,
    parsed: pd.Series,
    what: str,
    where: str,
    ctx: _Context,
    time_format: str | None = None,
) -> None:
    bad = values.notna() & parsed.isna()
    if not bad.any():
        return
    first: Any = bad.idxmax()
    hint = f" with time_format {time_format!r}" if time_format else ""
    raise MappingError(
        f"{_place(frame, first, None)}: value {values.loc[first]!r} for {where} "
        f"(mapping "
        f"{ctx.mapping_file}) is not {what}{hint}; {int(bad.sum())} such value(s); "
        "fix the source column or the mapping (time_format, map, filter)"
    )


def _place(frame: pd.DataFrame, index: Any, column: Any) -> str:
    """``file, row N, column 'x'`` for a row of the concatenated source frame."""
    file = str(frame[_FILE].loc[index]) if _FILE in frame.columns else "source"
    row = int(frame[_ROW].loc[index]) + 1 if _ROW in frame.columns else None
    place = f"{file}, data row {row}" if row is not None else str(file)
    return f"{place}, column {column!r}" if column is not None else place


# Aggregation


def _aggregate(
    built: pd.DataFrame,
    spec: Any,
    columns: dict[str, Any],
    key: str,
    ctx: _Context,
) -> pd.DataFrame:
    _check_keys(spec, AGGREGATE_KEYS, ctx.mapping_file, key)
    by = _by_columns(spec.get("by"), built, key, ctx)
    reducers = _reducers(spec.get("columns") or {}, by, columns, key, ctx)
    order_by = spec.get("order_by")
    if order_by is not None:
        if order_by not in built.columns:
            raise MappingError(
                f"{ctx.mapping_file}: {key}.order_by: {order_by!r} is not a built "
                "column; order by a mapped or helper ('_name') column"
            )
        built = built.sort_values(order_by, kind="stable")

    keyed = built[by].notna().all(axis=1)
    grouped = built[keyed].groupby(by, sort=False)
    parts = {col: _reduce(grouped[col], how, col, key, ctx) for col, how in reducers}
    folded = pd.DataFrame(parts).reset_index()
    unkeyed = built.loc[~keyed, [*by, *parts]]
    if len(unkeyed):
        logger.info("%s: %d rows without a key passed on", key, len(unkeyed))
    return pd.concat([folded, unkeyed], ignore_index=True) if len(unkeyed) else folded


def _by_columns(by: Any, built: pd.DataFrame, key: str, ctx: _Context) -> list[str]:
    names = [by] if isinstance(by, str) else by
    if not isinstance(names, list) or not names:
        raise MappingError(
            f"{ctx.mapping_file}: {key}.by: name the column(s) that identify one "
            f"output row, e.g. 'by: deal_id', got {by!r}"
        )
    absent = [n for n in names if n not in built.columns]
    if absent:
        raise MappingError(
            f"{ctx.mapping_file}: {key}.by: {absent} are not mapped columns"
        )
    return [str(n) for n in names]


def _reducers(
    given: Any,
    by: Sequence[str],
    columns: dict[str, Any],
    key: str,
    ctx: _Context,
) -> list[tuple[str, str]]:
    if not isinstance(given, dict):
        raise MappingError(
            f"{ctx.mapping_file}: {key}.columns: expected {{column: reducer}}, "
            f"got {given!r}"
        )
    for column, how in given.items():
        if how not in REDUCERS:
            raise MappingError(
                f"{ctx.mapping_file}: {key}.columns.{column}: {how!r} is not a "
                f"reducer; use one of {sorted(REDUCERS)}"
            )
        if column not in columns or column in by:
            raise MappingError(
                f"{ctx.mapping_file}: {key}.columns.{column}: not a mapped column "
                "other than the 'by' key"
            )
    result: list[tuple[str, str]] = []
    for column, spec in columns.items():
        if column in by or column.startswith("_"):
            continue
        constant = isinstance(spec, dict) and "value" in spec
        if column not in given and not constant:
            raise MappingError(
                f"{ctx.mapping_file}: {key}.columns: give a reducer for {column!r} "
                f"(one of {sorted(REDUCERS)}), e.g. '{column}: first'"
            )
        result.append((column, str(given.get(column, "first"))))
    return result


def _reduce(group: Any, how: str, column: str, key: str, ctx: _Context) -> pd.Series:
    if how == "sum":
        result: pd.Series = group.sum(min_count=1)
        return result
    if how != "unique":
        result = getattr(group, how)()
        return result.astype("float64") if how == "count" else result
    distinct = group.nunique()
    if bool((distinct > 1).any()):
        first = distinct[distinct > 1].index[0]
        raise MappingError(
            f"{ctx.mapping_file}: {key}.columns.{column}: 'unique' but group "
            f"{first!r} has {int(distinct[first])} different values; choose a "
            "reducer such as 'first' or fix the export"
        )
    first_values: pd.Series = group.first()
    return first_values
