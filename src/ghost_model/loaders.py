"""Read a dataset from files and apply the data contract.

A dataset is either

* a folder holding ``dataset.yaml`` and one file per contract table, named after the
  table: ``deals.csv`` or ``deals.parquet`` (``.csv.gz`` also works). Only ``deals`` is
  required; a table present as both CSV and Parquet is an error. A ``dataset.yaml`` with
  a ``mapping`` key describes a real export instead and is read through
  :func:`ghost_model.mapping.load_mapped_dataset`; or
* a DuckDB database file (``.duckdb``, ``.ddb`` or ``.db``) whose tables carry the
  contract names. Its time zone and extract time come from a one-row table ``dataset``
  (columns ``timezone``, ``extract_time``, optionally ``name``) in the database or,
  failing that, from the ``dataset.yaml`` beside the file.

CSV files are read as UTF-8 text (a byte-order mark is fine), every column as text, and
only an empty field is missing (``NA`` or ``null`` are values). Other files and tables
are ignored with a warning naming them, except hidden files, the ``quarantine`` folder
and ``truth.csv`` (the synthetic ecosystem's ground truth).

:func:`validate_tables` (re-exported from :mod:`ghost_model.validation`) applies the
contract to frames that come from elsewhere.
"""

from __future__ import annotations

import logging
import time
import zlib
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from ghost_model.contract import TABLES
from ghost_model.dataset import DATASET_FILE, Dataset, DatasetConfig
from ghost_model.errors import DataContractError, GhostModelError
from ghost_model.validation import (
    Origin,
    check_quarantine_dir,
    check_tables,
    validate_tables,
)

__all__ = [
    "dataset_files",
    "load_dataset",
    "read_duckdb",
    "read_folder",
    "validate_tables",
]

log = logging.getLogger(__name__)

TABLE_SUFFIXES: dict[str, str] = {
    ".csv": "csv",
    ".csv.gz": "csv",
    ".parquet": "parquet",
}
DUCKDB_SUFFIXES = (".duckdb", ".ddb", ".db")
QUARANTINE_DIR = "quarantine"
KNOWN_FILES = frozenset({DATASET_FILE, "truth.csv"})
METADATA_TABLE = "dataset"

RawTables = tuple[DatasetConfig, dict[str, pd.DataFrame], dict[str, Origin]]


def load_dataset(
    path: str | Path,
    *,
    quarantine: bool = False,
    quarantine_dir: str | Path | None = None,
) -> Dataset:
    """Read a dataset folder or DuckDB file and apply the data contract.

    Parameters
    ----------
    path
        A folder with ``dataset.yaml`` and CSV or Parquet tables, or a DuckDB file.
    quarantine
        Set rows that break a rule aside (with a reason each) instead of raising.
    quarantine_dir
        Where quarantined rows are written as ``<table>.csv``; default: a
        ``quarantine`` folder beside the tables. It may not be the data folder, the
        current folder or a file, nor hold table files ghost-model did not write
        there (see :func:`ghost_model.validation.check_quarantine_dir`).

    Returns
    -------
    Dataset
        The accepted rows in canonical dtypes, with ``row_counts`` per table.

    Raises
    ------
    DataContractError
        The path holds no dataset, a file cannot be read, a required table or column
        is missing, or (strict mode) a row breaks a rule.
    ConfigError
        The quarantine folder could overwrite or remove files ghost-model did not
        write (quarantine mode).
    """
    path = Path(path)
    started = time.perf_counter()
    is_database = path.is_file() and path.suffix.lower() in DUCKDB_SUFFIXES
    if not path.is_dir() and not is_database:
        raise DataContractError(
            f"{path}: not a dataset folder or a DuckDB file "
            f"({', '.join(DUCKDB_SUFFIXES)}); give a folder holding {DATASET_FILE} "
            "and deals.csv or deals.parquet"
        )
    folder = path.parent if is_database else path
    if quarantine_dir is None:
        quarantine_dir = folder / QUARANTINE_DIR
    if quarantine:
        inputs = dataset_files(path)
        quarantine_dir = check_quarantine_dir(quarantine_dir, inputs)
    quarantine_dir = Path(quarantine_dir)

    if path.is_dir() and _is_mapped(path):
        from ghost_model.mapping import load_mapped_dataset

        mapped = load_mapped_dataset(
            path, quarantine=quarantine, quarantine_dir=quarantine_dir
        )
        _warn_empty(mapped)
        return mapped
    config, raw, origins = read_duckdb(path) if is_database else read_folder(path)

    dataset = check_tables(
        raw,
        config,
        origins=origins,
        quarantine=quarantine,
        quarantine_dir=quarantine_dir,
    )
    dataset.source = str(path)
    _warn_empty(dataset)
    log.info(
        "loaded %s (%s) in %.1f s",
        path,
        ", ".join(dataset.tables),
        time.perf_counter() - started,
    )
    return dataset


def _warn_empty(dataset: Dataset) -> None:
    """Warn of an optional table without rows: its features count zero events for
    every partner, which a model reads as silence, not as data not recorded."""
    for name, frame in dataset.tables.items():
        if name != "deals" and frame.empty:
            counts = dataset.row_counts.get(name, {})
            log.warning(
                "%s: table %s has no rows (%d read, %d quarantined): its features "
                "count zero events for every partner; if %s are not recorded, leave "
                "the table out and its features are left out too",
                dataset.source,
                name,
                counts.get("read", 0),
                counts.get("quarantined", 0),
                name.replace("_", " "),
            )


def read_folder(folder: Path) -> RawTables:
    """Read ``dataset.yaml`` and every table file of a dataset folder.

    Parameters
    ----------
    folder
        The dataset folder.

    Returns
    -------
    tuple
        The configuration, the raw frames by table name and where each came from.
    """
    config = DatasetConfig.from_file(folder / DATASET_FILE)
    files = _table_files(folder)
    raw = {name: _read_file(path) for name, path in files.items()}
    origins = {
        name: Origin(path.name, csv=TABLE_SUFFIXES[_suffix(path)] == "csv")
        for name, path in files.items()
    }
    return config, raw, origins


def read_duckdb(path: Path) -> RawTables:
    """Read the contract tables of a DuckDB database file.

    Parameters
    ----------
    path
        The database file; it is opened read-only.

    Returns
    -------
    tuple
        The configuration, the raw frames by table name and where each came from.
    """
    import duckdb

    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise DataContractError(
            f"{path}: not a readable DuckDB database: {exc}"
        ) from exc
    try:
        names = [
            str(row[0])
            for row in con.execute(
                "select table_name from information_schema.tables "
                "where table_schema = 'main' order by table_name"
            ).fetchall()
        ]
        config = _duckdb_config(con, path, names)
        _warn_unknown(
            path, [n for n in names if n not in TABLES and n != METADATA_TABLE]
        )
        raw = {
            name: con.execute(f'select * from "{name}"').df()
            for name in names
            if name in TABLES
        }
    finally:
        con.close()
    origins = {name: Origin(f"{path.name}:{name}") for name in raw}
    return config, raw, origins


def _duckdb_config(con: Any, path: Path, names: list[str]) -> DatasetConfig:
    """The ``dataset`` table's one row, or else the ``dataset.yaml`` beside the file."""
    if METADATA_TABLE not in names:
        return DatasetConfig.from_file(path.parent / DATASET_FILE)
    rows = con.execute(f'select * from "{METADATA_TABLE}"').df()
    if len(rows) != 1:
        raise DataContractError(
            f"{path.name}:{METADATA_TABLE}: expected one row (timezone, extract_time), "
            f"got {len(rows)}"
        )
    settings = {str(k): v for k, v in rows.iloc[0].items() if not pd.isna(v)}
    settings.setdefault("name", path.stem)
    return DatasetConfig.from_mapping(settings, source=f"{path}:{METADATA_TABLE}")


def dataset_files(path: str | Path) -> set[Path]:
    """The resolved paths of the files a dataset at ``path`` is read from.

    A DuckDB file is its own one file. In a folder, every file that
    :func:`belongs_to_dataset` names. Commands use it to refuse writing over their
    input.
    """
    path = Path(path).resolve()
    if path.is_file():
        return {path}
    if not path.is_dir():
        return set()
    mapped = is_mapped_folder(path)
    return {
        file.resolve()
        for file in path.iterdir()
        if file.is_file() and belongs_to_dataset(file.name, mapped=mapped)
    }


def belongs_to_dataset(name: str, *, mapped: bool) -> bool:
    """Whether a file called ``name`` in a dataset folder is part of the dataset.

    That is ``dataset.yaml`` and any YAML (a column mapping), the simulator's
    ``truth.csv``, and every file a load would read as a table: one named after a
    contract table with a table suffix in any case (``deals.CSV``), or, in a mapped
    export (``mapped``), whose tables may carry any name, any file with a table
    suffix. A file that does not exist yet counts too: writing it would change
    what the next load reads.
    """
    suffix = _suffix(Path(name))
    table = name[: -len(suffix)] if suffix else ""
    return (
        table in TABLES
        or name in KNOWN_FILES
        or name.lower().endswith((".yaml", ".yml"))
        or (mapped and bool(suffix))
    )


def is_mapped_folder(folder: Path) -> bool:
    """Whether ``folder`` is a mapped export; a broken or missing ``dataset.yaml``
    reads as not mapped (loading the dataset reports the broken file itself)."""
    try:
        return _is_mapped(folder)
    except GhostModelError:
        return False


def _is_mapped(folder: Path) -> bool:
    """Whether the folder's ``dataset.yaml`` describes an export through a mapping."""
    config_file = folder / DATASET_FILE
    return (
        config_file.is_file()
        and DatasetConfig.from_file(config_file).mapping is not None
    )


def _table_files(folder: Path) -> dict[str, Path]:
    """Table name to file; unknown files are named in a warning."""
    files: dict[str, Path] = {}
    unknown: list[str] = []
    for path in sorted(folder.iterdir()):
        name = path.name
        if name.startswith(".") or name in KNOWN_FILES or name == QUARANTINE_DIR:
            continue
        suffix = _suffix(path)
        table = name[: -len(suffix)] if suffix else ""
        if path.is_dir() or table not in TABLES:
            unknown.append(name + ("/" if path.is_dir() else ""))
            continue
        if table in files:
            raise DataContractError(
                f"{folder}: table {table!r} is given twice, as {files[table].name} and "
                f"{name}; keep one of them"
            )
        files[table] = path
    _warn_unknown(folder, unknown)
    if "deals" not in files:
        found = sorted(p.name for p in folder.iterdir())
        raise DataContractError(
            f"{folder}: no deals.csv or deals.parquet; 'deals' is the one table the "
            f"contract requires (files found: {found})"
        )
    return files


def _read_file(path: Path) -> pd.DataFrame:
    """Read one table file: CSV as text columns, Parquet as typed columns."""
    try:
        if TABLE_SUFFIXES[_suffix(path)] == "parquet":
            return pd.read_parquet(path)
        return _read_csv(path)
    except UnicodeDecodeError as exc:
        raise DataContractError(
            f"{path.name}: not UTF-8 text ({exc.reason} at byte {exc.start}); "
            "save the export as UTF-8 (e.g. from Shift_JIS / cp932)"
        ) from exc
    except (EOFError, zlib.error) as exc:
        raise DataContractError(
            f"{path.name}: cannot be read, the compressed data is cut short or "
            f"damaged ({exc}); copy or download the file again"
        ) from exc
    except (ValueError, OSError, pa.ArrowException) as exc:
        raise DataContractError(
            f"{path.name}: cannot be read: {str(exc).strip()}"
        ) from exc


def _read_csv(path: Path) -> pd.DataFrame:
    """Every column as text; only an empty field is missing.

    Arrow's reader is several times faster; files it refuses (a line break inside a
    quoted field, bytes that are not UTF-8) are read again by pandas' own parser,
    whose errors name the line.
    """
    options: dict[str, Any] = {
        "dtype": "str",
        "keep_default_na": False,
        "na_values": [""],
        "encoding": "utf-8-sig",
    }
    _check_header(path)
    try:
        frame: pd.DataFrame = pd.read_csv(path, engine="pyarrow", **options)
    except (pa.ArrowException, ValueError, UnicodeDecodeError) as exc:
        log.debug("%s: Arrow's CSV reader refused it (%s); using pandas'", path, exc)
        frame = pd.read_csv(path, **options)
    return frame


def _check_header(path: Path) -> None:
    """Refuse a header naming one column twice (pandas would rename it ``x.1``)."""
    header = pd.read_csv(
        path, header=None, nrows=1, dtype="str", na_filter=False, encoding="utf-8-sig"
    )
    names = [str(name).strip() for name in header.iloc[0]] if len(header) else []
    repeated = sorted({name for name in names if name and names.count(name) > 1})
    if repeated:
        places = "; ".join(
            f"{name!r} in columns "
            + ", ".join(str(i + 1) for i, n in enumerate(names) if n == name)
            for name in repeated
        )
        raise DataContractError(
            f"{path.name}: the header names a column more than once ({places}); "
            "keep one column per name"
        )


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return next((s for s in TABLE_SUFFIXES if name.endswith(s)), "")


def _warn_unknown(where: Path, names: list[str]) -> None:
    if names:
        log.warning(
            "%s: ignoring %s not in the data contract: %s (tables: %s)",
            where,
            "entries" if len(names) > 1 else "entry",
            ", ".join(repr(n) for n in names),
            ", ".join(TABLES),
        )
